//! EXTERNAL origin for RSA and HMAC keys through the AWS SDK: material made by an
//! independent implementation (RustCrypto), wrapped as AWS documents, imported, and then
//! checked in software: the daemon's signatures verify, its MACs match, its RSA
//! decryption opens what software encrypted with the public key. EC keys cannot be
//! EXTERNAL here (docs/key-states.md says why).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    AlgorithmSpec, EncryptionAlgorithmSpec, KeySpec, KeyState, KeyUsageType, MacAlgorithmSpec,
    OriginType, SigningAlgorithmSpec, WrappingKeySpec,
};
use aws_sdk_kms::Client;
use common::import::{import, params, wrap};
use common::{assert_error, Daemon};
use hmac::{Hmac, Mac};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::{DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rsa::rand_core::OsRng;
use rsa::signature::Verifier;
use rsa::{Oaep, RsaPrivateKey};

async fn external(client: &Client, spec: KeySpec, usage: KeyUsageType) -> String {
    let created = client
        .create_key()
        .key_spec(spec)
        .key_usage(usage)
        .origin(OriginType::External)
        .send()
        .await
        .expect("CreateKey EXTERNAL");
    let meta = created.key_metadata().unwrap();
    assert_eq!(meta.key_state(), Some(&KeyState::PendingImport));
    meta.key_id().to_owned()
}

/// Imports `material` into `key` with `algorithm`, returning the material id.
async fn import_material(client: &Client, key: &str, algorithm: AlgorithmSpec, material: &[u8]) {
    let p = params(client, key, &algorithm, &WrappingKeySpec::Rsa3072).await;
    let wrapped = wrap(&algorithm, &p.public, material);
    import(client, key, &p.token, wrapped)
        .await
        .unwrap_or_else(|e| panic!("ImportKeyMaterial {algorithm:?}: {e:?}"));
    let meta = common::describe(client, key).await;
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
}

fn rsa_pkcs8(private: &RsaPrivateKey) -> Vec<u8> {
    private.to_pkcs8_der().expect("PKCS #8").as_bytes().to_vec()
}

#[tokio::test]
async fn imported_rsa_signing_keys_sign_what_software_verifies() {
    let mut daemon = Daemon::start();
    let client = daemon.client();
    let private = RsaPrivateKey::new(&mut OsRng, 2048).expect("software key");
    let key = external(&client, KeySpec::Rsa2048, KeyUsageType::SignVerify).await;
    import_material(
        &client,
        &key,
        AlgorithmSpec::RsaAesKeyWrapSha256,
        &rsa_pkcs8(&private),
    )
    .await;

    let out = client
        .get_public_key()
        .key_id(&key)
        .send()
        .await
        .expect("GetPublicKey");
    let expected = private.to_public_key().to_public_key_der().expect("SPKI");
    assert_eq!(out.public_key().unwrap().as_ref(), expected.as_bytes());

    let message = b"signed with imported material";
    let signed = client
        .sign()
        .key_id(&key)
        .message(Blob::new(&message[..]))
        .signing_algorithm(SigningAlgorithmSpec::RsassaPkcs1V15Sha256)
        .send()
        .await
        .expect("Sign");
    let verifier = VerifyingKey::<sha2::Sha256>::new(private.to_public_key());
    let signature = Signature::try_from(signed.signature().unwrap().as_ref()).expect("sig");
    verifier
        .verify(message, &signature)
        .expect("verifies in software");
    // Imported (not token-generated) halves pass the start-up checks and serve again.
    daemon.restart();
    let client = daemon.client();
    let verified = client
        .verify()
        .key_id(&key)
        .message(Blob::new(&message[..]))
        .signature(Blob::new(signed.signature().unwrap().as_ref()))
        .signing_algorithm(SigningAlgorithmSpec::RsassaPkcs1V15Sha256)
        .send()
        .await
        .expect("Verify after restart");
    assert!(verified.signature_valid());

    // The same material again after deletion is accepted; other material is not.
    client
        .delete_imported_key_material()
        .key_id(&key)
        .send()
        .await
        .expect("DeleteImportedKeyMaterial");
    import_material(
        &client,
        &key,
        AlgorithmSpec::RsaAesKeyWrapSha1,
        &rsa_pkcs8(&private),
    )
    .await;
    let other = RsaPrivateKey::new(&mut OsRng, 2048).expect("other key");
    let algorithm = AlgorithmSpec::RsaAesKeyWrapSha256;
    let p = params(&client, &key, &algorithm, &WrappingKeySpec::Rsa2048).await;
    assert_error(
        import(&client, &key, &p.token, wrap(&algorithm, &p.public, &rsa_pkcs8(&other))).await,
        "IncorrectKeyMaterialException",
        "The key material in the request is not the key material previously imported into this KMS key.",
    );
}

#[tokio::test]
async fn imported_rsa_encryption_keys_and_their_refusals() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let private = RsaPrivateKey::new(&mut OsRng, 2048).expect("software key");
    let key = external(&client, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;

    // One RSA-OAEP block cannot hold a private key: AWS's wrap-with-AES algorithms only.
    let refused = client
        .get_parameters_for_import()
        .key_id(&key)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await;
    assert_error(
        refused,
        common::VALIDATION,
        "WrappingAlgorithm RSAES_OAEP_SHA_256 cannot wrap RSA private key material: use RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256.",
    );
    // A key of another size is refused, naming what the spec takes.
    let wrong = RsaPrivateKey::new(&mut OsRng, 3072).expect("3072-bit key");
    let algorithm = AlgorithmSpec::RsaAesKeyWrapSha256;
    let p = params(&client, &key, &algorithm, &WrappingKeySpec::Rsa2048).await;
    assert_error(
        import(
            &client,
            &key,
            &p.token,
            wrap(&algorithm, &p.public, &rsa_pkcs8(&wrong)),
        )
        .await,
        "IncorrectKeyMaterialException",
        "The key material must be a 2048-bit RSA private key in PKCS #8 DER for a RSA_2048 key.",
    );

    import_material(&client, &key, algorithm, &rsa_pkcs8(&private)).await;
    let ciphertext = private
        .to_public_key()
        .encrypt(&mut OsRng, Oaep::new::<sha2::Sha256>(), b"for the token")
        .expect("software encrypt");
    let out = client
        .decrypt()
        .key_id(&key)
        .ciphertext_blob(Blob::new(ciphertext))
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await
        .expect("Decrypt");
    assert_eq!(out.plaintext().unwrap().as_ref(), b"for the token");
    let public = rsa::RsaPublicKey::from_public_key_der(
        client
            .get_public_key()
            .key_id(&key)
            .send()
            .await
            .expect("GetPublicKey")
            .public_key()
            .unwrap()
            .as_ref(),
    )
    .expect("SPKI");
    assert_eq!(public, private.to_public_key());
}

#[tokio::test]
async fn imported_hmac_keys_make_the_macs_software_makes() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let cases = [
        (
            KeySpec::Hmac256,
            MacAlgorithmSpec::HmacSha256,
            32,
            AlgorithmSpec::RsaesOaepSha1,
        ),
        (
            KeySpec::Hmac256,
            MacAlgorithmSpec::HmacSha256,
            64,
            AlgorithmSpec::RsaAesKeyWrapSha256,
        ),
        (
            KeySpec::Hmac512,
            MacAlgorithmSpec::HmacSha512,
            100,
            AlgorithmSpec::RsaesOaepSha256,
        ),
    ];
    for (spec, algorithm, len, wrapping) in cases {
        let secret: Vec<u8> = (0..len).map(|i| (i * 13 + 5) as u8).collect();
        let key = external(&client, spec.clone(), KeyUsageType::GenerateVerifyMac).await;
        import_material(&client, &key, wrapping.clone(), &secret).await;
        let message = b"authenticated by an imported key";
        let out = client
            .generate_mac()
            .key_id(&key)
            .message(Blob::new(&message[..]))
            .mac_algorithm(algorithm.clone())
            .send()
            .await
            .expect("GenerateMac");
        let expected = match algorithm {
            MacAlgorithmSpec::HmacSha512 => {
                let mut mac = Hmac::<sha2::Sha512>::new_from_slice(&secret).unwrap();
                mac.update(message);
                mac.finalize().into_bytes().to_vec()
            }
            _ => {
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&secret).unwrap();
                mac.update(message);
                mac.finalize().into_bytes().to_vec()
            }
        };
        assert_eq!(
            out.mac().unwrap().as_ref(),
            expected,
            "{spec:?} {wrapping:?}"
        );
    }
    // Material shorter than the digest is refused where its length shows (RFC 5649).
    let key = external(&client, KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;
    let algorithm = AlgorithmSpec::RsaAesKeyWrapSha1;
    let p = params(&client, &key, &algorithm, &WrappingKeySpec::Rsa2048).await;
    assert_error(
        import(
            &client,
            &key,
            &p.token,
            wrap(&algorithm, &p.public, &[1u8; 16]),
        )
        .await,
        "IncorrectKeyMaterialException",
        "The key material must be 32 to 64 bytes for a HMAC_256 key.",
    );
}
