//! Cloud KMS purposes and version algorithms, and the key spec, usage and AWS algorithm
//! each one is served with. One table; anything not in it is INVALID_ARGUMENT.

use super::{CryptoKey, DEFAULT_DESTROY_MS};
use crate::kms::model::{
    EncryptionAlgorithm, Key, KeySpec, KeyUsage, MacAlgorithm, SigningAlgorithm,
};

/// What a version algorithm does with its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// AES-256-GCM under the primary version.
    Symmetric,
    /// Signs with this AWS signing algorithm.
    Sign(SigningAlgorithm),
    /// Decrypts with this AWS encryption algorithm.
    Decrypt(EncryptionAlgorithm),
    /// MACs with this AWS MAC algorithm.
    Mac(MacAlgorithm),
}

/// One row: Cloud KMS algorithm, purpose, our key spec and usage, and its use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Algorithm {
    /// The CryptoKeyVersionAlgorithm name.
    pub name: &'static str,
    /// The CryptoKeyPurpose name.
    pub purpose: &'static str,
    /// Our key spec.
    pub spec: KeySpec,
    /// Our key usage.
    pub usage: KeyUsage,
    /// What it does.
    pub does: Use,
}

const fn row(
    name: &'static str,
    purpose: &'static str,
    (spec, usage): (KeySpec, KeyUsage),
    does: Use,
) -> Algorithm {
    Algorithm {
        name,
        purpose,
        spec,
        usage,
        does,
    }
}

use EncryptionAlgorithm as E;
use KeySpec as K;
use KeyUsage as U;
use SigningAlgorithm as S;

const SIGN: &str = "ASYMMETRIC_SIGN";
const DECRYPT: &str = "ASYMMETRIC_DECRYPT";

/// Every algorithm served. Cloud KMS's RSA_DECRYPT_OAEP_*_SHA512, the raw PKCS#1 signing
/// algorithms and the post-quantum ones have no AWS counterpart here.
#[rustfmt::skip] // one algorithm a line, as a table
pub const ALGORITHMS: &[Algorithm] = &[
    row(
        "GOOGLE_SYMMETRIC_ENCRYPTION",
        "ENCRYPT_DECRYPT",
        (K::SymmetricDefault, U::EncryptDecrypt),
        Use::Symmetric,
    ),
    row(
        "EC_SIGN_P256_SHA256",
        SIGN,
        (K::EccNistP256, U::SignVerify),
        Use::Sign(S::EcdsaSha256),
    ),
    row(
        "EC_SIGN_P384_SHA384",
        SIGN,
        (K::EccNistP384, U::SignVerify),
        Use::Sign(S::EcdsaSha384),
    ),
    row(
        "EC_SIGN_SECP256K1_SHA256",
        SIGN,
        (K::EccSecgP256k1, U::SignVerify),
        Use::Sign(S::EcdsaSha256),
    ),
    row(
        "RSA_SIGN_PSS_2048_SHA256",
        SIGN,
        (K::Rsa2048, U::SignVerify),
        Use::Sign(S::RsassaPssSha256),
    ),
    row(
        "RSA_SIGN_PSS_3072_SHA256",
        SIGN,
        (K::Rsa3072, U::SignVerify),
        Use::Sign(S::RsassaPssSha256),
    ),
    row(
        "RSA_SIGN_PSS_4096_SHA256",
        SIGN,
        (K::Rsa4096, U::SignVerify),
        Use::Sign(S::RsassaPssSha256),
    ),
    row(
        "RSA_SIGN_PSS_4096_SHA512",
        SIGN,
        (K::Rsa4096, U::SignVerify),
        Use::Sign(S::RsassaPssSha512),
    ),
    row(
        "RSA_SIGN_PKCS1_2048_SHA256",
        SIGN,
        (K::Rsa2048, U::SignVerify),
        Use::Sign(S::RsassaPkcs1V15Sha256),
    ),
    row(
        "RSA_SIGN_PKCS1_3072_SHA256",
        SIGN,
        (K::Rsa3072, U::SignVerify),
        Use::Sign(S::RsassaPkcs1V15Sha256),
    ),
    row(
        "RSA_SIGN_PKCS1_4096_SHA256",
        SIGN,
        (K::Rsa4096, U::SignVerify),
        Use::Sign(S::RsassaPkcs1V15Sha256),
    ),
    row(
        "RSA_SIGN_PKCS1_4096_SHA512",
        SIGN,
        (K::Rsa4096, U::SignVerify),
        Use::Sign(S::RsassaPkcs1V15Sha512),
    ),
    row(
        "RSA_DECRYPT_OAEP_2048_SHA256",
        DECRYPT,
        (K::Rsa2048, U::EncryptDecrypt),
        Use::Decrypt(E::RsaesOaepSha256),
    ),
    row(
        "RSA_DECRYPT_OAEP_3072_SHA256",
        DECRYPT,
        (K::Rsa3072, U::EncryptDecrypt),
        Use::Decrypt(E::RsaesOaepSha256),
    ),
    row(
        "RSA_DECRYPT_OAEP_4096_SHA256",
        DECRYPT,
        (K::Rsa4096, U::EncryptDecrypt),
        Use::Decrypt(E::RsaesOaepSha256),
    ),
    row(
        "RSA_DECRYPT_OAEP_2048_SHA1",
        DECRYPT,
        (K::Rsa2048, U::EncryptDecrypt),
        Use::Decrypt(E::RsaesOaepSha1),
    ),
    row(
        "RSA_DECRYPT_OAEP_3072_SHA1",
        DECRYPT,
        (K::Rsa3072, U::EncryptDecrypt),
        Use::Decrypt(E::RsaesOaepSha1),
    ),
    row(
        "RSA_DECRYPT_OAEP_4096_SHA1",
        DECRYPT,
        (K::Rsa4096, U::EncryptDecrypt),
        Use::Decrypt(E::RsaesOaepSha1),
    ),
    row(
        "HMAC_SHA224",
        "MAC",
        (K::Hmac224, U::GenerateVerifyMac),
        Use::Mac(MacAlgorithm::HmacSha224),
    ),
    row(
        "HMAC_SHA256",
        "MAC",
        (K::Hmac256, U::GenerateVerifyMac),
        Use::Mac(MacAlgorithm::HmacSha256),
    ),
    row(
        "HMAC_SHA384",
        "MAC",
        (K::Hmac384, U::GenerateVerifyMac),
        Use::Mac(MacAlgorithm::HmacSha384),
    ),
    row(
        "HMAC_SHA512",
        "MAC",
        (K::Hmac512, U::GenerateVerifyMac),
        Use::Mac(MacAlgorithm::HmacSha512),
    ),
];

