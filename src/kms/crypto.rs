//! Encrypt, Decrypt, ReEncrypt, GenerateDataKey: AES-GCM inside the token, the encryption
//! context bound as AAD.

use std::sync::Arc;

use uuid::Uuid;
use zeroize::Zeroizing;

use super::asym;
use super::ciphertext::{aad, EncryptionContext, Envelope};
use super::model::{EncryptionAlgorithm, Key, KeyUsage, MaterialState};
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

/// What a Decrypt or ReEncrypt opens: our envelope, or a bare RSA ciphertext for the
/// material version, with the algorithm, that the caller named.
enum Source {
    Envelope(Envelope),
    Rsa(Uuid, EncryptionAlgorithm, Vec<u8>),
}

/// The algorithm must be one the key lists; AWS checks this before the key state. Keys of
/// another usage are refused by the usage rules instead.
fn check_algorithm(key: &Key, algorithm: EncryptionAlgorithm) -> Result<(), KmsError> {
    if key.usage != KeyUsage::EncryptDecrypt {
        return Ok(());
    }
    if asym::encryption_algorithms(key.spec, key.usage).contains(&algorithm) {
        return Ok(());
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
        if asym::is_rsa(&key) {
            asym::check_rsa_request(&key, algorithm, context, Some(plaintext.len()))?;
        }
        dry_run_stop(dry_run)?;
        let blob = self
            .seal(&key, material_id, (context, algorithm), plaintext)
            .await?;
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
        let (key, source) = self
            .decrypting_key(caller, (blob, key_id), action, Op::Decrypt, algorithm)
            .await?;
        dry_run_stop(dry_run)?;
        let (material_id, plaintext) = self.open(&key, source, context).await?;
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
        let (from_key, sealed) = self
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
        if asym::is_rsa(&to_key) {
            asym::check_rsa_request(&to_key, destination.algorithm, destination.context, None)?;
        }
        dry_run_stop(dry_run)?;
        let (from_material, blob) = match sealed {
            Source::Envelope(envelope) if !asym::is_rsa(&to_key) => {
                let from_material = envelope.material_id;
                let from = (&*from_key, envelope, source.context);
                let blob = self.reencrypt_in_token(from, (&to_key, to_material), &destination);
                (from_material, blob.await?)
            }
            sealed => {
                let (from_material, plaintext) =
                    self.open(&from_key, sealed, source.context).await?;
                if asym::is_rsa(&to_key) {
                    let len = Some(plaintext.len());
                    asym::check_rsa_request(
                        &to_key,
                        destination.algorithm,
                        destination.context,
                        len,
                    )?;
                }
                let to = (destination.context, destination.algorithm);
                (
                    from_material,
                    self.seal(&to_key, to_material, to, plaintext).await?,
                )
            }
        };
        Ok(ReEncrypted {
            source: (from_key, from_material),
            destination: (to_key, to_material),
            blob,
        })
    }

    /// ReEncrypt between symmetric keys: decrypted and encrypted again in one token call, so
    /// the plaintext never leaves the token.
    async fn reencrypt_in_token(
        &self,
        (from_key, envelope, from_context): (&Key, Envelope, &EncryptionContext),
        (to_key, to_material): (&Key, Uuid),
        destination: &ReEncryptSide<'_, &str>,
    ) -> Result<Vec<u8>, KmsError> {
        self.spend_encryption(to_key, to_material).await?;
        let from_material = envelope.material_id;
        let sealed = self
            .hsm
            .reencrypt(
                (
                    from_material,
                    aad(from_key.id, from_material, from_context),
                    envelope.sealed,
                ),
                (
                    to_material,
                    aad(to_key.id, to_material, destination.context),
                ),
            )
            .await
            .map_err(|e| self.token_error(e, to_key))?;
        Ok(Envelope {
            key_id: to_key.id,
            material_id: to_material,
            sealed,
        }
        .to_bytes())
    }

    /// Encrypts `plaintext` under material `material_id` of `key`: AES-GCM in our envelope
    /// with the context as AAD, or bare RSA-OAEP.
    pub(in crate::kms) async fn seal(
        &self,
        key: &Key,
        material_id: Uuid,
        (context, algorithm): (&EncryptionContext, EncryptionAlgorithm),
        plaintext: Zeroizing<Vec<u8>>,
    ) -> Result<Vec<u8>, KmsError> {
        if asym::is_rsa(key) {
            return self
                .rsa_encrypt(key, material_id, algorithm, plaintext)
                .await;
        }
        self.spend_encryption(key, material_id).await?;
        let sealed = self
            .hsm
            .encrypt(material_id, aad(key.id, material_id, context), plaintext)
            .await
            .map_err(|e| self.token_error(e, key))?;
        Ok(Envelope {
            key_id: key.id,
            material_id,
            sealed,
        }
        .to_bytes())
    }

    /// Decrypts what `decrypting_key` found, returning the material version used.
    async fn open(
        &self,
        key: &Key,
        source: Source,
        context: &EncryptionContext,
    ) -> Result<(Uuid, Zeroizing<Vec<u8>>), KmsError> {
        match source {
            Source::Envelope(envelope) => {
                let material_id = envelope.material_id;
                let plaintext = self
                    .hsm
                    .decrypt(
                        material_id,
                        aad(key.id, material_id, context),
                        envelope.sealed,
                    )
                    .await
                    .map_err(|e| self.token_error(e, key))?;
                Ok((material_id, plaintext))
            }
            Source::Rsa(material_id, algorithm, ciphertext) => {
                let plaintext = self
                    .rsa_decrypt(key, material_id, algorithm, ciphertext)
                    .await?;
                Ok((material_id, plaintext))
            }
        }
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
        self.check_oaep_available(algorithm)?;
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
    ) -> Result<(Arc<Key>, Source), KmsError> {
        let context = action.context;
        let named = match key_id {
            Some(named) => Some(self.authorized(caller, named, action).await?),
            None => None,
        };
        if let Some(key) = named.clone().filter(|key| asym::is_rsa(key)) {
            return self.rsa_source(key, blob, op, (algorithm, context));
        }
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
        Ok((key, Source::Envelope(envelope)))
    }

    /// The RSA key named for a Decrypt or ReEncrypt, checked as AWS does, with its material.
    fn rsa_source(
        &self,
        key: Arc<Key>,
        blob: &[u8],
        op: Op,
        (algorithm, context): (EncryptionAlgorithm, Option<&EncryptionContext>),
    ) -> Result<(Arc<Key>, Source), KmsError> {
        let none = EncryptionContext::new();
        asym::usage::permits(op, &key, &self.arn(&key))?;
        check_algorithm(&key, algorithm)?;
        self.check_oaep_available(algorithm)?;
        asym::check_rsa_request(&key, algorithm, context.unwrap_or(&none), None)?;
        self.check(op, &key)?;
        let material_id = self.enabled_material(&key)?;
        Ok((key, Source::Rsa(material_id, algorithm, blob.to_vec())))
    }

    fn token_error(&self, error: HsmError, key: &Key) -> KmsError {
        KmsError::from_hsm(error, &self.arn(key))
    }
}
