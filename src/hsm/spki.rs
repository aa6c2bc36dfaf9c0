//! DER SubjectPublicKeyInfo (RFC 5280) of an RSA public key read from the token. Only the
//! few DER forms this one structure needs, written out by hand: a general encoder would be
//! a larger dependency than the structure it encodes.

/// DER tag of a SEQUENCE (constructed).
const SEQUENCE: u8 = 0x30;
/// DER tag of an INTEGER.
const INTEGER: u8 = 0x02;
/// DER tag of a BIT STRING.
const BIT_STRING: u8 = 0x03;

/// The whole AlgorithmIdentifier for rsaEncryption, OID 1.2.840.113549.1.1.1 with NULL
/// parameters (RFC 3279 section 2.3.1 requires the NULL, not an absent field).
const RSA_ENCRYPTION: [u8; 15] = [
    SEQUENCE, 0x0d, // AlgorithmIdentifier
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, // OID
    0x05, 0x00, // NULL
];

/// The DER SubjectPublicKeyInfo of the RSA public key with this modulus and exponent.
///
/// Both are big-endian unsigned integers as the token returns CKA_MODULUS and
/// CKA_PUBLIC_EXPONENT: leading zero bytes are allowed and dropped.
pub fn rsa_spki_der(modulus: &[u8], public_exponent: &[u8]) -> Vec<u8> {
    // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } (RFC 8017 A.1.1).
    let mut integers = Vec::with_capacity(modulus.len() + public_exponent.len() + 16);
    push_unsigned_integer(&mut integers, modulus);
    push_unsigned_integer(&mut integers, public_exponent);
    let mut bits = vec![0x00]; // the key fills whole bytes: no unused bits
    push_tlv(&mut bits, SEQUENCE, &integers);

    let mut body = Vec::with_capacity(RSA_ENCRYPTION.len() + bits.len() + 8);
    body.extend_from_slice(&RSA_ENCRYPTION);
    push_tlv(&mut body, BIT_STRING, &bits);
    let mut spki = Vec::with_capacity(body.len() + 8);
    push_tlv(&mut spki, SEQUENCE, &body);
    spki
}

/// Appends a non-negative INTEGER given as big-endian bytes in the minimal DER form.
fn push_unsigned_integer(out: &mut Vec<u8>, big_endian: &[u8]) {
    let first = big_endian
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(big_endian.len());
    let digits = &big_endian[first..];
    let mut content = Vec::with_capacity(digits.len() + 1);
    // A set high bit would read as negative; zero itself is one 0x00 byte, never empty.
    if digits.first().is_none_or(|&b| b & 0x80 != 0) {
        content.push(0x00);
    }
    content.extend_from_slice(digits);
    push_tlv(out, INTEGER, &content);
}

/// Appends tag, definite length and content.
fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    push_length(out, content.len());
    out.extend_from_slice(content);
}

