//! RSAES-OAEP decoding on the host (RFC 8017 section 7.1.2), for tokens that offer raw RSA
//! (CKM_RSA_X_509) but not OAEP with SHA-256: the token does the private-key operation and
//! this removes the padding. Whether decoding failed, and why, must not show in its timing:
//! that difference is a decryption oracle (Manger, CRYPTO 2001). So every check runs on
//! every input, the results are combined without branching, and one decision is taken at
//! the end.

use sha2::digest::{Digest, FixedOutputReset, Output};
use sha2::Sha256;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::{Zeroize, Zeroizing};

/// OAEP decoding failed. One value on purpose: saying which check failed would tell the
/// caller something about the plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("decryption failed")]
pub struct OaepError;

/// Decodes the raw RSA decryption output `em` of an RSAES-OAEP ciphertext with SHA-256,
/// MGF1 with SHA-256 and an empty label, under a modulus of `modulus_len` bytes.
///
/// `em` may be shorter than the modulus (leading zero bytes dropped); it is left-padded.
pub fn oaep_sha256_decode(em: &[u8], modulus_len: usize) -> Result<Zeroizing<Vec<u8>>, OaepError> {
    decode::<Sha256>(em, modulus_len)
}

/// Encodes `message` for RSAES-OAEP with SHA-256, MGF1 with SHA-256 and an empty label
/// (RFC 8017 section 7.1.1) under a modulus of `modulus_len` bytes, with the random `seed`:
/// the encoded message that raw RSA (CKM_RSA_X_509) with the public key then encrypts.
/// `None` when the message is too long for the modulus.
pub fn oaep_sha256_encode(
    message: &[u8],
    modulus_len: usize,
    seed: &[u8; 32],
) -> Option<Zeroizing<Vec<u8>>> {
    let h_len = seed.len();
    let db_len = modulus_len.checked_sub(h_len + 1)?;
    let padding = db_len.checked_sub(h_len + 1 + message.len())?;
    let mut db = Zeroizing::new(Sha256::digest([]).to_vec());
    db.resize(h_len + padding, 0x00);
    db.push(0x01);
    db.extend_from_slice(message);
    Some(mask(0x00, seed, &db))
}

/// Masks `db` with `seed` into `Y || maskedSeed || maskedDB` (RFC 8017 7.1.1 steps 2.f to
/// 2.i).
fn mask(y: u8, seed: &[u8; 32], db: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut em = Zeroizing::new(Vec::with_capacity(1 + seed.len() + db.len()));
    em.push(y);
    em.extend_from_slice(seed);
    em.extend_from_slice(db);
    let (_, rest) = em.split_at_mut(1);
    let (masked_seed, masked_db) = rest.split_at_mut(seed.len());
    mgf1_xor::<Sha256>(masked_db, masked_seed);
    mgf1_xor::<Sha256>(masked_seed, masked_db);
    em
}

/// EME-OAEP decoding with hash `D` for both the label hash and MGF1.
fn decode<D: Digest + FixedOutputReset>(
    em: &[u8],
    modulus_len: usize,
) -> Result<Zeroizing<Vec<u8>>, OaepError> {
    let h_len = <D as Digest>::output_size();
    // Lengths are public: returning early on them reveals nothing about the plaintext.
    if modulus_len < 2 * h_len + 2 || em.len() > modulus_len {
        return Err(OaepError);
    }
    let mut buf = Zeroizing::new(vec![0u8; modulus_len]);
    buf[modulus_len - em.len()..].copy_from_slice(em);

    // EM = Y || maskedSeed || maskedDB, unmasked in place so no other copy of them exists.
    let (y, rest) = buf.split_at_mut(1);
    let (seed, db) = rest.split_at_mut(h_len);
    mgf1_xor::<D>(seed, db);
    mgf1_xor::<D>(db, seed);

    // DB = lHash' || PS (zero bytes) || 0x01 || M.
    let l_hash = D::digest([]);
    let (db_hash, tail) = db.split_at(h_len);
    let mut valid = y.ct_eq(&[0x00]) & db_hash.ct_eq(l_hash.as_slice());
    let mut looking = Choice::from(1);
    let mut separator = 0u64;
    // Scans the whole of DB whatever it holds, so the time does not tell where 0x01 is.
    for (i, byte) in tail.iter().enumerate() {
        let is_one = byte.ct_eq(&0x01);
        let is_zero = byte.ct_eq(&0x00);
        separator.conditional_assign(&(i as u64), looking & is_one);
        valid &= !(looking & !is_zero & !is_one);
        looking &= !is_one;
    }
    valid &= !looking;

    if !bool::from(valid) {
        return Err(OaepError);
    }
    // Past the decision the message length decides things; the caller learns it anyway.
    let start = usize::try_from(separator).map_err(|_| OaepError)? + 1;
    Ok(Zeroizing::new(tail[start..].to_vec()))
}

