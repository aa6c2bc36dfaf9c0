//! DER SubjectPublicKeyInfo (RFC 5280) of RSA and EC public keys read from the token, the
//! PKCS#8 PrivateKeyInfo (RFC 5958) of data key pairs, the EC point in a peer's SPKI, and
//! ECDSA signatures between the token's r || s and DER. Only the few DER forms these
//! structures need, written out by hand: a general encoder would be a larger dependency
//! than the structures it encodes.

use zeroize::Zeroizing;

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

/// DER tag of an OCTET STRING.
const OCTET_STRING: u8 = 0x04;

/// OID 1.2.840.10045.2.1, id-ecPublicKey (RFC 5480 section 2.1.1).
const EC_PUBLIC_KEY: [u8; 9] = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// The DER SubjectPublicKeyInfo of an EC public key: `curve_oid` is the DER OID of the
/// named curve, `point` the uncompressed point (0x04 || x || y).
pub fn ec_spki_der(curve_oid: &[u8], point: &[u8]) -> Vec<u8> {
    let mut algorithm = Vec::with_capacity(EC_PUBLIC_KEY.len() + curve_oid.len());
    algorithm.extend_from_slice(&EC_PUBLIC_KEY);
    algorithm.extend_from_slice(curve_oid);
    let mut bits = Vec::with_capacity(point.len() + 1);
    bits.push(0x00);
    bits.extend_from_slice(point);
    let mut body = Vec::with_capacity(algorithm.len() + bits.len() + 8);
    push_tlv(&mut body, SEQUENCE, &algorithm);
    push_tlv(&mut body, BIT_STRING, &bits);
    let mut spki = Vec::with_capacity(body.len() + 4);
    push_tlv(&mut spki, SEQUENCE, &body);
    spki
}

/// The uncompressed point in a CKA_EC_POINT value, which PKCS#11 wraps in a DER OCTET
/// STRING (some tokens return it bare); `None` for anything else.
pub fn ec_point(value: &[u8], field_len: usize) -> Option<&[u8]> {
    let bare = 1 + 2 * field_len;
    let point = if value.len() == bare {
        value
    } else {
        let (tag, content, rest) = read_tlv(value)?;
        if tag != OCTET_STRING || !rest.is_empty() {
            return None;
        }
        content
    };
    (point.len() == bare && point.first() == Some(&0x04)).then_some(point)
}

/// The DER ECDSA-Sig-Value (RFC 3279 section 2.2.3) of the token's r || s.
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return None;
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut integers = Vec::with_capacity(raw.len() + 8);
    push_unsigned_integer(&mut integers, r);
    push_unsigned_integer(&mut integers, s);
    let mut der = Vec::with_capacity(integers.len() + 4);
    push_tlv(&mut der, SEQUENCE, &integers);
    Some(der)
}

/// The r || s (each `field_len` bytes) of a DER ECDSA-Sig-Value; `None` unless the DER is
/// strict (minimal lengths and integers, nothing after) and r and s are positive and fit.
pub fn ecdsa_der_to_raw(der: &[u8], field_len: usize) -> Option<Vec<u8>> {
    let (tag, content, rest) = read_tlv(der)?;
    if tag != SEQUENCE || !rest.is_empty() {
        return None;
    }
    let (r, content) = read_positive_integer(content)?;
    let (s, content) = read_positive_integer(content)?;
    if !content.is_empty() || r.len() > field_len || s.len() > field_len {
        return None;
    }
    let mut raw = vec![0u8; 2 * field_len];
    raw[field_len - r.len()..field_len].copy_from_slice(r);
    raw[2 * field_len - s.len()..].copy_from_slice(s);
    Some(raw)
}

/// A minimal DER INTEGER that is positive: its magnitude bytes and what follows it.
fn read_positive_integer(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, content, rest) = read_tlv(input)?;
    if tag != INTEGER {
        return None;
    }
    let digits = match content {
        [] | [0x00] => return None,
        [0x00, next, ..] if next & 0x80 == 0 => return None,
        [0x00, digits @ ..] => digits,
        [first, ..] if first & 0x80 != 0 => return None,
        digits => digits,
    };
    Some((digits, rest))
}

/// One TLV with a minimal definite length: its tag, content and the bytes after it.
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        short if short < 0x80 => (usize::from(short), rest),
        0x81 => {
            let (&len, rest) = rest.split_first()?;
            if len < 0x80 {
                return None;
            }
            (usize::from(len), rest)
        }
        0x82 => {
            let bytes = rest.get(..2)?;
            let len = usize::from(bytes[0]) << 8 | usize::from(bytes[1]);
            if len < 0x100 {
                return None;
            }
            (len, &rest[2..])
        }
        _ => return None,
    };
    if rest.len() < len {
        return None;
    }
    let (content, rest) = rest.split_at(len);
    Some((tag, content, rest))
}