/// The algorithm named `name`.
pub fn by_name(name: &str) -> Option<Algorithm> {
    ALGORITHMS.iter().copied().find(|a| a.name == name)
}

/// The default algorithm of a purpose (Cloud KMS requires one for all but symmetric keys).
pub fn default_for(purpose: &str) -> Option<Algorithm> {
    match purpose {
        "ENCRYPT_DECRYPT" => by_name("GOOGLE_SYMMETRIC_ENCRYPTION"),
        _ => None,
    }
}

/// The first algorithm served with a key of this spec and usage: the Cloud KMS view of a
/// key made through the AWS API.
fn for_key(key: &Key) -> Algorithm {
    ALGORITHMS
        .iter()
        .copied()
        .find(|a| a.spec == key.spec && a.usage == key.usage)
        .unwrap_or(ALGORITHMS[0])
}

/// The Cloud KMS attributes of a key made through the AWS API, in the `aws` key ring.
pub(super) fn derived(key: &Key, name: &str, ring: &str) -> CryptoKey {
    let algorithm = for_key(key);
    CryptoKey {
        name: name.to_owned(),
        ring: ring.to_owned(),
        key_id: key.id,
        purpose: algorithm.purpose.to_owned(),
        algorithm: algorithm.name.to_owned(),
        destroy_scheduled_ms: DEFAULT_DESTROY_MS,
        import_only: false,
        labels: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::asym;

    #[test]
    fn every_algorithm_is_a_pair_aws_allows_and_lists() {
        for a in ALGORITHMS {
            assert!(asym::usage_allowed(a.spec, a.usage), "{}", a.name);
            let listed = match a.does {
                Use::Symmetric => true,
                Use::Sign(s) => asym::signing_algorithms(a.spec, a.usage).contains(&s),
                Use::Decrypt(e) => asym::encryption_algorithms(a.spec, a.usage).contains(&e),
                Use::Mac(m) => asym::mac_algorithms(a.spec).contains(&m),
            };
            assert!(listed, "{}", a.name);
        }
    }
}
