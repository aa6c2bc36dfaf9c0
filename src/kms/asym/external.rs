//! EXTERNAL origin beyond SYMMETRIC_DEFAULT: HMAC keys and RSA private keys are imported
//! (the token unwraps them and shows an RSA key's modulus, from which the public half is
//! made). EC private keys are not: SoftHSM2 and PKCS#11 in general keep no public point on
//! an unwrapped EC private key, and without it GetPublicKey and Verify cannot be served.

use super::{material, Material};
use crate::hsm::{Fault, HsmError, ImportedKey, PairKind};
use crate::kms::model::{Key, KeySpec, KeyUsage};
use crate::kms::{ErrorKind, KmsError};

/// Whether keys of `spec` may have origin EXTERNAL here.
pub fn importable(spec: KeySpec) -> bool {
    !matches!(material(spec), Material::Pair(PairKind::Ec(_)))
}

/// What imported material of a `spec` / `usage` key becomes in the token.
pub fn imported_key(spec: KeySpec, usage: KeyUsage) -> ImportedKey {
    match material(spec) {
        Material::Aes => ImportedKey::Aes256,
        Material::Hmac(_, hash) => ImportedKey::Hmac(hash),
        Material::Pair(PairKind::Rsa(bits)) => ImportedKey::Rsa(bits, super::pair_use(usage)),
        // Never reached: CreateKey refuses EXTERNAL EC keys. Treated as AES, whose checks
        // then refuse the material.
        Material::Pair(PairKind::Ec(_)) => ImportedKey::Aes256,
    }
}

/// A failed import in the client's terms: material of the wrong kind or size names what
/// the key spec takes.
pub fn import_error(error: HsmError, key: &Key, arn: &str) -> KmsError {
    if error.fault != Fault::WrongKeySize {
        return KmsError::from_hsm(error, arn);
    }
    tracing::warn!(%error, key = arn, "imported material refused");
    let spec = key.spec.as_str();
    let wanted = match material(key.spec) {
        Material::Aes => "256 bits".to_owned(),
        Material::Hmac(len, hash) => format!("{len} to {} bytes", hash.block_len()),
        Material::Pair(PairKind::Rsa(bits)) => {
            format!("a {bits}-bit RSA private key in PKCS #8 DER")
        }
        Material::Pair(PairKind::Ec(_)) => "an importable key".to_owned(),
    };
    KmsError::new(
        ErrorKind::IncorrectKeyMaterial,
        format!("The key material must be {wanted} for a {spec} key."),
    )
}
