//! Imported HMAC keys and RSA private keys: unwrapped by the token straight into
//! sensitive, non-extractable objects restricted like generated ones. An RSA key's public
//! half is made from the modulus and exponent the token shows on the private half.

use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::asym::{private_half, public_half};
use super::import::{wrong_size, Unwrapping, KCV_BLOCK};
use super::templates::{self, LABEL_PREFIX};
use super::{write, Fault, Hash, HsmError, Inner, Origin, PairKind, PairUse, KCV_LEN};

/// The largest RSA private key (PKCS#8 DER) we expect: RSA-4096 is about 2.4 KB.
const MAX_RSA_PKCS8: usize = 4096;

impl Inner {
    /// HMAC material: AWS accepts keys from the digest length up to the hash's block size.
    /// The check value is the truncated HMAC of a fixed block, made by the key itself.
    pub(super) fn unwrap_hmac(
        &self,
        session: &Session,
        unwrapping: &Unwrapping<'_>,
        (target, owner): (Uuid, &str),
        hash: Hash,
    ) -> Result<[u8; KCV_LEN], HsmError> {
        let hmac = self.restrict.then_some(hash.hmac_type().0);
        let template = templates::hmac_key(target, owner, None, hmac);
        let lengths = hash.digest_len()..=hash.block_len();
        let key = self.unwrap_into(session, unwrapping, &template, lengths)?;
        let mac = session.sign(&hash.hmac(), key, &KCV_BLOCK);
        match mac.map_err(HsmError::from).and_then(|mac| truncated(&mac)) {
            Ok(kcv) => {
                self.remember(target, key, Origin::Unwrapped);
                Ok(kcv)
            }
            Err(e) => {
                session.destroy_object(key)?;
                Err(e)
            }
        }
    }

    /// An RSA private key (PKCS#8, RSA_AES_KEY_WRAP only: it does not fit in one OAEP
    /// block) with a modulus of `bits`. The check value is the truncated SHA-256 of the
    /// modulus.
    pub(super) fn unwrap_rsa(
        &self,
        session: &Session,
        unwrapping: &Unwrapping<'_>,
        (target, owner): (Uuid, &str),
        (bits, usage): (u64, PairUse),
    ) -> Result<[u8; KCV_LEN], HsmError> {
        let label = format!("{LABEL_PREFIX}{owner}/{target}").into_bytes();
        let allowed = self
            .restrict
            .then(|| self.private_mechanisms(PairKind::Rsa(bits), usage));
        let mut template = vec![
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::RSA),
        ];
        template.extend(private_half(target, &label, usage, allowed));
        let private = self.unwrap_into(session, unwrapping, &template, 1..=MAX_RSA_PKCS8)?;
        match public_from_private(session, private, (target, &label), (bits, usage)) {
            Ok((public, kcv)) => {
                self.remember(target, private, Origin::Unwrapped);
                write(&self.public).insert(target, public);
                Ok(kcv)
            }
            Err(e) => {
                session.destroy_object(private)?;
                Err(e)
            }
        }
    }
}

/// Makes the public half of an unwrapped RSA private key, returning it and the check value.
fn public_from_private(
    session: &Session,
    private: ObjectHandle,
    (id, label): (Uuid, &[u8]),
    (bits, usage): (u64, PairUse),
) -> Result<(ObjectHandle, [u8; KCV_LEN]), HsmError> {
    let wanted = [
        AttributeType::KeyType,
        AttributeType::Modulus,
        AttributeType::PublicExponent,
    ];
    let (mut key_type, mut n, mut e) = (None, Vec::new(), Vec::new());
    for attribute in session.get_attributes(private, &wanted)? {
        match attribute {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::Modulus(v) => n = v,
            Attribute::PublicExponent(v) => e = v,
            _ => {}
        }
    }
    let modulus_bits = u64::try_from(n.len()).unwrap_or(0) * 8;
    if key_type != Some(KeyType::RSA) || modulus_bits != bits || e.is_empty() {
        return Err(wrong_size());
    }
    let kcv = truncated(&Sha256::digest(&n))?;
    let mut template = vec![
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::RSA),
        Attribute::Modulus(n),
        Attribute::PublicExponent(e),
    ];
    template.extend(public_half(id, label, usage));
    Ok((session.create_object(&template)?, kcv))
}

fn truncated(bytes: &[u8]) -> Result<[u8; KCV_LEN], HsmError> {
    bytes
        .get(..KCV_LEN)
        .and_then(|head| head.try_into().ok())
        .ok_or_else(|| HsmError::new(Fault::Other, "check value input too short"))
}