/// XORs MGF1 with hash `D` of `seed` (RFC 8017 B.2.1) into `out`, which is as long as the
/// mask: the mask itself is never stored whole.
fn mgf1_xor<D: Digest + FixedOutputReset>(out: &mut [u8], seed: &[u8]) {
    let mut hasher = D::new();
    let mut block = Output::<D>::default();
    for (counter, chunk) in (0u32..).zip(out.chunks_mut(<D as Digest>::output_size())) {
        Digest::update(&mut hasher, seed);
        Digest::update(&mut hasher, counter.to_be_bytes());
        Digest::finalize_into_reset(&mut hasher, &mut block);
        for (byte, mask) in chunk.iter_mut().zip(block.iter()) {
            *byte ^= mask;
        }
    }
    block.as_mut_slice().zeroize();
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use rsa::rand_core::OsRng;
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
    use rsa::{BigUint, Oaep, RsaPrivateKey};

    use super::*;

    /// SHA-256 output length.
    const H_LEN: usize = 32;

    /// One generated 2048-bit key for the whole module: generation is slow in debug builds.
    fn key() -> &'static RsaPrivateKey {
        static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
        KEY.get_or_init(|| RsaPrivateKey::new(&mut OsRng, 2048).expect("generate key"))
    }

    /// Encrypts `message` with the `rsa` crate's OAEP, then applies the bare private-key
    /// operation c^d mod n, as CKM_RSA_X_509 on a token does. Leading zeros are dropped.
    fn encrypt_then_raw_decrypt(message: &[u8]) -> Vec<u8> {
        let key = key();
        let ciphertext = key
            .to_public_key()
            .encrypt(&mut OsRng, Oaep::new::<Sha256>(), message)
            .expect("encrypt");
        BigUint::from_bytes_be(&ciphertext)
            .modpow(key.d(), key.n())
            .to_bytes_be()
    }

    /// Left-pads `em` to `k` bytes, as a token returns it.
    fn left_pad(em: &[u8], k: usize) -> Vec<u8> {
        let mut padded = vec![0u8; k - em.len()];
        padded.extend_from_slice(em);
        padded
    }

    /// A well-formed DB for `message` under a `k`-byte modulus: lHash || PS || 0x01 || M.
    fn valid_db(message: &[u8], k: usize) -> Vec<u8> {
        let mut db = Sha256::digest([]).to_vec();
        db.resize(k - H_LEN - 1 - message.len() - 1, 0x00);
        db.push(0x01);
        db.extend_from_slice(message);
        db
    }

    #[test]
    fn decodes_what_the_rsa_crate_encrypts() {
        let k = key().size();
        let max = k - 2 * H_LEN - 2;
        for len in [0, 1, 32, max] {
            let message: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let em = encrypt_then_raw_decrypt(&message);
            assert!(em.len() < k, "Y is zero, so the integer is shorter");
            let short = oaep_sha256_decode(&em, k).expect("decode unpadded");
            assert_eq!(*short, message, "length {len}, unpadded");
            let full = oaep_sha256_decode(&left_pad(&em, k), k).expect("decode padded");
            assert_eq!(*full, message, "length {len}, padded");
        }
    }

    #[test]
    fn message_bytes_like_the_separator_are_kept() {
        let k = key().size();
        let message = [0x00, 0x00, 0x01, 0x01, 0x00];
        let em = encrypt_then_raw_decrypt(&message);
        assert_eq!(*oaep_sha256_decode(&em, k).expect("decode"), message);
    }

    #[test]
    fn encoding_round_trips_and_the_rsa_crate_decrypts_it() {
        let key = key();
        let k = key.size();
        let message = b"encoded here";
        let em = oaep_sha256_encode(message, k, &[0x5a; H_LEN]).expect("fits");
        let ciphertext = BigUint::from_bytes_be(&em)
            .modpow(key.e(), key.n())
            .to_bytes_be();
        let decrypted = key
            .decrypt(Oaep::new::<Sha256>(), &left_pad(&ciphertext, k))
            .expect("decrypt");
        assert_eq!(decrypted, message);
        assert!(oaep_sha256_encode(&[0; 191], 256, &[0; H_LEN]).is_none());
        assert!(oaep_sha256_encode(&[0; 190], 256, &[0; H_LEN]).is_some());
    }

    #[test]
    fn test_masking_round_trips() {
        let k = 256;
        let message = b"hand-masked";
        let em = mask(0x00, &[0x5a; H_LEN], &valid_db(message, k));
        assert_eq!(em.len(), k);
        assert_eq!(
            *oaep_sha256_decode(&em, k).expect("decode"),
            message.as_slice()
        );
    }

    #[test]
    fn non_zero_first_byte_fails() {
        let k = key().size();
        let mut em = left_pad(&encrypt_then_raw_decrypt(b"secret"), k);
        em[0] = 0x01;
        assert_eq!(oaep_sha256_decode(&em, k), Err(OaepError));
    }

    #[test]
    fn wrong_label_hash_fails() {
        let k = 256;
        let mut db = valid_db(b"secret", k);
        db[H_LEN - 1] ^= 0x01;
        let em = mask(0x00, &[0x11; H_LEN], &db);
        assert_eq!(oaep_sha256_decode(&em, k), Err(OaepError));
    }

    #[test]
    fn missing_separator_fails() {
        let k = 256;
        // PS runs to the end of DB: every byte after lHash is zero.
        let mut db = valid_db(&[], k);
        if let Some(last) = db.last_mut() {
            *last = 0x00;
        }
        let em = mask(0x00, &[0x22; H_LEN], &db);
        assert_eq!(oaep_sha256_decode(&em, k), Err(OaepError));
    }

    #[test]
    fn non_zero_padding_before_separator_fails() {
        let k = 256;
        let mut db = valid_db(b"secret", k);
        db[H_LEN + 3] = 0x02;
        let em = mask(0x00, &[0x33; H_LEN], &db);
        assert_eq!(oaep_sha256_decode(&em, k), Err(OaepError));
    }

    #[test]
    fn flipped_masked_seed_byte_fails() {
        let k = key().size();
        let clean = left_pad(&encrypt_then_raw_decrypt(b"secret"), k);
        for position in [1, 16, H_LEN] {
            let mut em = clean.clone();
            em[position] ^= 0x80;
            assert_eq!(
                oaep_sha256_decode(&em, k),
                Err(OaepError),
                "byte {position}"
            );
        }
    }

    #[test]
    fn impossible_lengths_fail() {
        let em = encrypt_then_raw_decrypt(b"secret");
        let k = key().size();
        // Longer than the modulus.
        assert_eq!(oaep_sha256_decode(&vec![0u8; k + 1], k), Err(OaepError));
        // A modulus too short to hold two hashes and the separator.
        assert_eq!(
            oaep_sha256_decode(&em[..2 * H_LEN + 1], 2 * H_LEN + 1),
            Err(OaepError)
        );
        assert_eq!(oaep_sha256_decode(&[], 0), Err(OaepError));
    }

    #[test]
    fn every_failure_reads_the_same() {
        assert_eq!(OaepError.to_string(), "decryption failed");
    }
}
