//! Object templates and mechanisms. Keys are born sensitive, non-extractable, unmodifiable
//! and uncopyable, and (where the token supports CKA_ALLOWED_MECHANISMS) usable with one
//! mechanism only.

use cryptoki::error::Error as CkError;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use uuid::Uuid;

/// Label prefix that marks the objects this daemon owns on a shared token.
pub const LABEL_PREFIX: &str = "hsmkms/";

/// Label prefix of import wrapping keys, which are ours but no key's material.
pub const IMPORT_LABEL_PREFIX: &str = "hsmkms/import/";

/// GCM tag length in bits.
const TAG_BITS: u64 = 128;

/// The attributes every secret key of ours carries: it never leaves the token in the clear
/// and nobody can clone it with other attributes (CKA_COPYABLE). `locked` adds that nobody
/// can later widen what it may do.
fn locked_secret(key_type: KeyType, token: bool) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(key_type),
        Attribute::Token(token),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Copyable(false),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
        Attribute::Derive(false),
    ]
}

/// Ends a template with CKA_MODIFIABLE false. It goes last: SoftHSM2 applies an unwrap
/// template in order and refuses every attribute after it as read-only.
fn locked(mut template: Vec<Attribute>) -> Vec<Attribute> {
    template.push(Attribute::Modifiable(false));
    template
}

/// The mechanism restriction, when the token supports it.
fn allowed(restrict: bool, mechanisms: &[MechanismType]) -> Option<Attribute> {
    restrict.then(|| Attribute::AllowedMechanisms(mechanisms.to_vec()))
}

/// An AES key usable only for AES-GCM encryption and decryption; `token` makes it persist.
fn aes_gcm_key(token: bool, restrict: bool) -> Vec<Attribute> {
    let mut template = locked_secret(KeyType::AES, token);
    template.extend([
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Sign(false),
        Attribute::Verify(false),
    ]);
    template.extend(allowed(restrict, &[MechanismType::AES_GCM]));
    template
}

/// A persistent AES-256 key usable only to encrypt and decrypt inside the token.
pub fn aes_256_token_key(id: Uuid, owner: &str, restrict: bool) -> Vec<Attribute> {
    let mut template = aes_gcm_key(true, restrict);
    template.extend(identity(id, owner));
    template.push(Attribute::ValueLen(32.into()));
    locked(template)
}

fn identity(id: Uuid, owner: &str) -> [Attribute; 2] {
    [
        Attribute::Id(id.as_bytes().to_vec()),
        Attribute::Label(format!("{LABEL_PREFIX}{owner}/{id}").into_bytes()),
    ]
}

/// The template for imported material: like a generated key, without CKA_VALUE_LEN, which
/// PKCS#11 forbids in C_UnwrapKey and C_CreateObject templates for AES keys.
pub fn imported_aes_key(id: Uuid, owner: &str, restrict: bool) -> Vec<Attribute> {
    let mut template = aes_gcm_key(true, restrict);
    template.extend(identity(id, owner));
    locked(template)
}

/// Wrapped custody: fresh AES-256 material made in the token as a session object that can
/// do nothing but be wrapped, and only under a key the security officer marked trusted.
pub fn wrappable_aes_key(id: Uuid, owner: &str) -> Vec<Attribute> {
    let mut template = locked_secret(KeyType::AES, false);
    template.retain(|a| a.attribute_type() != AttributeType::Extractable);
    template.extend([
        Attribute::Extractable(true),
        Attribute::WrapWithTrusted(true),
        Attribute::Encrypt(false),
        Attribute::Decrypt(false),
        Attribute::Sign(false),
        Attribute::Verify(false),
        Attribute::ValueLen(32.into()),
    ]);
    template.extend(identity(id, owner));
    locked(template)
}