/// The significant bytes of a big-endian unsigned integer, and whether DER needs a 0x00
/// before them: a set high bit would read as negative, and zero is one 0x00 byte.
fn integer_digits(big_endian: &[u8]) -> (&[u8], bool) {
    let first = big_endian
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(big_endian.len());
    let digits = &big_endian[first..];
    (digits, digits.first().is_none_or(|&b| b & 0x80 != 0))
}

/// Bytes of the minimal DER INTEGER of a big-endian unsigned integer, header included.
fn integer_size(big_endian: &[u8]) -> usize {
    let (digits, pad) = integer_digits(big_endian);
    tlv_size(digits.len() + usize::from(pad))
}

/// Appends a non-negative INTEGER given as big-endian bytes in the minimal DER form. Writes
/// straight into `out`: no copy of a private value is left anywhere else.
fn push_unsigned_integer(out: &mut Vec<u8>, big_endian: &[u8]) {
    let (digits, pad) = integer_digits(big_endian);
    push_header(out, INTEGER, digits.len() + usize::from(pad));
    if pad {
        out.push(0x00);
    }
    out.extend_from_slice(digits);
}

/// Appends tag, definite length and content.
fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    push_header(out, tag, content.len());
    out.extend_from_slice(content);
}

/// Appends a tag and the definite length of content that the caller writes next.
fn push_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    push_length(out, len);
}

/// Bytes of a TLV whose content is `len` bytes.
fn tlv_size(len: usize) -> usize {
    let length_bytes = match u8::try_from(len) {
        Ok(short) if short < 0x80 => 1,
        _ => 1 + (usize::BITS - len.leading_zeros()).div_ceil(8) as usize,
    };
    1 + length_bytes + len
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

/// DER tag of the context-specific constructed [0] (ECPrivateKey parameters).
const CONTEXT_0: u8 = 0xa0;
/// DER tag of the context-specific constructed [1] (ECPrivateKey publicKey).
const CONTEXT_1: u8 = 0xa1;
/// INTEGER 0: the version of PrivateKeyInfo and of a two-prime RSAPrivateKey.
const VERSION_0: [u8; 3] = [INTEGER, 0x01, 0x00];
/// INTEGER 1: the version of ECPrivateKey (RFC 5915).
const VERSION_1: [u8; 3] = [INTEGER, 0x01, 0x01];

/// The integers of an RSA private key, big-endian as the token returns them, in
/// RSAPrivateKey order: n, e, d, p, q, d mod (p-1), d mod (q-1), q^-1 mod p.
pub type RsaPrivateParts<'a> = [&'a [u8]; 8];

/// The PKCS#8 PrivateKeyInfo of an RSA private key (RSAPrivateKey, RFC 8017 A.1.2), in a
/// buffer sized exactly once so that it never leaves a copy behind by growing.
pub fn rsa_pkcs8_der(parts: &RsaPrivateParts<'_>) -> Zeroizing<Vec<u8>> {
    let integers = VERSION_0.len() + parts.iter().map(|p| integer_size(p)).sum::<usize>();
    let key = tlv_size(integers);
    let body = VERSION_0.len() + RSA_ENCRYPTION.len() + tlv_size(key);
    let mut der = Zeroizing::new(Vec::with_capacity(tlv_size(body)));
    push_header(&mut der, SEQUENCE, body);
    der.extend_from_slice(&VERSION_0);
    der.extend_from_slice(&RSA_ENCRYPTION);
    push_header(&mut der, OCTET_STRING, key);
    push_header(&mut der, SEQUENCE, integers);
    der.extend_from_slice(&VERSION_0);
    for part in parts {
        push_unsigned_integer(&mut der, part);
    }
    der
}

