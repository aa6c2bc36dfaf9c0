//! Which token objects we trust as ours. A label and a CKA_ID are easy to forge on a shared
//! token, so an object is used only when its attributes prove it is the kind of key we
//! make: sensitive, never extractable, of the right type and length, able to do what we
//! use it for and nothing else.

use cryptoki::error::Error as CkError;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectHandle};
use cryptoki::session::Session;

/// What an object is for, which decides the attributes it must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// AES-256 key material of a KMS key: encrypt and decrypt only.
    Material,
    /// One of the daemon's HMAC keys: sign and verify only, generated in the token.
    System,
}

/// How a key object came to be, as the token reports it (CKA_LOCAL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Generated inside the token.
    Generated,
    /// Unwrapped or created from outside material (imports).
    Unwrapped,
}

const CHECKED: [AttributeType; 12] = [
    AttributeType::KeyType,
    AttributeType::ValueLen,
    AttributeType::Sensitive,
    AttributeType::Extractable,
    AttributeType::Local,
    AttributeType::Encrypt,
    AttributeType::Decrypt,
    AttributeType::Sign,
    AttributeType::Verify,
    AttributeType::Wrap,
    AttributeType::Unwrap,
    AttributeType::Derive,
];

/// The attributes that matter, read once.
#[derive(Default)]
struct Facts {
    key_type: Option<KeyType>,
    value_len: u64,
    flags: Vec<(AttributeType, bool)>,
}

impl Facts {
    fn flag(&self, wanted: AttributeType) -> bool {
        self.flags.iter().any(|(t, v)| *t == wanted && *v)
    }
}

/// The object's origin when it passes as `kind`, else why not.
pub(super) fn vet(
    session: &Session,
    handle: ObjectHandle,
    kind: Kind,
) -> Result<Result<Origin, String>, CkError> {
    let facts = read_facts(session, handle)?;
    Ok(judge(&facts, kind))
}

fn read_facts(session: &Session, handle: ObjectHandle) -> Result<Facts, CkError> {
    let mut facts = Facts::default();
    for attribute in session.get_attributes(handle, &CHECKED)? {
        match attribute {
            Attribute::KeyType(t) => facts.key_type = Some(t),
            Attribute::ValueLen(len) => facts.value_len = u64::from(len),
            other => {
                if let Some(flag) = as_flag(&other) {
                    facts.flags.push((other.attribute_type(), flag));
                }
            }
        }
    }
    Ok(facts)
}

fn as_flag(attribute: &Attribute) -> Option<bool> {
    match attribute {
        Attribute::Sensitive(v)
        | Attribute::Extractable(v)
        | Attribute::Local(v)
        | Attribute::Encrypt(v)
        | Attribute::Decrypt(v)
        | Attribute::Sign(v)
        | Attribute::Verify(v)
        | Attribute::Wrap(v)
        | Attribute::Unwrap(v)
        | Attribute::Derive(v) => Some(*v),
        _ => None,
    }
}

/// The uses an object of `kind` and `key_type` may have (exactly one of the sets) and the
/// value lengths it may report (0: none, as for private keys).
type Profile = (&'static [&'static [AttributeType]], &'static [u64]);

fn profile(kind: Kind, key_type: KeyType) -> Option<Profile> {
    use AttributeType::{Decrypt, Derive, Encrypt, Sign, Verify};
    match (kind, key_type) {
        (Kind::Material, KeyType::AES) => Some((&[&[Encrypt, Decrypt]], &[32])),
        (Kind::Material, KeyType::GENERIC_SECRET) => Some((&[&[Sign, Verify]], &[28, 32, 48, 64])),
        (Kind::Material, KeyType::RSA) => Some((&[&[Sign], &[Decrypt]], &[0])),
        (Kind::Material, KeyType::EC) => Some((&[&[Sign], &[Derive]], &[0])),
        (Kind::System, KeyType::GENERIC_SECRET) => Some((&[&[Sign, Verify]], &[32])),
        _ => None,
    }
}

fn judge(facts: &Facts, kind: Kind) -> Result<Origin, String> {
    let key_type = facts.key_type.ok_or("no key type")?;
    let (use_sets, lengths) =
        profile(kind, key_type).ok_or_else(|| format!("key type {key_type} is not ours"))?;
    if !facts.flag(AttributeType::Sensitive) || facts.flag(AttributeType::Extractable) {
        return Err("not sensitive, or extractable".into());
    }
    let origin = match facts.flag(AttributeType::Local) {
        true => Origin::Generated,
        false => Origin::Unwrapped,
    };
    // SoftHSM2 reports CKA_VALUE_LEN 0 for keys it unwrapped.
    let length_ok =
        lengths.contains(&facts.value_len) || (facts.value_len == 0 && origin == Origin::Unwrapped);
    if !length_ok {
        return Err(format!("value length is {} bytes", facts.value_len));
    }
    if kind == Kind::System && origin != Origin::Generated {
        return Err("not generated in the token".into());
    }
    let uses: Vec<AttributeType> = facts
        .flags
        .iter()
        .filter(|(t, on)| *on && !matches!(t, AttributeType::Sensitive | AttributeType::Local))
        .map(|(t, _)| *t)
        .collect();
    let exactly =
        |set: &[AttributeType]| set.len() == uses.len() && set.iter().all(|u| uses.contains(u));
    match use_sets.iter().any(|set| exactly(set)) {
        true => Ok(origin),
        false => Err(format!("may do {uses:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn material(local: bool, value_len: u64, extra: &[AttributeType]) -> Facts {
        let mut flags = vec![
            (AttributeType::Sensitive, true),
            (AttributeType::Extractable, false),
            (AttributeType::Local, local),
            (AttributeType::Encrypt, true),
            (AttributeType::Decrypt, true),
        ];
        flags.extend(extra.iter().map(|t| (*t, true)));
        Facts {
            key_type: Some(KeyType::AES),
            value_len,
            flags,
        }
    }

    #[test]
    fn generated_and_unwrapped_material_passes() {
        assert_eq!(
            judge(&material(true, 32, &[]), Kind::Material),
            Ok(Origin::Generated)
        );
        assert_eq!(
            judge(&material(false, 0, &[]), Kind::Material),
            Ok(Origin::Unwrapped)
        );
    }

    #[test]
    fn widened_or_weak_objects_are_refused() {
        for extra in [
            AttributeType::Wrap,
            AttributeType::Sign,
            AttributeType::Derive,
        ] {
            assert!(judge(&material(true, 32, &[extra]), Kind::Material).is_err());
        }
        assert!(judge(&material(true, 16, &[]), Kind::Material).is_err());
        assert!(judge(&material(true, 0, &[]), Kind::Material).is_err());
        let mut extractable = material(true, 32, &[]);
        extractable.flags.push((AttributeType::Extractable, true));
        assert!(judge(&extractable, Kind::Material).is_err());
        assert!(judge(&material(true, 32, &[]), Kind::System).is_err());
    }
}
