//! The ciphertext blob (format version 1) and the AAD that binds it.
//!
//! ```text
//! offset  size  field
//! 0       1     format version = 0x01
//! 1       16    key id (UUID bytes)
//! 17      16    key-material id (UUID bytes; the token object's CKA_ID)
//! 33      12    AES-GCM IV
//! 45      n+16  ciphertext || 128-bit tag
//! ```
//!
//! The AAD is never empty (SoftHSM2 crashes on empty GCM AAD) and binds the format version,
//! key id, material id and encryption context through a length-prefixed encoding:
//! `"hsmkms.v1" || version || key id || material id || u32 count || (u32 len || key || u32 len || value)*`
//! with pairs sorted by key, all integers big-endian.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::error::KmsError;
use crate::hsm::{Sealed, IV_LEN};

/// The only format this build writes; Decrypt rejects others.
pub const FORMAT_V1: u8 = 1;
const HEADER_LEN: usize = 1 + 16 + 16 + IV_LEN;
const TAG_LEN: usize = 16;
const AAD_DOMAIN: &[u8] = b"hsmkms.v1";

/// The encryption context: sorted, so its encoding is canonical.
pub type EncryptionContext = BTreeMap<String, String>;

/// A parsed ciphertext blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The key that made it.
    pub key_id: Uuid,
    /// The material version that made it.
    pub material_id: Uuid,
    /// IV and ciphertext || tag.
    pub sealed: Sealed,
}

impl Envelope {
    /// Serialises to the version-1 wire format.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.sealed.data.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(self.key_id.as_bytes());
        out.extend_from_slice(self.material_id.as_bytes());
        out.extend_from_slice(&self.sealed.iv);
        out.extend_from_slice(&self.sealed.data);
        out
    }

    /// Parses a blob; anything that is not a well-formed version-1 blob is InvalidCiphertext.
    pub fn parse(blob: &[u8]) -> Result<Envelope, KmsError> {
        if blob.len() < HEADER_LEN + TAG_LEN || blob[0] != FORMAT_V1 {
            return Err(KmsError::invalid_ciphertext());
        }
        let uuid_at = |at: usize| Uuid::from_slice(&blob[at..at + 16]);
        let (Ok(key_id), Ok(material_id)) = (uuid_at(1), uuid_at(17)) else {
            return Err(KmsError::invalid_ciphertext());
        };
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&blob[33..HEADER_LEN]);
        Ok(Envelope {
            key_id,
            material_id,
            sealed: Sealed {
                iv,
                data: blob[HEADER_LEN..].to_vec(),
            },
        })
    }
}

/// The AAD for a blob of `key_id` / `material_id` under `context`.
pub fn aad(key_id: Uuid, material_id: Uuid, context: &EncryptionContext) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + context.len() * 32);
    out.extend_from_slice(AAD_DOMAIN);
    out.push(FORMAT_V1);
    out.extend_from_slice(key_id.as_bytes());
    out.extend_from_slice(material_id.as_bytes());
    push_len(&mut out, context.len());
    for (k, v) in context {
        push_len(&mut out, k.len());
        out.extend_from_slice(k.as_bytes());
        push_len(&mut out, v.len());
        out.extend_from_slice(v.as_bytes());
    }
    out
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    // Request size limits keep every length far below u32::MAX.
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope {
        Envelope {
            key_id: Uuid::from_u128(1),
            material_id: Uuid::from_u128(2),
            sealed: Sealed {
                iv: [7; IV_LEN],
                data: vec![9; 20],
            },
        }
    }

    #[test]
    fn round_trips() {
        let e = sample();
        assert_eq!(Envelope::parse(&e.to_bytes()), Ok(e));
    }

    #[test]
    fn rejects_short_and_unknown_versions() {
        let bytes = sample().to_bytes();
        assert!(Envelope::parse(&bytes[..HEADER_LEN + TAG_LEN - 1]).is_err());
        let mut other = bytes.clone();
        other[0] = 2;
        assert!(Envelope::parse(&other).is_err());
    }

    proptest::proptest! {
        /// Any bytes: a well-formed blob parses back to exactly its bytes, anything else
        /// is InvalidCiphertext; never a panic.
        #[test]
        fn any_blob_parses_or_is_invalid_ciphertext(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            v1 in proptest::bool::ANY,
        ) {
            let mut blob = bytes;
            if v1 && !blob.is_empty() {
                blob[0] = FORMAT_V1;
            }
            match Envelope::parse(&blob) {
                Ok(envelope) => proptest::prop_assert_eq!(envelope.to_bytes(), blob),
                Err(e) => proptest::prop_assert_eq!(e, KmsError::invalid_ciphertext()),
            }
        }
    }

    #[test]
    fn context_encoding_is_unambiguous() {
        let ids = (Uuid::from_u128(1), Uuid::from_u128(2));
        let one: EncryptionContext = [("ab".into(), "c".into())].into();
        let two: EncryptionContext = [("a".into(), "bc".into())].into();
        assert_ne!(aad(ids.0, ids.1, &one), aad(ids.0, ids.1, &two));
        assert!(!aad(ids.0, ids.1, &EncryptionContext::new()).is_empty());
    }
}