/// The PKCS#8 PrivateKeyInfo of an EC private key: ECPrivateKey (RFC 5915) with the
/// scalar `d` as `field_len` bytes, the named curve and the uncompressed public `point`.
/// Sized exactly once, as for RSA. `None` if `d` does not fit `field_len` bytes.
pub fn ec_pkcs8_der(
    curve_oid: &[u8],
    field_len: usize,
    d: &[u8],
    point: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let (digits, _) = integer_digits(d);
    let padding = field_len.checked_sub(digits.len())?;
    let bits = tlv_size(point.len() + 1);
    let key = VERSION_1.len() + tlv_size(field_len) + tlv_size(curve_oid.len()) + tlv_size(bits);
    let algorithm = EC_PUBLIC_KEY.len() + curve_oid.len();
    let body = VERSION_0.len() + tlv_size(algorithm) + tlv_size(tlv_size(key));
    let mut der = Zeroizing::new(Vec::with_capacity(tlv_size(body)));
    push_header(&mut der, SEQUENCE, body);
    der.extend_from_slice(&VERSION_0);
    push_header(&mut der, SEQUENCE, algorithm);
    der.extend_from_slice(&EC_PUBLIC_KEY);
    der.extend_from_slice(curve_oid);
    push_header(&mut der, OCTET_STRING, tlv_size(key));
    push_header(&mut der, SEQUENCE, key);
    der.extend_from_slice(&VERSION_1);
    push_header(&mut der, OCTET_STRING, field_len);
    let padded = der.len() + padding;
    der.resize(padded, 0x00);
    der.extend_from_slice(digits);
    push_tlv(&mut der, CONTEXT_0, curve_oid);
    push_header(&mut der, CONTEXT_1, bits);
    push_header(&mut der, BIT_STRING, point.len() + 1);
    der.push(0x00);
    der.extend_from_slice(point);
    Some(der)
}

