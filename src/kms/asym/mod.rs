//! Asymmetric and HMAC keys: which key spec takes which key usage and algorithms (AWS's
//! tables), what each means for the token, and the operations that use them.

mod agree;
mod external;
mod rsa;
mod sign;
pub(in crate::kms) use sign::digest;
pub mod usage;

pub use agree::Shared;
pub use external::{import_error, importable, imported_key};
pub use rsa::{check_request as check_rsa_request, is_rsa, missing_oaep_mechanism};
pub use sign::{Signed, ToSign, Verified};

use crate::hsm::{Curve, Hash, PairKind, PairUse, SignScheme};

use super::model::{EncryptionAlgorithm, KeySpec, KeyUsage, MacAlgorithm, SigningAlgorithm};

/// How the token holds a key spec's material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Material {
    /// An AES-256 secret key.
    Aes,
    /// A key pair.
    Pair(PairKind),
    /// A generic secret of this many bytes, used with HMAC over this hash.
    Hmac(usize, Hash),
}

/// The token material of `spec`.
pub fn material(spec: KeySpec) -> Material {
    match spec {
        KeySpec::SymmetricDefault => Material::Aes,
        KeySpec::Rsa2048 => Material::Pair(PairKind::Rsa(2048)),
        KeySpec::Rsa3072 => Material::Pair(PairKind::Rsa(3072)),
        KeySpec::Rsa4096 => Material::Pair(PairKind::Rsa(4096)),
        KeySpec::EccNistP256 => Material::Pair(PairKind::Ec(Curve::P256)),
        KeySpec::EccNistP384 => Material::Pair(PairKind::Ec(Curve::P384)),
        KeySpec::EccNistP521 => Material::Pair(PairKind::Ec(Curve::P521)),
        KeySpec::EccSecgP256k1 => Material::Pair(PairKind::Ec(Curve::Secp256k1)),
        KeySpec::Hmac224 => Material::Hmac(28, Hash::Sha224),
        KeySpec::Hmac256 => Material::Hmac(32, Hash::Sha256),
        KeySpec::Hmac384 => Material::Hmac(48, Hash::Sha384),
        KeySpec::Hmac512 => Material::Hmac(64, Hash::Sha512),
    }
}

/// Whether AWS lets a key of `spec` have `usage`.
pub fn usage_allowed(spec: KeySpec, usage: KeyUsage) -> bool {
    use KeySpec as S;
    use KeyUsage as U;
    match spec {
        S::SymmetricDefault => usage == U::EncryptDecrypt,
        S::Rsa2048 | S::Rsa3072 | S::Rsa4096 => matches!(usage, U::EncryptDecrypt | U::SignVerify),
        S::EccNistP256 | S::EccNistP384 | S::EccNistP521 => {
            matches!(usage, U::SignVerify | U::KeyAgreement)
        }
        S::EccSecgP256k1 => usage == U::SignVerify,
        S::Hmac224 | S::Hmac256 | S::Hmac384 | S::Hmac512 => usage == U::GenerateVerifyMac,
    }
}

/// What the private half of a `usage` key pair may do in the token.
pub fn pair_use(usage: KeyUsage) -> PairUse {
    match usage {
        KeyUsage::SignVerify => PairUse::Sign,
        KeyUsage::KeyAgreement => PairUse::Derive,
        KeyUsage::EncryptDecrypt | KeyUsage::GenerateVerifyMac => PairUse::Decrypt,
    }
}

/// The key's EncryptionAlgorithms, as KeyMetadata lists them.
pub fn encryption_algorithms(spec: KeySpec, usage: KeyUsage) -> Vec<EncryptionAlgorithm> {
    match (material(spec), usage) {
        (Material::Aes, _) => vec![EncryptionAlgorithm::SymmetricDefault],
        (Material::Pair(PairKind::Rsa(_)), KeyUsage::EncryptDecrypt) => vec![
            EncryptionAlgorithm::RsaesOaepSha1,
            EncryptionAlgorithm::RsaesOaepSha256,
        ],
        _ => Vec::new(),
    }
}

/// The key's SigningAlgorithms, in the order KeyMetadata lists them.
pub fn signing_algorithms(spec: KeySpec, usage: KeyUsage) -> Vec<SigningAlgorithm> {
    use SigningAlgorithm as A;
    if usage != KeyUsage::SignVerify {
        return Vec::new();
    }
    match spec {
        KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => vec![
            A::RsassaPkcs1V15Sha256,
            A::RsassaPkcs1V15Sha384,
            A::RsassaPkcs1V15Sha512,
            A::RsassaPssSha256,
            A::RsassaPssSha384,
            A::RsassaPssSha512,
        ],
        KeySpec::EccNistP256 | KeySpec::EccSecgP256k1 => vec![A::EcdsaSha256],
        KeySpec::EccNistP384 => vec![A::EcdsaSha384],
        KeySpec::EccNistP521 => vec![A::EcdsaSha512],
        _ => Vec::new(),
    }
}

