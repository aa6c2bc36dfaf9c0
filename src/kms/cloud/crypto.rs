//! Encrypt and Decrypt with a crypto key's versions, and random bytes. The ciphertext is
//! our envelope; the additional authenticated data is bound as the encryption context
//! `{"cloudkms:aad": <base64 of the AAD>}` (none when empty), so a ciphertext made through
//! one API decrypts through the other with the matching context.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use zeroize::Zeroizing;

use super::resources::admitted;
use super::rules::{self, Outcome, VersionOp};
use super::versions::refused;
use super::{invalid, precondition, Name};
use crate::kms::ciphertext::{aad, EncryptionContext, Envelope};
use crate::kms::model::{EncryptionAlgorithm, Key, Material};
use crate::kms::rules::KeyState;
use crate::kms::{Caller, ErrorKind, Kms, KmsError};

/// The context key that carries Cloud KMS additional authenticated data.
pub const AAD_CONTEXT_KEY: &str = "cloudkms:aad";

/// Result of Encrypt.
pub struct Encrypted {
    /// The version used.
    pub version: String,
    /// The ciphertext.
    pub ciphertext: Vec<u8>,
}

/// Result of Decrypt.
pub struct Decrypted {
    /// The plaintext, wiped when dropped.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// Whether the primary version decrypted it.
    pub used_primary: bool,
}

fn context_of(additional: &[u8]) -> EncryptionContext {
    let mut context = EncryptionContext::new();
    if !additional.is_empty() {
        context.insert(AAD_CONTEXT_KEY.to_owned(), STANDARD.encode(additional));
    }
    context
}

impl Kms {
    /// Encrypt with the primary version of the crypto key `name` (or the version named).
    pub async fn cloud_encrypt(
        &self,
        caller: &Caller,
        name: &str,
        plaintext: Zeroizing<Vec<u8>>,
        additional: &[u8],
    ) -> Result<Encrypted, KmsError> {
        admitted(caller)?;
        let (key, crypto, material) = match Name::parse(name).and_then(|n| n.version) {
            Some(_) => self.version(name)?,
            None => {
                let parsed = Name::parse(name).ok_or_else(|| invalid("Invalid resource name."))?;
                let (key, crypto) = self.crypto_key(&parsed)?;
                let primary = key.current_material.and_then(|m| key.material(m)).cloned();
                let primary = primary
                    .ok_or_else(|| precondition(format!("{name} has no primary version.")))?;
                (key, crypto, primary)
            }
        };
        if crypto.purpose != "ENCRYPT_DECRYPT" {
            return Err(wrong_purpose(name, &crypto.purpose));
        }
        let version = self.usable(&key, &crypto.name, &material)?;
        let context = context_of(additional);
        let symmetric = (&context, EncryptionAlgorithm::SymmetricDefault);
        let ciphertext = self.seal(&key, material.id, symmetric, plaintext).await?;
        Ok(Encrypted {
            version,
            ciphertext,
        })
    }

    /// Decrypt with whichever enabled version of `name` made the ciphertext.
    pub async fn cloud_decrypt(
        &self,
        caller: &Caller,
        name: &str,
        ciphertext: &[u8],
        additional: &[u8],
    ) -> Result<Decrypted, KmsError> {
        admitted(caller)?;
        let parsed = Name::parse(name).filter(|n| n.version.is_none());
        let parsed = parsed.ok_or_else(|| invalid("Decrypt takes a crypto key name."))?;
        let (key, crypto) = self.crypto_key(&parsed)?;
        if crypto.purpose != "ENCRYPT_DECRYPT" {
            return Err(wrong_purpose(name, &crypto.purpose));
        }
        let envelope = Envelope::parse(ciphertext).map_err(|_| bad_ciphertext())?;
        if envelope.key_id != key.id {
            return Err(bad_ciphertext());
        }
        let material = key
            .material(envelope.material_id)
            .cloned()
            .ok_or_else(bad_ciphertext)?;
        self.usable(&key, &crypto.name, &material)?;
        let material_id = material.id;
        let bound = aad(key.id, material_id, &context_of(additional));
        let plaintext = self
            .hsm
            .decrypt(material_id, bound, envelope.sealed)
            .await
            .map_err(|e| match KmsError::from_hsm(e, &crypto.name) {
                e if e.kind == ErrorKind::InvalidCiphertext => bad_ciphertext(),
                e => e,
            })?;
        Ok(Decrypted {
            plaintext,
            used_primary: key.current_material == Some(material_id),
        })
    }

    /// GenerateRandomBytes, from the token.
    pub async fn cloud_random(
        &self,
        caller: &Caller,
        len: usize,
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        admitted(caller)?;
        self.generate_random(len).await
    }

    /// The version's name once the version state (seed 004) and the key's AWS state allow
    /// its use.
    pub(super) fn usable(
        &self,
        key: &Arc<Key>,
        crypto_name: &str,
        material: &Material,
    ) -> Result<String, KmsError> {
        let number = super::resources::version_number(key, material.id).unwrap_or(0);
        let version = format!("{crypto_name}/cryptoKeyVersions/{number}");
        if rules::outcome(VersionOp::Use, material.state) == Outcome::Refused {
            return Err(refused(&version, VersionOp::Use, material.state));
        }
        let state = self.state_of(key);
        if state != KeyState::Enabled {
            return Err(precondition(format!(
                "{crypto_name} cannot be used: its key is {} through the AWS KMS API.",
                state.as_str()
            )));
        }
        Ok(version)
    }
}

fn wrong_purpose(name: &str, purpose: &str) -> KmsError {
    invalid(format!(
        "{name} has purpose {purpose}, which does not allow this operation."
    ))
}

fn bad_ciphertext() -> KmsError {
    invalid("Decryption failed: the ciphertext is invalid.")
}
