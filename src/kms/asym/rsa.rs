//! Encrypt and Decrypt with RSA ENCRYPT_DECRYPT keys: RSAES-OAEP, the ciphertext the bare
//! RSA output as AWS returns it (it names no key, so Decrypt needs the KeyId).

use zeroize::Zeroizing;

use super::{material, Material};
use crate::hsm::{OaepHash, PairKind};
use crate::kms::ciphertext::EncryptionContext;
use crate::kms::model::{EncryptionAlgorithm, Key};
use crate::kms::{ErrorKind, Kms, KmsError};

/// The OAEP hash of an RSA encryption algorithm.
pub fn oaep_hash(algorithm: EncryptionAlgorithm) -> Option<OaepHash> {
    match algorithm {
        EncryptionAlgorithm::RsaesOaepSha1 => Some(OaepHash::Sha1),
        EncryptionAlgorithm::RsaesOaepSha256 => Some(OaepHash::Sha256),
        EncryptionAlgorithm::SymmetricDefault | EncryptionAlgorithm::Sm2Pke => None,
    }
}

/// Whether `key` is an RSA key pair (its ciphertexts are bare RSA outputs).
pub fn is_rsa(key: &Key) -> bool {
    matches!(material(key.spec), Material::Pair(PairKind::Rsa(_)))
}

/// The longest plaintext OAEP with `hash` takes under a modulus of `bits` (RFC 8017
/// 7.1.1: k - 2 hLen - 2), as AWS lists it per key spec.
fn max_plaintext(bits: u64, hash: OaepHash) -> usize {
    let h_len = match hash {
        OaepHash::Sha1 => 20,
        OaepHash::Sha256 => 32,
    };
    usize::try_from(bits / 8)
        .unwrap_or(0)
        .saturating_sub(2 * h_len + 2)
}

/// AWS's refusals of an RSA Encrypt or Decrypt before the token is asked: no encryption
/// context, and for Encrypt (`plaintext_len`) no more than the padding leaves room for.
pub fn check_request(
    key: &Key,
    algorithm: EncryptionAlgorithm,
    context: &EncryptionContext,
    plaintext_len: Option<usize>,
) -> Result<(), KmsError> {
    if !context.is_empty() {
        return Err(KmsError::new(
            ErrorKind::Validation,
            "EncryptionContext is not supported when encrypting/decrypting with asymmetric CMKs.",
        ));
    }
    let (Material::Pair(PairKind::Rsa(bits)), Some(hash), Some(len)) =
        (material(key.spec), oaep_hash(algorithm), plaintext_len)
    else {
        return Ok(());
    };
    let max = max_plaintext(bits, hash);
    if len > max {
        return Err(KmsError::new(
            ErrorKind::Validation,
            format!(
                "Algorithm {} and key spec {} cannot encrypt data larger than {max} bytes.",
                algorithm.as_str(),
                key.spec.as_str()
            ),
        ));
    }
    Ok(())
}

impl Kms {
    /// Refuses an RSA algorithm this token cannot decrypt, naming what it lacks.
    pub(in crate::kms) fn check_oaep_available(
        &self,
        algorithm: EncryptionAlgorithm,
    ) -> Result<(), KmsError> {
        match oaep_hash(algorithm) {
            Some(hash) if self.hsm.oaep_path(hash).is_none() => Err(KmsError::new(
                ErrorKind::UnsupportedOperation,
                format!(
                    "{} is not available: the token lacks {}.",
                    algorithm.as_str(),
                    missing_oaep_mechanism(hash)
                ),
            )),
            _ => Ok(()),
        }
    }

    /// RSA-OAEP encryption of `plaintext` under material `material_id` of `key`.
    pub(in crate::kms) async fn rsa_encrypt(
        &self,
        key: &Key,
        material_id: uuid::Uuid,
        algorithm: EncryptionAlgorithm,
        plaintext: Zeroizing<Vec<u8>>,
    ) -> Result<Vec<u8>, KmsError> {
        let hash = oaep_hash(algorithm).ok_or_else(KmsError::invalid_ciphertext)?;
        self.hsm
            .rsa_encrypt(material_id, hash, plaintext)
            .await
            .map_err(|e| KmsError::from_hsm(e, &self.arn(key)))
    }

    /// RSA-OAEP decryption of `ciphertext` with material `material_id` of `key`.
    pub(in crate::kms) async fn rsa_decrypt(
        &self,
        key: &Key,
        material_id: uuid::Uuid,
        algorithm: EncryptionAlgorithm,
        ciphertext: Vec<u8>,
    ) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        let hash = oaep_hash(algorithm).ok_or_else(KmsError::invalid_ciphertext)?;
        self.hsm
            .rsa_decrypt(material_id, hash, ciphertext)
            .await
            .map_err(|e| KmsError::from_hsm(e, &self.arn(key)))
    }
}

/// What the token would need for OAEP with `hash`.
pub fn missing_oaep_mechanism(hash: OaepHash) -> &'static str {
    match hash {
        OaepHash::Sha1 => "CKM_RSA_PKCS_OAEP",
        OaepHash::Sha256 => {
            "CKM_RSA_PKCS_OAEP with SHA-256 (hsm.host_unwrap_fallback enables decoding in the daemon)"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_limits_are_awss() {
        let limits: Vec<usize> = [2048, 3072, 4096]
            .into_iter()
            .flat_map(|bits| [OaepHash::Sha1, OaepHash::Sha256].map(|h| max_plaintext(bits, h)))
            .collect();
        assert_eq!(limits, [214, 190, 342, 318, 470, 446]);
    }
}