/// The key's MacAlgorithms.
pub fn mac_algorithms(spec: KeySpec) -> Vec<MacAlgorithm> {
    match spec {
        KeySpec::Hmac224 => vec![MacAlgorithm::HmacSha224],
        KeySpec::Hmac256 => vec![MacAlgorithm::HmacSha256],
        KeySpec::Hmac384 => vec![MacAlgorithm::HmacSha384],
        KeySpec::Hmac512 => vec![MacAlgorithm::HmacSha512],
        _ => Vec::new(),
    }
}

/// The key's KeyAgreementAlgorithms.
pub fn key_agreement_algorithms(usage: KeyUsage) -> Vec<&'static str> {
    match usage {
        KeyUsage::KeyAgreement => vec!["ECDH"],
        _ => Vec::new(),
    }
}

/// The hash of a signing algorithm.
pub(in crate::kms) fn signing_hash(algorithm: SigningAlgorithm) -> Hash {
    use SigningAlgorithm as A;
    match algorithm {
        A::RsassaPssSha256 | A::RsassaPkcs1V15Sha256 | A::EcdsaSha256 => Hash::Sha256,
        A::RsassaPssSha384 | A::RsassaPkcs1V15Sha384 | A::EcdsaSha384 => Hash::Sha384,
        A::RsassaPssSha512 | A::RsassaPkcs1V15Sha512 | A::EcdsaSha512 => Hash::Sha512,
    }
}

/// How the token signs for `algorithm` with a key of `kind`; call only for an algorithm the
/// key's spec lists.
pub(in crate::kms) fn sign_scheme(kind: PairKind, algorithm: SigningAlgorithm) -> SignScheme {
    use SigningAlgorithm as A;
    let hash = signing_hash(algorithm);
    match (kind, algorithm) {
        (PairKind::Ec(curve), _) => SignScheme::Ecdsa(curve),
        (PairKind::Rsa(_), A::RsassaPssSha256 | A::RsassaPssSha384 | A::RsassaPssSha512) => {
            SignScheme::Pss(hash)
        }
        (PairKind::Rsa(_), _) => SignScheme::Pkcs1(hash),
    }
}

/// The hash of a MAC algorithm.
pub(in crate::kms) fn mac_hash(algorithm: MacAlgorithm) -> Hash {
    match algorithm {
        MacAlgorithm::HmacSha224 => Hash::Sha224,
        MacAlgorithm::HmacSha256 => Hash::Sha256,
        MacAlgorithm::HmacSha384 => Hash::Sha384,
        MacAlgorithm::HmacSha512 => Hash::Sha512,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: [KeySpec; 12] = [
        KeySpec::SymmetricDefault,
        KeySpec::Rsa2048,
        KeySpec::Rsa3072,
        KeySpec::Rsa4096,
        KeySpec::EccNistP256,
        KeySpec::EccNistP384,
        KeySpec::EccNistP521,
        KeySpec::EccSecgP256k1,
        KeySpec::Hmac224,
        KeySpec::Hmac256,
        KeySpec::Hmac384,
        KeySpec::Hmac512,
    ];
    const USAGES: [KeyUsage; 4] = [
        KeyUsage::EncryptDecrypt,
        KeyUsage::SignVerify,
        KeyUsage::GenerateVerifyMac,
        KeyUsage::KeyAgreement,
    ];

    #[test]
    fn allowed_pairs_are_exactly_awss() {
        let mut allowed = Vec::new();
        for spec in SPECS {
            for usage in USAGES {
                if usage_allowed(spec, usage) {
                    allowed.push(format!("{}/{}", spec.as_str(), usage.as_str()));
                }
            }
        }
        let expected = [
            "SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT",
            "RSA_2048/ENCRYPT_DECRYPT",
            "RSA_2048/SIGN_VERIFY",
            "RSA_3072/ENCRYPT_DECRYPT",
            "RSA_3072/SIGN_VERIFY",
            "RSA_4096/ENCRYPT_DECRYPT",
            "RSA_4096/SIGN_VERIFY",
            "ECC_NIST_P256/SIGN_VERIFY",
            "ECC_NIST_P256/KEY_AGREEMENT",
            "ECC_NIST_P384/SIGN_VERIFY",
            "ECC_NIST_P384/KEY_AGREEMENT",
            "ECC_NIST_P521/SIGN_VERIFY",
            "ECC_NIST_P521/KEY_AGREEMENT",
            "ECC_SECG_P256K1/SIGN_VERIFY",
            "HMAC_224/GENERATE_VERIFY_MAC",
            "HMAC_256/GENERATE_VERIFY_MAC",
            "HMAC_384/GENERATE_VERIFY_MAC",
            "HMAC_512/GENERATE_VERIFY_MAC",
        ];
        assert_eq!(allowed, expected);
    }

    #[test]
    fn every_signing_key_lists_algorithms_whose_hash_fits_its_curve() {
        for spec in SPECS {
            for algorithm in signing_algorithms(spec, KeyUsage::SignVerify) {
                if let Material::Pair(PairKind::Ec(curve)) = material(spec) {
                    let hash = signing_hash(algorithm).digest_len();
                    assert!(hash <= curve.field_len(), "{spec:?} {algorithm:?}");
                }
            }
        }
    }
}
