//! GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext: a key pair made in the
//! token for use outside it, its private key sealed exactly as GenerateDataKey seals a data
//! key (same envelope, the encryption context bound as AAD), so Decrypt returns its PKCS#8.

use std::sync::Arc;

use uuid::Uuid;
use zeroize::Zeroizing;

use super::asym::{self, Material};
use super::ciphertext::{aad, EncryptionContext, Envelope};
use super::crypto::dry_run_stop;
use super::model::{EncryptionAlgorithm, Key, KeySpec};
use super::rules::Op;
use super::{Action, Caller, Kms, KmsError};
use crate::hsm::PairKind;

/// A KeyPairSpec we generate: an RSA or ECC key spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairSpec {
    /// The spec, named as KeyPairSpec names it (the same names as KeySpec).
    pub spec: KeySpec,
    kind: PairKind,
}

impl PairSpec {
    /// The KeyPairSpec `text`, if it is one we generate.
    pub fn parse(text: &str) -> Option<PairSpec> {
        let spec = KeySpec::parse(text)?;
        match asym::material(spec) {
            Material::Pair(kind) => Some(PairSpec { spec, kind }),
            Material::Aes | Material::Hmac(..) => None,
        }
    }
}

/// Result of GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext.
pub struct DataKeyPair {
    /// The key that encrypted the private key.
    pub key: Arc<Key>,
    /// Its material version.
    pub material_id: Uuid,
    /// The private key as DER PKCS#8, wiped when dropped.
    pub private_key: Zeroizing<Vec<u8>>,
    /// The public key as a DER SubjectPublicKeyInfo.
    pub public_key: Vec<u8>,
    /// The private key encrypted under `key`.
    pub blob: Vec<u8>,
}

impl Kms {
    /// GenerateDataKeyPair (and, dropping the plaintext, its WithoutPlaintext twin: `op`
    /// says which), once `caller` may.
    pub async fn generate_data_key_pair(
        &self,
        caller: &Caller,
        key_id: &str,
        spec: PairSpec,
        context: &EncryptionContext,
        (op, dry_run): (Op, bool),
    ) -> Result<DataKeyPair, KmsError> {
        let action = Action::with_context(asym::usage::operation_name(op), context);
        let algorithm = EncryptionAlgorithm::SymmetricDefault;
        let (key, material_id) = self
            .encrypting_key(caller, key_id, action, op, algorithm)
            .await?;
        dry_run_stop(dry_run)?;
        // An RSA generation holds a token session for up to seconds: throttled, not queued.
        let _generating = match spec.kind {
            PairKind::Rsa(_) => Some(self.generation_slot()?),
            PairKind::Ec(_) => None,
        };
        self.spend_encryption(&key, material_id).await?;
        let pair = self
            .hsm
            .generate_data_key_pair(material_id, aad(key.id, material_id, context), spec.kind)
            .await
            .map_err(|e| KmsError::from_hsm(e, &self.arn(&key)))?;
        let blob = Envelope {
            key_id: key.id,
            material_id,
            sealed: pair.sealed,
        }
        .to_bytes();
        Ok(DataKeyPair {
            key,
            material_id,
            private_key: pair.private_key,
            public_key: pair.public_key,
            blob,
        })
    }
}