/// The uncompressed point of an EC SubjectPublicKeyInfo on the curve `curve_oid` (a peer's
/// public key), or `None` when the DER is not one, names another curve or another
/// algorithm, or carries a compressed point.
pub fn ec_spki_point<'a>(spki: &'a [u8], curve_oid: &[u8], field_len: usize) -> Option<&'a [u8]> {
    let (tag, body, rest) = read_tlv(spki)?;
    if tag != SEQUENCE || !rest.is_empty() {
        return None;
    }
    let (tag, algorithm, body) = read_tlv(body)?;
    let (bits_tag, bits, rest) = read_tlv(body)?;
    let expected = [&EC_PUBLIC_KEY[..], curve_oid].concat();
    if tag != SEQUENCE || algorithm != expected || bits_tag != BIT_STRING || !rest.is_empty() {
        return None;
    }
    let point = bits.strip_prefix(&[0x00])?;
    (point.len() == 1 + 2 * field_len && point.first() == Some(&0x04)).then_some(point)
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
    use rsa::rand_core::OsRng;
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
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
    fn ecdsa_signatures_round_trip_between_raw_and_der() {
        // r has its high bit set (needs a 0x00 pad), s has leading zero bytes (dropped).
        let mut raw = vec![0u8; 64];
        raw[0] = 0x80;
        raw[31] = 0x01;
        raw[34] = 0x7f;
        raw[63] = 0x02;
        let der = ecdsa_raw_to_der(&raw).expect("encode");
        assert_eq!(&der[..5], &[0x30, 0x43, 0x02, 0x21, 0x00]);
        assert_eq!(ecdsa_der_to_raw(&der, 32), Some(raw.clone()));
        // P-521: 66-byte halves and a two-byte DER length.
        let raw = vec![0x01; 132];
        let der = ecdsa_raw_to_der(&raw).expect("encode");
        assert_eq!(&der[..3], &[0x30, 0x81, 0x88]);
        assert_eq!(ecdsa_der_to_raw(&der, 66), Some(raw));
    }

    #[test]
    fn malformed_ecdsa_der_is_refused() {
        let good = ecdsa_raw_to_der(&[0x11; 64]).expect("encode");
        let mut trailing = good.clone();
        trailing.push(0x00);
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            good[..good.len() - 1].to_vec(),
            trailing,
            // r = 0, a negative s, a non-minimal r, and an r too large for P-256.
            vec![0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01],
            vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x80],
            vec![0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01],
            [
                vec![0x30, 0x26, 0x02, 0x21],
                vec![0x01; 33],
                vec![0x02, 0x01, 0x01],
            ]
            .concat(),
            // A long-form length that fits the short form.
            [
                vec![0x30, 0x81, 0x06],
                vec![0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
            ]
            .concat(),
        ];
        for der in cases {
            assert_eq!(ecdsa_der_to_raw(&der, 32), None, "{der:02x?}");
        }
    }

    #[test]
    fn ec_points_are_taken_bare_or_from_their_octet_string() {
        let point: Vec<u8> = [vec![0x04], vec![0xab; 64]].concat();
        let wrapped = [vec![0x04, 0x41], point.clone()].concat();
        assert_eq!(ec_point(&wrapped, 32), Some(&point[..]));
        assert_eq!(ec_point(&point, 32), Some(&point[..]));
        assert_eq!(ec_point(&wrapped[..66], 32), None);
        let compressed = [vec![0x04, 0x21, 0x02], vec![0xab; 32]].concat();
        assert_eq!(ec_point(&compressed, 32), None);
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

    /// Checks the buffer was sized exactly: it never grew, so it left no copy behind.
    fn assert_exact(der: &Zeroizing<Vec<u8>>) {
        assert_eq!(der.len(), der.capacity());
    }

    #[test]
    fn rsa_private_keys_encode_as_the_rsa_crate_does() {
        use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
        let key = RsaPrivateKey::new(&mut OsRng, 1024).expect("generate key");
        let [p, q] = [&key.primes()[0], &key.primes()[1]];
        let crt = [key.dp(), key.dq()].map(|v| v.expect("precomputed").to_bytes_be());
        let qinv = key.crt_coefficient().expect("precomputed").to_bytes_be();
        let ints = [key.n(), key.e(), key.d(), p, q].map(|v| v.to_bytes_be());
        let parts = [
            &ints[0][..],
            &ints[1],
            &ints[2],
            &ints[3],
            &ints[4],
            &crt[0],
            &crt[1],
            &qinv,
        ];
        let der = rsa_pkcs8_der(&parts);
        assert_exact(&der);
        let parsed = RsaPrivateKey::from_pkcs8_der(&der).expect("parse PKCS#8");
        assert_eq!(parsed, key);
        assert_eq!(&der[..], key.to_pkcs8_der().expect("encode").as_bytes());
    }

    #[test]
    fn ec_private_keys_parse_with_their_curve_and_public_key() {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        use p256::pkcs8::DecodePrivateKey;
        // A scalar with a leading zero byte, which a token may return without it.
        let mut d = [0x5a; 32];
        d[0] = 0x00;
        let key = p256::SecretKey::from_slice(&d).expect("valid scalar");
        let point = key.public_key().to_encoded_point(false);
        let oid = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        for scalar in [&d[..], &d[1..]] {
            let der = ec_pkcs8_der(&oid, 32, scalar, point.as_bytes()).expect("encode");
            assert_exact(&der);
            let parsed = p256::SecretKey::from_pkcs8_der(&der).expect("parse PKCS#8");
            assert_eq!(parsed, key);
        }
        let full = [0xff; 32];
        assert!(ec_pkcs8_der(&oid, 31, &full, point.as_bytes()).is_none());
    }

    #[test]
    fn p521_private_keys_use_long_form_lengths() {
        use p521::elliptic_curve::sec1::ToEncodedPoint;
        use p521::pkcs8::DecodePrivateKey;
        let key = p521::SecretKey::random(&mut OsRng);
        let point = key.public_key().to_encoded_point(false);
        let oid = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23];
        let der = ec_pkcs8_der(&oid, 66, &key.to_bytes(), point.as_bytes()).expect("encode");
        assert_exact(&der);
        assert_eq!(&der[..2], &[0x30, 0x81]);
        let parsed = p521::SecretKey::from_pkcs8_der(&der).expect("parse PKCS#8");
        assert_eq!(parsed.to_bytes(), key.to_bytes());
    }

    #[test]
    fn peer_points_are_read_from_an_spki_on_the_same_curve_only() {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        use p256::pkcs8::EncodePublicKey;
        let public = p256::SecretKey::random(&mut OsRng).public_key();
        let der = public.to_public_key_der().expect("encode");
        let p256_oid = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        let p384_oid = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
        let point = public.to_encoded_point(false);
        assert_eq!(
            ec_spki_point(der.as_bytes(), &p256_oid, 32),
            Some(point.as_bytes())
        );
        assert_eq!(ec_spki_point(der.as_bytes(), &p384_oid, 48), None);
        let compressed = public.to_encoded_point(true);
        let compressed_der = ec_spki_der(&p256_oid, compressed.as_bytes());
        assert_eq!(ec_spki_point(&compressed_der, &p256_oid, 32), None);
        let rsa = rsa_spki_der(&key_2048().n().to_bytes_be(), &[0x01, 0x00, 0x01]);
        assert_eq!(ec_spki_point(&rsa, &p256_oid, 32), None);
        assert_eq!(ec_spki_point(b"InvalidPublicKey", &p256_oid, 32), None);
        assert_eq!(ec_spki_point(&der.as_bytes()[..40], &p256_oid, 32), None);
    }

    #[test]
    fn tlv_sizes_match_what_is_written() {
        for len in [0, 1, 127, 128, 255, 256, 65_535, 65_536] {
            let mut out = Vec::new();
            push_tlv(&mut out, OCTET_STRING, &vec![0u8; len]);
            assert_eq!(out.len(), tlv_size(len), "length {len}");
        }
    }
}