/// Appends a definite length: one byte below 128, else 0x80 | count and the minimal
/// big-endian bytes.
fn push_length(out: &mut Vec<u8>, len: usize) {
    match u8::try_from(len) {
        Ok(short) if short < 0x80 => out.push(short),
        _ => {
            let bytes = len.to_be_bytes();
            let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
            let significant = &bytes[first..];
            // At most size_of::<usize>() bytes, so the count always fits in the low 7 bits.
            out.push(0x80 | significant.len() as u8);
            out.extend_from_slice(significant);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
    use rsa::rand_core::OsRng;
    use rsa::traits::PublicKeyParts;
    use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};
    use sha2::{Digest, Sha256};

    use super::*;

    /// One generated 2048-bit key for the whole module: generation is slow in debug builds.
    fn key_2048() -> &'static RsaPublicKey {
        static KEY: OnceLock<RsaPublicKey> = OnceLock::new();
        KEY.get_or_init(|| {
            RsaPrivateKey::new(&mut OsRng, 2048)
                .expect("generate key")
                .to_public_key()
        })
    }

    /// A fixed odd modulus of exactly `bits` bits (a multiple of 8). Not a product of two
    /// primes, which nothing here needs: the encoding only sees bytes.
    fn built_modulus(bits: usize) -> Vec<u8> {
        let mut n = Vec::with_capacity(bits / 8 + 32);
        let mut counter = 0u32;
        while n.len() < bits / 8 {
            n.extend_from_slice(&Sha256::digest(counter.to_be_bytes()));
            counter += 1;
        }
        n.truncate(bits / 8);
        n[0] |= 0x80;
        if let Some(last) = n.last_mut() {
            *last |= 0x01;
        }
        n
    }

    /// Parses `der` with the `rsa` crate and checks it names exactly this key, and that the
    /// bytes are the ones that crate's own encoder writes.
    fn assert_round_trip(der: &[u8], key: &RsaPublicKey) {
        let parsed = RsaPublicKey::from_public_key_der(der).expect("parse SPKI");
        assert_eq!(parsed.n(), key.n());
        assert_eq!(parsed.e(), key.e());
        let reference = key.to_public_key_der().expect("encode SPKI");
        assert_eq!(der, reference.as_bytes());
    }

    #[test]
    fn generated_2048_bit_key_round_trips() {
        let key = key_2048();
        let der = rsa_spki_der(&key.n().to_bytes_be(), &key.e().to_bytes_be());
        assert_round_trip(&der, key);
    }

    #[test]
    fn built_moduli_round_trip_at_every_length_form() {
        // 1024 bits: the INTEGER needs one length byte (0x81); 3072 and 4096 need two.
        for bits in [1024, 2048, 3072, 4096] {
            let n = built_modulus(bits);
            let key = RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from(65_537u32))
                .expect("valid public key");
            let der = rsa_spki_der(&n, &[0x01, 0x00, 0x01]);
            assert_round_trip(&der, &key);
            let parsed = RsaPublicKey::from_public_key_der(&der).expect("parse SPKI");
            assert_eq!(parsed.n().bits(), bits);
        }
    }

    #[test]
    fn leading_zero_bytes_are_stripped() {
        let key = key_2048();
        let mut padded_n = vec![0x00, 0x00, 0x00];
        padded_n.extend_from_slice(&key.n().to_bytes_be());
        // Some tokens return the exponent as a fixed-width 4- or 8-byte field.
        let padded_e = [0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01];
        let der = rsa_spki_der(&padded_n, &padded_e);
        assert_round_trip(&der, key);
        assert_eq!(
            der,
            rsa_spki_der(&key.n().to_bytes_be(), &key.e().to_bytes_be())
        );
    }

    #[test]
    fn small_key_matches_hand_encoding() {
        // n = 0xc5 needs a 0x00 pad for its high bit; e = 3 does not.
        let der = rsa_spki_der(&[0x00, 0x00, 0xc5], &[0x03]);
        let expected = [
            0x30, 0x1b, // SubjectPublicKeyInfo
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05,
            0x00, // rsaEncryption, NULL
            0x03, 0x0a, 0x00, // BIT STRING, no unused bits
            0x30, 0x07, // RSAPublicKey
            0x02, 0x02, 0x00, 0xc5, // n
            0x02, 0x01, 0x03, // e
        ];
        assert_eq!(der, expected);
    }

    #[test]
    fn integers_are_minimal() {
        let cases: [(&[u8], &[u8]); 5] = [
            (&[], &[0x02, 0x01, 0x00]),
            (&[0x00, 0x00], &[0x02, 0x01, 0x00]),
            (&[0x7f], &[0x02, 0x01, 0x7f]),
            (&[0x80], &[0x02, 0x02, 0x00, 0x80]),
            (&[0x00, 0x01, 0x00], &[0x02, 0x02, 0x01, 0x00]),
        ];
        for (input, expected) in cases {
            let mut out = Vec::new();
            push_unsigned_integer(&mut out, input);
            assert_eq!(out, expected, "input {input:02x?}");
        }
    }

    #[test]
    fn lengths_use_the_short_form_below_128_and_minimal_long_form_above() {
        let cases: [(usize, &[u8]); 7] = [
            (0, &[0x00]),
            (127, &[0x7f]),
            (128, &[0x81, 0x80]),
            (255, &[0x81, 0xff]),
            (256, &[0x82, 0x01, 0x00]),
            (65_535, &[0x82, 0xff, 0xff]),
            (65_536, &[0x83, 0x01, 0x00, 0x00]),
        ];
        for (len, expected) in cases {
            let mut out = Vec::new();
            push_length(&mut out, len);
            assert_eq!(out, expected, "length {len}");
        }
    }
}
