//! The start-up self-test of AES-GCM: a known answer, a round trip that keeps the IV the
//! token reports, and a tampered tag that must fail. A token that fails it is not served.

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

use super::{gcm_decrypt, gcm_encrypt, templates, Fault, HsmError, Inner, IV_LEN};

/// AES-256-GCM with a zero key, a zero IV and one zero block (test case 14 of the GCM
/// specification): ciphertext then tag.
const KNOWN_CIPHERTEXT: [u8; 32] = [
    0xce, 0xa7, 0x40, 0x3d, 0x4d, 0x60, 0x6b, 0x6e, 0x07, 0x4e, 0xc5, 0xd3, 0xba, 0xf3, 0x9d, 0x18,
    0xd0, 0xd1, 0xc8, 0xa7, 0x99, 0x99, 0x6b, 0xf0, 0x26, 0x5b, 0x98, 0xb5, 0xd4, 0x8a, 0xb9, 0x19,
];

impl Inner {
    /// Runs the self-test; answers whether the token takes CKA_ALLOWED_MECHANISMS.
    pub(super) fn self_test(&self, session: &Session) -> Result<bool, HsmError> {
        let (key, restrict) = test_key(session)?;
        let result = round_trip(session, key);
        session.destroy_object(key)?;
        result?;
        known_answer(session)?;
        tracing::info!(allowed_mechanisms = restrict, "AES-GCM self-test passed");
        Ok(restrict)
    }
}

/// A session AES key, restricted to AES-GCM when the token supports the restriction.
fn test_key(session: &Session) -> Result<(ObjectHandle, bool), HsmError> {
    match session.generate_key(&Mechanism::AesKeyGen, &templates::self_test_key(true)) {
        Ok(key) => Ok((key, true)),
        Err(CkError::Pkcs11(
            RvError::AttributeTypeInvalid
            | RvError::AttributeValueInvalid
            | RvError::TemplateInconsistent,
            _,
        )) => {
            tracing::warn!(
                "the token refuses CKA_ALLOWED_MECHANISMS: key objects are restricted by \
                 their usage flags only"
            );
            let template = templates::self_test_key(false);
            Ok((
                session.generate_key(&Mechanism::AesKeyGen, &template)?,
                false,
            ))
        }
        Err(e) => Err(e.into()),
    }
}

fn round_trip(session: &Session, key: ObjectHandle) -> Result<(), HsmError> {
    let mut plaintext = [0u8; 32];
    session.generate_random_slice(&mut plaintext)?;
    let aad = b"hsmkms self-test";
    let mut sealed = gcm_encrypt(session, key, aad, &plaintext)?;
    let opened = gcm_decrypt(session, key, aad, &sealed)?;
    if opened.as_slice() != plaintext {
        return Err(failed("a round trip did not return the plaintext"));
    }
    if let Some(last) = sealed.data.last_mut() {
        *last ^= 1;
    }
    let refused = match gcm_decrypt(session, key, aad, &sealed) {
        Ok(_) => false,
        Err(e) => HsmError::from(e).fault == Fault::BadCiphertext,
    };
    match refused {
        true => Ok(()),
        false => Err(failed("a tampered tag was not refused")),
    }
}

/// Decrypts the known ciphertext under a zero key. Tokens that refuse plaintext key
/// objects (FIPS modes) skip this part, which the log says.
fn known_answer(session: &Session) -> Result<(), HsmError> {
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(false),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Decrypt(true),
        Attribute::Value(vec![0u8; 32]),
    ];
    let key = match session.create_object(&template) {
        Ok(key) => key,
        Err(e) => {
            tracing::warn!(error = %e, "AES-GCM known-answer test skipped: the token refuses a plaintext key object");
            return Ok(());
        }
    };
    let sealed = super::Sealed {
        iv: [0u8; IV_LEN],
        data: KNOWN_CIPHERTEXT.to_vec(),
    };
    let result = gcm_decrypt(session, key, &[], &sealed);
    session.destroy_object(key)?;
    match result {
        Ok(plaintext) if plaintext.iter().all(|b| *b == 0) && plaintext.len() == 16 => Ok(()),
        _ => Err(failed("the known answer did not decrypt")),
    }
}

fn failed(why: &str) -> HsmError {
    HsmError::new(Fault::Other, format!("AES-GCM self-test failed: {why}"))
}
