//! Sign, Verify, GetPublicKey, GenerateMac and VerifyMac: the private or secret half works
//! in the token; messages are hashed here (hashing needs no secret).

use std::sync::Arc;

use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};
use uuid::Uuid;

use super::{mac_hash, material, sign_scheme, signing_algorithms, Material};
use crate::hsm::Hash;
use crate::kms::crypto::dry_run_stop;
use crate::kms::model::{Key, MacAlgorithm, MaterialState, MessageType, SigningAlgorithm};
use crate::kms::rules::Op;
use crate::kms::{Action, Caller, ErrorKind, Kms, KmsError};

/// Result of Sign or GenerateMac.
pub struct Signed {
    /// The key used.
    pub key: Arc<Key>,
    /// Its material version.
    pub material_id: Uuid,
    /// The signature (DER for ECDSA) or the MAC.
    pub bytes: Vec<u8>,
}

/// Result of GetPublicKey, or of a Verify or VerifyMac that found the signature valid.
pub struct Verified {
    /// The key used.
    pub key: Arc<Key>,
    /// Its material version.
    pub material_id: Uuid,
}

/// What is signed or checked: the message or its digest, and the algorithm.
pub struct ToSign<'a> {
    /// The Message member.
    pub message: &'a [u8],
    /// RAW or DIGEST.
    pub message_type: MessageType,
    /// The SigningAlgorithm member.
    pub algorithm: SigningAlgorithm,
}

pub(in crate::kms) fn digest(hash: Hash, message: &[u8]) -> Vec<u8> {
    match hash {
        Hash::Sha224 => Sha224::digest(message).to_vec(),
        Hash::Sha256 => Sha256::digest(message).to_vec(),
        Hash::Sha384 => Sha384::digest(message).to_vec(),
        Hash::Sha512 => Sha512::digest(message).to_vec(),
    }
}

/// The digest the token signs: the message hashed, or the caller's digest if its length is
/// the algorithm's.
fn digest_to_sign(input: &ToSign<'_>) -> Result<Vec<u8>, KmsError> {
    let hash = super::signing_hash(input.algorithm);
    match input.message_type {
        MessageType::Raw => Ok(digest(hash, input.message)),
        MessageType::Digest if input.message.len() == hash.digest_len() => {
            Ok(input.message.to_vec())
        }
        MessageType::Digest => Err(KmsError::new(
            ErrorKind::Validation,
            format!(
                "Digest is invalid length for algorithm {}.",
                input.algorithm.as_str()
            ),
        )),
    }
}

fn incompatible(algorithm: &str, key: &Key) -> KmsError {
    KmsError::new(
        ErrorKind::InvalidKeyUsage,
        format!(
            "Algorithm {algorithm} is incompatible with key spec {}.",
            key.spec.as_str()
        ),
    )
}

impl Kms {
    /// Sign, once `caller` may.
    pub async fn sign(
        &self,
        caller: &Caller,
        key_id: &str,
        input: ToSign<'_>,
        dry_run: bool,
    ) -> Result<Signed, KmsError> {
        let (key, material_id, scheme, digest) = self
            .signing_key(caller, key_id, &input, ("Sign", Op::Sign))
            .await?;
        dry_run_stop(dry_run)?;
        let bytes = self
            .hsm
            .sign_digest(material_id, scheme, digest)
            .await
            .map_err(|e| KmsError::from_hsm(e, &self.arn(&key)))?;
        Ok(Signed {
            key,
            material_id,
            bytes,
        })
    }

    /// Verify, once `caller` may: KMSInvalidSignatureException unless the signature holds.
    pub async fn verify(
        &self,
        caller: &Caller,
        key_id: &str,
        input: ToSign<'_>,
        signature: &[u8],
        dry_run: bool,
    ) -> Result<Verified, KmsError> {
        let (key, material_id, scheme, digest) = self
            .signing_key(caller, key_id, &input, ("Verify", Op::Verify))
            .await?;
        dry_run_stop(dry_run)?;
        let valid = self
            .hsm
            .verify_digest(material_id, scheme, digest, signature.to_vec())
            .await
            .map_err(|e| KmsError::from_hsm(e, &self.arn(&key)))?;
        if !valid {
            return Err(KmsError::new(ErrorKind::InvalidSignature, ""));
        }
        Ok(Verified { key, material_id })
    }