/// Wrapped custody: the material unwrapped for use, a session object like a token key
/// (sensitive, non-extractable, AES-GCM only) that dies with the session that holds it.
pub fn unwrapped_aes_key(id: Uuid, restrict: bool) -> Vec<Attribute> {
    let mut template = aes_gcm_key(false, restrict);
    template.extend(identity(id, "unwrapped"));
    locked(template)
}

/// The key-encryption key of wrapped custody: AES-256, never extractable, able only to
/// wrap and unwrap, trusted (CKA_TRUSTED, which only the security officer may set). The
/// security officer can make public objects only, so it is not CKA_PRIVATE.
pub fn key_encryption_key(id: Uuid, label: &str) -> Vec<Attribute> {
    let mut template = locked_secret(KeyType::AES, true);
    template.retain(|a| {
        !matches!(
            a.attribute_type(),
            AttributeType::Private | AttributeType::Wrap | AttributeType::Unwrap
        )
    });
    template.extend([
        Attribute::Private(false),
        Attribute::Trusted(true),
        Attribute::Wrap(true),
        Attribute::Unwrap(true),
        Attribute::Encrypt(false),
        Attribute::Decrypt(false),
        Attribute::Sign(false),
        Attribute::Verify(false),
        Attribute::ValueLen(32.into()),
        Attribute::Id(id.as_bytes().to_vec()),
        Attribute::Label(label.as_bytes().to_vec()),
    ]);
    locked(template)
}

/// The search template for the key-encryption key by its label.
pub fn kek_by_label(label: &str) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::Label(label.as_bytes().to_vec()),
    ]
}

/// A session AES-256 key for the start-up self-test.
pub fn self_test_key(restrict: bool) -> Vec<Attribute> {
    let mut template = aes_gcm_key(false, restrict);
    template.push(Attribute::ValueLen(32.into()));
    locked(template)
}

/// Imported material unwrapped a first time into a session object that can only compute the
/// key check value (AES-ECB of a fixed block): the token object itself never allows ECB.
pub fn check_value_probe(restrict: bool) -> Vec<Attribute> {
    let mut template = locked_secret(KeyType::AES, false);
    template.extend([
        Attribute::Encrypt(true),
        Attribute::Decrypt(false),
        Attribute::Sign(false),
        Attribute::Verify(false),
    ]);
    template.extend(allowed(restrict, &[MechanismType::AES_ECB]));
    locked(template)
}

/// A persistent HMAC key of a KMS key: a generic secret that may only sign and verify, with
/// `hmac` alone where the token restricts mechanisms. Generation gives `value_len`; an
/// unwrap leaves the length to the material.
pub fn hmac_key(
    id: Uuid,
    owner: &str,
    value_len: Option<u64>,
    hmac: Option<MechanismType>,
) -> Vec<Attribute> {
    let mut template = locked_secret(KeyType::GENERIC_SECRET, true);
    template.extend([
        Attribute::Sign(true),
        Attribute::Verify(true),
        Attribute::Encrypt(false),
        Attribute::Decrypt(false),
    ]);
    template.extend(value_len.map(|len| Attribute::ValueLen(len.into())));
    template.extend(identity(id, owner));
    template.extend(hmac.map(|m| Attribute::AllowedMechanisms(vec![m])));
    locked(template)
}

/// A persistent HMAC-SHA256 key of the daemon's own.
pub fn system_mac_key(id: Uuid, label: &str, restrict: bool) -> Vec<Attribute> {
    let mut template = locked_secret(KeyType::GENERIC_SECRET, true);
    template.extend([
        Attribute::ValueLen(32.into()),
        Attribute::Sign(true),
        Attribute::Verify(true),
        Attribute::Encrypt(false),
        Attribute::Decrypt(false),
        Attribute::Id(id.as_bytes().to_vec()),
        Attribute::Label(label.as_bytes().to_vec()),
    ]);
    template.extend(allowed(restrict, &[MechanismType::SHA256_HMAC]));
    locked(template)
}

/// The search template for one of our secret keys by its CKA_ID.
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
