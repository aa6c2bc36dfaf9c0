//! Encrypt, Decrypt and ReEncrypt with RSA ENCRYPT_DECRYPT keys through the AWS SDK: both
//! OAEP variants on every RSA key size, AWS's plaintext limits and refusals, and an
//! independent implementation (RustCrypto `rsa`) encrypting with the public key from
//! GetPublicKey for the daemon to decrypt.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{EncryptionAlgorithmSpec as Alg, KeySpec, KeyUsageType};
use aws_sdk_kms::Client;
use common::{assert_error, Daemon, VALIDATION};
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{Oaep, RsaPublicKey};

const INVALID_CIPHERTEXT: &str = "InvalidCiphertextException";

async fn rsa_key(client: &Client, spec: KeySpec) -> String {
    let created = client
        .create_key()
        .key_spec(spec)
        .key_usage(KeyUsageType::EncryptDecrypt)
        .send()
        .await
        .expect("CreateKey");
    created.key_metadata().unwrap().key_id().to_owned()
}

async fn public_key(client: &Client, key: &str) -> RsaPublicKey {
    let out = client
        .get_public_key()
        .key_id(key)
        .send()
        .await
        .expect("GetPublicKey");
    RsaPublicKey::from_public_key_der(out.public_key().unwrap().as_ref()).expect("SPKI")
}

async fn encrypt(client: &Client, key: &str, alg: Alg, plaintext: &[u8]) -> Vec<u8> {
    let out = client
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(plaintext))
        .encryption_algorithm(alg.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("Encrypt {alg:?}: {e:?}"));
    assert_eq!(out.encryption_algorithm(), Some(&alg));
    out.ciphertext_blob().unwrap().as_ref().to_vec()
}

async fn decrypt(client: &Client, key: &str, alg: Alg, ciphertext: &[u8]) -> Vec<u8> {
    let out = client
        .decrypt()
        .key_id(key)
        .ciphertext_blob(Blob::new(ciphertext))
        .encryption_algorithm(alg.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("Decrypt {alg:?}: {e:?}"));
    assert_eq!(out.encryption_algorithm(), Some(&alg));
    assert!(out.key_id().unwrap().ends_with(key));
    out.plaintext().unwrap().as_ref().to_vec()
}

/// The independent side's encryption with the same OAEP variant.
fn software_encrypt(public: &RsaPublicKey, alg: &Alg, plaintext: &[u8]) -> Vec<u8> {
    let padding = match alg {
        Alg::RsaesOaepSha1 => Oaep::new::<sha1::Sha1>(),
        _ => Oaep::new::<sha2::Sha256>(),
    };
    public
        .encrypt(&mut rsa::rand_core::OsRng, padding, plaintext)
        .expect("software encrypt")
}

#[tokio::test]
async fn every_rsa_size_and_oaep_variant_round_trips_and_takes_foreign_ciphertexts() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let sizes = [
        (KeySpec::Rsa2048, 214, 190),
        (KeySpec::Rsa3072, 342, 318),
        (KeySpec::Rsa4096, 470, 446),
    ];
    for (spec, sha1_max, sha256_max) in sizes {
        let key = rsa_key(&client, spec.clone()).await;
        let public = public_key(&client, &key).await;
        for (alg, max) in [
            (Alg::RsaesOaepSha1, sha1_max),
            (Alg::RsaesOaepSha256, sha256_max),
        ] {
            let longest: Vec<u8> = (0..max).map(|i| (i % 251) as u8).collect();
            for plaintext in [&b"x"[..], &longest] {
                let ciphertext = encrypt(&client, &key, alg.clone(), plaintext).await;
                assert_eq!(ciphertext.len(), public.size(), "{spec:?}");
                assert_eq!(
                    decrypt(&client, &key, alg.clone(), &ciphertext).await,
                    plaintext
                );
                let foreign = software_encrypt(&public, &alg, plaintext);
                assert_eq!(
                    decrypt(&client, &key, alg.clone(), &foreign).await,
                    plaintext
                );
            }
            let too_long = vec![7u8; max + 1];
            let refused = client
                .encrypt()
                .key_id(&key)
                .plaintext(Blob::new(too_long))
                .encryption_algorithm(alg.clone())
                .send()
                .await;
            assert_error(
                refused,
                VALIDATION,
                &format!(
                    "Algorithm {} and key spec {} cannot encrypt data larger than {max} bytes.",
                    alg.as_str(),
                    spec.as_str()
                ),
            );
        }
    }
}

