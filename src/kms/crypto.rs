//! Encrypt, Decrypt, ReEncrypt, GenerateDataKey: AES-GCM inside the token, the encryption
//! context bound as AAD.

use std::sync::Arc;

use uuid::Uuid;
use zeroize::Zeroizing;

use super::asym;
use super::ciphertext::{aad, EncryptionContext, Envelope};
use super::model::{EncryptionAlgorithm, Key, KeySpec, KeyUsage, MaterialState};
use super::rules::Op;
use super::{Action, Caller, ErrorKind, Kms, KmsError};
use crate::hsm::HsmError;

/// Result of Encrypt.
pub struct Encrypted {
    /// The key used.
    pub key: Arc<Key>,
    /// The material version used.
    pub material_id: Uuid,
    /// The ciphertext blob.
    pub blob: Vec<u8>,
}

/// Result of Decrypt.
pub struct Decrypted {
    /// The key that made the blob.
    pub key: Arc<Key>,
    /// The material version that made the blob.
    pub material_id: Uuid,
    /// The plaintext, wiped when dropped.
    pub plaintext: Zeroizing<Vec<u8>>,
}

/// Result of ReEncrypt.
pub struct ReEncrypted {
    /// The key that made the source blob, and its material version.
    pub source: (Arc<Key>, Uuid),
    /// The key that made the new blob, and its material version.
    pub destination: (Arc<Key>, Uuid),
    /// The new ciphertext blob.
    pub blob: Vec<u8>,
}

/// Result of GenerateDataKey and GenerateDataKeyWithoutPlaintext.
pub struct DataKey {
    /// The key that encrypted the data key.
    pub key: Arc<Key>,
    /// Its material version.
    pub material_id: Uuid,
    /// The data key in plaintext, wiped when dropped.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The data key encrypted under `key`.
    pub blob: Vec<u8>,
}

/// One side of a ReEncrypt: which key, under what context, with which algorithm.
pub struct ReEncryptSide<'a, K> {
    /// The key named (optional on the source side: the blob names it).
    pub key_id: K,
    /// The encryption context.
    pub context: &'a EncryptionContext,
    /// The encryption algorithm.
    pub algorithm: EncryptionAlgorithm,
}

/// The algorithm must be one the key lists; AWS checks this before the key state. Keys of
/// another usage are refused by the usage rules instead.
fn check_algorithm(key: &Key, algorithm: EncryptionAlgorithm) -> Result<(), KmsError> {
    if key.usage != KeyUsage::EncryptDecrypt {
        return Ok(());
    }
    let listed = asym::encryption_algorithms(key.spec, key.usage).contains(&algorithm);
    if listed && key.spec == KeySpec::SymmetricDefault {
        return Ok(());
    }
    if listed {
        return Err(KmsError::new(
            ErrorKind::UnsupportedOperation,
            format!(
                "{} encryption with {} keys is not supported.",
                algorithm.as_str(),
                key.spec.as_str()
            ),
        ));
    }
    Err(KmsError::new(
        ErrorKind::InvalidKeyUsage,
        format!(
            "Algorithm {} is incompatible with key spec {}.",
            algorithm.as_str(),
            key.spec.as_str()
        ),
    ))
}

/// An operation's `DryRun` flag: stop after every check passed.
pub(super) fn dry_run_stop(dry_run: bool) -> Result<(), KmsError> {
    if dry_run {
        return Err(KmsError::new(
            ErrorKind::DryRunOperation,
            "The request would have succeeded, but the DryRun option is set.",
        ));
    }
    Ok(())
}

impl Kms {
    /// Encrypt, once `caller` may.
    pub async fn encrypt(
        &self,
        caller: &Caller,
        key_id: &str,
        plaintext: Zeroizing<Vec<u8>>,
        context: &EncryptionContext,
        algorithm: EncryptionAlgorithm,
        dry_run: bool,
    ) -> Result<Encrypted, KmsError> {
        let action = Action::with_context("Encrypt", context);
        let (key, material_id) = self
            .encrypting_key(caller, key_id, action, Op::Encrypt, algorithm)
            .await?;
        dry_run_stop(dry_run)?;
        self.spend_encryption(&key, material_id).await?;
        let sealed = self
            .hsm
            .encrypt(material_id, aad(key.id, material_id, context), plaintext)
            .await
            .map_err(|e| self.token_error(e, &key))?;
        let blob = Envelope {
            key_id: key.id,
            material_id,
            sealed,
        }
        .to_bytes();
        Ok(Encrypted {
            key,
            material_id,
            blob,
        })
    }

    /// Decrypt, once `caller` may. `key_id`, when given, must name the key that made the
    /// blob.
    pub async fn decrypt(
        &self,
        caller: &Caller,
        blob: &[u8],
        key_id: Option<&str>,
        context: &EncryptionContext,
        algorithm: EncryptionAlgorithm,
        dry_run: bool,
    ) -> Result<Decrypted, KmsError> {
        let action = Action::with_context("Decrypt", context);
        let (key, envelope) = self
            .decrypting_key(caller, (blob, key_id), action, Op::Decrypt, algorithm)
            .await?;
        dry_run_stop(dry_run)?;
        let material_id = envelope.material_id;
        let plaintext = self
            .hsm
            .decrypt(
                material_id,
                aad(key.id, material_id, context),
                envelope.sealed,
            )
            .await
            .map_err(|e| self.token_error(e, &key))?;
        Ok(Decrypted {
            key,
            material_id,
            plaintext,
        })
    }

