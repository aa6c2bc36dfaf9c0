//! Object templates and mechanisms. Keys are born sensitive and non-extractable.

use cryptoki::error::Error as CkError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use uuid::Uuid;

/// Label prefix that marks the objects this daemon owns on a shared token.
pub const LABEL_PREFIX: &str = "hsmkms/";

/// Label prefix of import wrapping keys, which are ours but no key's material.
pub const IMPORT_LABEL_PREFIX: &str = "hsmkms/import/";

/// GCM tag length in bits.
const TAG_BITS: u64 = 128;

/// A persistent AES-256 key usable only to encrypt and decrypt inside the token.
pub fn aes_256_token_key(id: Uuid, owner: &str) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(32.into()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
        Attribute::Sign(false),
        Attribute::Verify(false),
        Attribute::Derive(false),
        Attribute::Id(id.as_bytes().to_vec()),
        Attribute::Label(format!("{LABEL_PREFIX}{owner}/{id}").into_bytes()),
    ]
}

/// The template for imported material: like a generated key, without CKA_VALUE_LEN, which
/// PKCS#11 forbids in C_UnwrapKey and C_CreateObject templates for AES keys.
pub fn imported_aes_key(id: Uuid, owner: &str) -> Vec<Attribute> {
    aes_256_token_key(id, owner)
        .into_iter()
        .filter(|a| !matches!(a, Attribute::ValueLen(_)))
        .collect()
}

/// The search template for one of our keys by its CKA_ID.
pub fn by_id(id: Uuid) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::Id(id.as_bytes().to_vec()),
    ]
}

/// The search template for the private half of one of our key pairs by its CKA_ID.
pub fn private_by_id(id: Uuid) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::Id(id.as_bytes().to_vec()),
    ]
}

/// AES-GCM with a 96-bit IV and a 128-bit tag.
pub fn aes_gcm<'a>(iv: &'a mut [u8], aad: &'a [u8]) -> Result<Mechanism<'a>, CkError> {
    Ok(Mechanism::AesGcm(GcmParams::new(iv, aad, TAG_BITS.into())?))
}