#[tokio::test]
async fn bad_rsa_ciphertexts_and_requests_are_refused_as_aws_does() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let key = rsa_key(&client, KeySpec::Rsa2048).await;
    let ciphertext = encrypt(&client, &key, Alg::RsaesOaepSha256, b"secret").await;

    let mut tampered = ciphertext.clone();
    tampered[17] ^= 0x01;
    let wrong_variant = (Alg::RsaesOaepSha1, ciphertext.clone());
    for (alg, blob) in [(Alg::RsaesOaepSha256, tampered), wrong_variant] {
        let out = client
            .decrypt()
            .key_id(&key)
            .ciphertext_blob(Blob::new(blob))
            .encryption_algorithm(alg)
            .send()
            .await;
        assert_error(out, INVALID_CIPHERTEXT, "");
    }
    // Without the KeyId the bare RSA ciphertext names no key.
    let out = client
        .decrypt()
        .ciphertext_blob(Blob::new(ciphertext.clone()))
        .encryption_algorithm(Alg::RsaesOaepSha256)
        .send()
        .await;
    assert_error(out, INVALID_CIPHERTEXT, "");
    // Encryption context is a symmetric-key feature.
    let context_refusal =
        "EncryptionContext is not supported when encrypting/decrypting with asymmetric CMKs.";
    let out = client
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(&b"secret"[..]))
        .encryption_context("purpose", "test")
        .encryption_algorithm(Alg::RsaesOaepSha256)
        .send()
        .await;
    assert_error(out, VALIDATION, context_refusal);
    let out = client
        .decrypt()
        .key_id(&key)
        .ciphertext_blob(Blob::new(ciphertext))
        .encryption_context("purpose", "test")
        .encryption_algorithm(Alg::RsaesOaepSha256)
        .send()
        .await;
    assert_error(out, VALIDATION, context_refusal);
    // Symmetric keys do not take the RSA algorithms.
    let symmetric = common::new_key(&client).await;
    let out = client
        .encrypt()
        .key_id(&symmetric)
        .plaintext(Blob::new(&b"secret"[..]))
        .encryption_algorithm(Alg::RsaesOaepSha1)
        .send()
        .await;
    assert_error(
        out,
        "InvalidKeyUsageException",
        "Algorithm RSAES_OAEP_SHA_1 is incompatible with key spec SYMMETRIC_DEFAULT.",
    );
}

#[tokio::test]
async fn re_encrypt_moves_data_between_rsa_and_symmetric_keys() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let rsa = rsa_key(&client, KeySpec::Rsa2048).await;
    let symmetric = common::new_key(&client).await;
    let under_rsa = encrypt(&client, &rsa, Alg::RsaesOaepSha1, b"moving data").await;

    let out = client
        .re_encrypt()
        .ciphertext_blob(Blob::new(under_rsa))
        .source_key_id(&rsa)
        .source_encryption_algorithm(Alg::RsaesOaepSha1)
        .destination_key_id(&symmetric)
        .destination_encryption_context("to", "symmetric")
        .send()
        .await
        .expect("ReEncrypt from RSA");
    assert_eq!(out.source_encryption_algorithm(), Some(&Alg::RsaesOaepSha1));
    let under_symmetric = out.ciphertext_blob().unwrap().as_ref().to_vec();
    let back = client
        .decrypt()
        .ciphertext_blob(Blob::new(under_symmetric.clone()))
        .encryption_context("to", "symmetric")
        .send()
        .await
        .expect("Decrypt");
    assert_eq!(back.plaintext().unwrap().as_ref(), b"moving data");

    let out = client
        .re_encrypt()
        .ciphertext_blob(Blob::new(under_symmetric))
        .source_encryption_context("to", "symmetric")
        .destination_key_id(&rsa)
        .destination_encryption_algorithm(Alg::RsaesOaepSha256)
        .send()
        .await
        .expect("ReEncrypt to RSA");
    let under_rsa = out.ciphertext_blob().unwrap().as_ref().to_vec();
    assert_eq!(
        decrypt(&client, &rsa, Alg::RsaesOaepSha256, &under_rsa).await,
        b"moving data"
    );
}