    /// ReEncrypt, once `caller` may on both keys: decrypt and encrypt again in one token
    /// call.
    pub async fn re_encrypt(
        &self,
        caller: &Caller,
        blob: &[u8],
        source: ReEncryptSide<'_, Option<&str>>,
        destination: ReEncryptSide<'_, &str>,
        dry_run: bool,
    ) -> Result<ReEncrypted, KmsError> {
        let from = Action::with_context("ReEncryptFrom", source.context);
        let (from_key, envelope) = self
            .decrypting_key(
                caller,
                (blob, source.key_id),
                from,
                Op::ReEncryptFrom,
                source.algorithm,
            )
            .await?;
        let to = Action::with_context("ReEncryptTo", destination.context);
        let (to_key, to_material) = self
            .encrypting_key(
                caller,
                destination.key_id,
                to,
                Op::ReEncryptTo,
                destination.algorithm,
            )
            .await?;
        dry_run_stop(dry_run)?;
        self.spend_encryption(&to_key, to_material).await?;
        let from_material = envelope.material_id;
        let sealed = self
            .hsm
            .reencrypt(
                (
                    from_material,
                    aad(from_key.id, from_material, source.context),
                    envelope.sealed,
                ),
                (
                    to_material,
                    aad(to_key.id, to_material, destination.context),
                ),
            )
            .await
            .map_err(|e| self.token_error(e, &to_key))?;
        let blob = Envelope {
            key_id: to_key.id,
            material_id: to_material,
            sealed,
        }
        .to_bytes();
        Ok(ReEncrypted {
            source: (from_key, from_material),
            destination: (to_key, to_material),
            blob,
        })
    }

    /// GenerateDataKey (and, dropping the plaintext, GenerateDataKeyWithoutPlaintext), once
    /// `caller` may.
    pub async fn generate_data_key(
        &self,
        caller: &Caller,
        key_id: &str,
        len: usize,
        context: &EncryptionContext,
        op: Op,
        dry_run: bool,
    ) -> Result<DataKey, KmsError> {
        let algorithm = EncryptionAlgorithm::SymmetricDefault;
        let name = match op {
            Op::GenerateDataKeyWithoutPlaintext => "GenerateDataKeyWithoutPlaintext",
            _ => "GenerateDataKey",
        };
        let action = Action::with_context(name, context);
        let (key, material_id) = self
            .encrypting_key(caller, key_id, action, op, algorithm)
            .await?;
        dry_run_stop(dry_run)?;
        self.spend_encryption(&key, material_id).await?;
        let (plaintext, sealed) = self
            .hsm
            .generate_data_key(material_id, aad(key.id, material_id, context), len)
            .await
            .map_err(|e| self.token_error(e, &key))?;
        let blob = Envelope {
            key_id: key.id,
            material_id,
            sealed,
        }
        .to_bytes();
        Ok(DataKey {
            key,
            material_id,
            plaintext,
            blob,
        })
    }

    /// The key named for an encrypting `op` that `caller` may do, and its current material
    /// version.
    pub(super) async fn encrypting_key(
        &self,
        caller: &Caller,
        key_id: &str,
        action: Action<'_>,
        op: Op,
        algorithm: EncryptionAlgorithm,
    ) -> Result<(Arc<Key>, Uuid), KmsError> {
        let key = self.authorized(caller, key_id, action).await?;
        asym::usage::permits(op, &key, &self.arn(&key))?;
        check_algorithm(&key, algorithm)?;
        self.check(op, &key)?;
        let current = key
            .current_material
            .and_then(|id| key.material(id))
            .filter(|m| m.state == MaterialState::Enabled)
            .map(|m| m.id);
        match current {
            Some(id) => Ok((key, id)),
            None => Err(KmsError::new(
                ErrorKind::InvalidState,
                format!("{} has no enabled key material.", self.arn(&key)),
            )),
        }
    }

    /// The key that made `blob`, checked against `key_id` when one is given, once `caller`
    /// may do `action` on it. A named key is found and authorized before the blob is read,
    /// as AWS answers; a blob we cannot read names no key and is refused without saying more.
    async fn decrypting_key(
        &self,
        caller: &Caller,
        (blob, key_id): (&[u8], Option<&str>),
        action: Action<'_>,
        op: Op,
        algorithm: EncryptionAlgorithm,
    ) -> Result<(Arc<Key>, Envelope), KmsError> {
        let named = match key_id {
            Some(named) => Some(self.authorized(caller, named, action).await?),
            None => None,
        };
        let envelope = Envelope::parse(blob)?;
        let key = match named {
            Some(key) if key.id != envelope.key_id => {
                return Err(KmsError::new(
                    ErrorKind::IncorrectKey,
                    "The key ID in the request does not identify a CMK that can perform this operation.",
                ));
            }
            Some(key) => key,
            None => {
                let key = self
                    .key(envelope.key_id)
                    .ok_or_else(KmsError::invalid_ciphertext)?;
                self.authorize_key(caller, &key, action).await?;
                key
            }
        };
        asym::usage::permits(op, &key, &self.arn(&key))?;
        check_algorithm(&key, algorithm)?;
        self.check(op, &key)?;
        let usable = key
            .material(envelope.material_id)
            .is_some_and(|m| m.state == MaterialState::Enabled);
        if !usable {
            return Err(KmsError::invalid_ciphertext());
        }
        Ok((key, envelope))
    }

    fn token_error(&self, error: HsmError, key: &Key) -> KmsError {
        KmsError::from_hsm(error, &self.arn(key))
    }
}