    /// GetPublicKey, once `caller` may: the DER SubjectPublicKeyInfo, read from the token.
    pub async fn get_public_key(
        &self,
        caller: &Caller,
        key_id: &str,
    ) -> Result<(Verified, Vec<u8>), KmsError> {
        let key = self
            .authorized(caller, key_id, Action::plain("GetPublicKey"))
            .await?;
        self.check(Op::GetPublicKey, &key)?;
        let material_id = self.enabled_material(&key)?;
        let der = self
            .hsm
            .public_key(material_id)
            .await
            .map_err(|e| KmsError::from_hsm(e, &self.arn(&key)))?;
        Ok((Verified { key, material_id }, der))
    }

    /// GenerateMac, once `caller` may.
    pub async fn generate_mac(
        &self,
        caller: &Caller,
        key_id: &str,
        message: &[u8],
        algorithm: MacAlgorithm,
        dry_run: bool,
    ) -> Result<Signed, KmsError> {
        let (key, material_id) = self
            .mac_key(caller, key_id, algorithm, ("GenerateMac", Op::GenerateMac))
            .await?;
        dry_run_stop(dry_run)?;
        let bytes = self
            .hsm
            .key_mac(material_id, mac_hash(algorithm), message.to_vec())
            .await
            .map_err(|e| KmsError::from_hsm(e, &self.arn(&key)))?;
        Ok(Signed {
            key,
            material_id,
            bytes,
        })
    }

    /// VerifyMac, once `caller` may: KMSInvalidMacException unless the MAC holds.
    pub async fn verify_mac(
        &self,
        caller: &Caller,
        key_id: &str,
        (message, mac): (&[u8], &[u8]),
        algorithm: MacAlgorithm,
        dry_run: bool,
    ) -> Result<Verified, KmsError> {
        let (key, material_id) = self
            .mac_key(caller, key_id, algorithm, ("VerifyMac", Op::VerifyMac))
            .await?;
        dry_run_stop(dry_run)?;
        let valid = self
            .hsm
            .verify_key_mac(
                material_id,
                mac_hash(algorithm),
                message.to_vec(),
                mac.to_vec(),
            )
            .await
            .map_err(|e| KmsError::from_hsm(e, &self.arn(&key)))?;
        if !valid {
            return Err(KmsError::new(ErrorKind::InvalidMac, ""));
        }
        Ok(Verified { key, material_id })
    }

    /// The signing key named, checked for `op`, with its material, the token scheme for the
    /// algorithm and the digest to sign.
    async fn signing_key(
        &self,
        caller: &Caller,
        key_id: &str,
        input: &ToSign<'_>,
        (name, op): (&'static str, Op),
    ) -> Result<(Arc<Key>, Uuid, crate::hsm::SignScheme, Vec<u8>), KmsError> {
        let key = self.authorized(caller, key_id, Action::plain(name)).await?;
        super::usage::permits(op, &key, &self.arn(&key))?;
        let Material::Pair(kind) = material(key.spec) else {
            return Err(incompatible(input.algorithm.as_str(), &key));
        };
        if !signing_algorithms(key.spec, key.usage).contains(&input.algorithm) {
            return Err(incompatible(input.algorithm.as_str(), &key));
        }
        let digest = digest_to_sign(input)?;
        self.check(op, &key)?;
        let material_id = self.enabled_material(&key)?;
        Ok((key, material_id, sign_scheme(kind, input.algorithm), digest))
    }

    /// The HMAC key named, checked for `op` and `algorithm`, with its material.
    async fn mac_key(
        &self,
        caller: &Caller,
        key_id: &str,
        algorithm: MacAlgorithm,
        (name, op): (&'static str, Op),
    ) -> Result<(Arc<Key>, Uuid), KmsError> {
        let key = self.authorized(caller, key_id, Action::plain(name)).await?;
        super::usage::permits(op, &key, &self.arn(&key))?;
        if !super::mac_algorithms(key.spec).contains(&algorithm) {
            return Err(incompatible(algorithm.as_str(), &key));
        }
        self.check(op, &key)?;
        let material_id = self.enabled_material(&key)?;
        Ok((key, material_id))
    }

    /// The key's current material version, which must be enabled.
    pub(in crate::kms) fn enabled_material(&self, key: &Key) -> Result<Uuid, KmsError> {
        key.current_material
            .and_then(|id| key.material(id))
            .filter(|m| m.state == MaterialState::Enabled)
            .map(|m| m.id)
            .ok_or_else(|| {
                KmsError::new(
                    ErrorKind::InvalidState,
                    format!("{} has no enabled key material.", self.arn(key)),
                )
            })
    }
}
