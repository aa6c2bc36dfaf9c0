//! DeriveSharedSecret: ECDH between the private half of a KEY_AGREEMENT key pair, in the
//! token, and a peer's public key on the same curve.

use std::sync::Arc;

use uuid::Uuid;
use zeroize::Zeroizing;

use super::{material, Material};
use crate::hsm::{PairKind, PeerPoint};
use crate::kms::crypto::dry_run_stop;
use crate::kms::model::Key;
use crate::kms::rules::Op;
use crate::kms::{Action, Caller, ErrorKind, Kms, KmsError};

/// Result of DeriveSharedSecret.
pub struct Shared {
    /// The key used.
    pub key: Arc<Key>,
    /// Its material version.
    pub material_id: Uuid,
    /// The raw shared secret, wiped when dropped.
    pub secret: Zeroizing<Vec<u8>>,
}

/// A peer key that is malformed, on another curve, or not a point of the curve: AWS answers
/// these with a ValidationException that carries no message.
fn bad_peer_key() -> KmsError {
    KmsError::new(ErrorKind::Validation, "")
}

impl Kms {
    /// DeriveSharedSecret, once `caller` may, with the peer's DER SubjectPublicKeyInfo.
    pub async fn derive_shared_secret(
        &self,
        caller: &Caller,
        key_id: &str,
        peer_public_key: &[u8],
        dry_run: bool,
    ) -> Result<Shared, KmsError> {
        let action = Action::plain("DeriveSharedSecret");
        let key = self.authorized(caller, key_id, action).await?;
        self.check(Op::DeriveSharedSecret, &key)?;
        let Material::Pair(PairKind::Ec(curve)) = material(key.spec) else {
            return Err(KmsError::internal(
                "a KEY_AGREEMENT key that is not an EC key pair",
            ));
        };
        let material_id = self.enabled_material(&key)?;
        let peer = PeerPoint::from_spki(peer_public_key, curve).ok_or_else(bad_peer_key)?;
        dry_run_stop(dry_run)?;
        let secret = self
            .hsm
            .derive_shared_secret(material_id, peer)
            .await
            .map_err(|e| KmsError::from_hsm(e, &self.arn(&key)))?
            .ok_or_else(bad_peer_key)?;
        Ok(Shared {
            key,
            material_id,
            secret,
        })
    }
}
