//! DeriveSharedSecret and GenerateDataKeyPair(WithoutPlaintext) through the AWS SDK against
//! the real daemon: ECDH secrets checked against RustCrypto on the other side, data key
//! pairs parsed, matched, used and decrypted with RustCrypto, and the refusals AWS answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::operation::derive_shared_secret::{
    DeriveSharedSecretError, DeriveSharedSecretOutput,
};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    DataKeyPairSpec, KeyAgreementAlgorithmSpec, KeyEncryptionMechanism, KeySpec, KeyUsageType,
    OriginType, RecipientInfo,
};
use aws_sdk_kms::Client;
use common::{assert_error, context, Daemon, VALIDATION};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use rsa::rand_core::OsRng;
use sha2::Sha256;

type Derived =
    Result<DeriveSharedSecretOutput, aws_sdk_kms::error::SdkError<DeriveSharedSecretError>>;

const INVALID_USAGE: &str = "InvalidKeyUsageException";
const INVALID_STATE: &str = "KMSInvalidStateException";
const UNSUPPORTED: &str = "UnsupportedOperationException";
const MESSAGE: &[u8] = b"a message signed with a data key pair";

async fn create(client: &Client, spec: KeySpec, usage: KeyUsageType) -> String {
    let created = client
        .create_key()
        .key_spec(spec.clone())
        .key_usage(usage.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateKey {spec:?} {usage:?}: {e:?}"));
    created.key_metadata().unwrap().key_id().to_owned()
}

async fn public_key(client: &Client, key: &str) -> Vec<u8> {
    let out = client
        .get_public_key()
        .key_id(key)
        .send()
        .await
        .expect("GetPublicKey");
    out.public_key().expect("PublicKey").as_ref().to_vec()
}

async fn derive(client: &Client, key: &str, peer: &[u8]) -> Derived {
    client
        .derive_shared_secret()
        .key_id(key)
        .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
        .public_key(Blob::new(peer))
        .send()
        .await
}

/// For one curve: a KMS KEY_AGREEMENT key and a RustCrypto key pair agree on the secret,
/// each side computing it with its private key and the other's public key.
macro_rules! agree_with_rustcrypto {
    ($daemon:expr, $curve:ident, $spec:expr) => {{
        let client = $daemon.client();
        let key = create(&client, $spec, KeyUsageType::KeyAgreement).await;
        let kms_public = $curve::PublicKey::from_public_key_der(&public_key(&client, &key).await)
            .expect("KMS SPKI");
        // Several peers: a secret with leading zero bytes must keep its full length.
        for _ in 0..4 {
            let ours = $curve::SecretKey::random(&mut OsRng);
            let ours_spki = ours.public_key().to_public_key_der().expect("SPKI");
            let out = derive(&client, &key, ours_spki.as_bytes())
                .await
                .expect("Derive");
            let expected =
                $curve::ecdh::diffie_hellman(ours.to_nonzero_scalar(), kms_public.as_affine());
            let secret = out.shared_secret().expect("SharedSecret").as_ref();
            assert_eq!(
                secret,
                expected.raw_secret_bytes().as_slice(),
                "{:?}",
                $spec
            );
            assert_eq!(out.key_id(), Some($daemon.key_arn(&key).as_str()));
            assert_eq!(
                out.key_agreement_algorithm(),
                Some(&KeyAgreementAlgorithmSpec::Ecdh)
            );
            assert_eq!(out.key_origin(), Some(&OriginType::AwsKms));
        }
    }};
}

#[tokio::test]
async fn ecdh_agrees_with_rustcrypto_on_every_nist_curve() {
    let daemon = Daemon::start();
    agree_with_rustcrypto!(daemon, p256, KeySpec::EccNistP256);
    agree_with_rustcrypto!(daemon, p384, KeySpec::EccNistP384);
    agree_with_rustcrypto!(daemon, p521, KeySpec::EccNistP521);
}

#[tokio::test]
async fn two_kms_keys_derive_the_same_secret_and_aliases_name_keys() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let alice = create(&client, KeySpec::EccNistP384, KeyUsageType::KeyAgreement).await;
    let bob = create(&client, KeySpec::EccNistP384, KeyUsageType::KeyAgreement).await;
    client
        .create_alias()
        .alias_name("alias/bob")
        .target_key_id(&bob)
        .send()
        .await
        .expect("CreateAlias");
    let a = derive(&client, &alice, &public_key(&client, &bob).await).await;
    let b = derive(&client, "alias/bob", &public_key(&client, &alice).await).await;
    let (a, b) = (a.expect("Alice derives"), b.expect("Bob derives"));
    assert_eq!(a.shared_secret().unwrap().as_ref().len(), 48);
    assert_eq!(a.shared_secret(), b.shared_secret());
}

#[tokio::test]
async fn peer_keys_that_are_malformed_or_on_another_curve_are_validation_errors() {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let daemon = Daemon::start();
    let client = daemon.client();
    let key = create(&client, KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await;
    let p256_public = p256::SecretKey::random(&mut OsRng).public_key();
    let good = p256_public.to_public_key_der().unwrap().as_bytes().to_vec();
    // The same SPKI with the point's last byte changed: almost surely off the curve.
    let mut off_curve = good.clone();
    *off_curve.last_mut().unwrap() ^= 0x01;
    // SEQUENCE { the same AlgorithmIdentifier, BIT STRING { 0x00, 0x02|0x03 || x } }.
    let point = p256_public.to_encoded_point(true);
    let compressed = [
        &[0x30, 0x39][..],
        &good[2..23],
        &[0x03, 0x22, 0x00],
        point.as_bytes(),
    ]
    .concat();
    let other_curve = p384::SecretKey::random(&mut OsRng).public_key();
    let rsa = rsa::RsaPrivateKey::new(&mut OsRng, 1024)
        .unwrap()
        .to_public_key();
    let peers = [
        other_curve.to_public_key_der().unwrap().as_bytes().to_vec(),
        rsa.to_public_key_der().unwrap().as_bytes().to_vec(),
        b"InvalidPublicKey".to_vec(),
        good[..good.len() - 1].to_vec(),
        compressed,
        off_curve,
    ];
    for peer in peers {
        assert_error(derive(&client, &key, &peer).await, VALIDATION, "");
    }
    derive(&client, &key, &good)
        .await
        .expect("the well-formed key still works");
}

#[tokio::test]
async fn derive_shared_secret_refuses_other_usages_states_and_members_as_aws_does() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let peer = p256::SecretKey::random(&mut OsRng).public_key();
    let peer = peer.to_public_key_der().unwrap().as_bytes().to_vec();
    let signing = create(&client, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let symmetric = common::new_key(&client).await;
    for (key, usage) in [(&signing, "SIGN_VERIFY"), (&symmetric, "ENCRYPT_DECRYPT")] {
        assert_error(
            derive(&client, key, &peer).await,
            INVALID_USAGE,
            &format!(
                "{} key usage is {usage} which is not valid for DeriveSharedSecret.",
                daemon.key_arn(key)
            ),
        );
    }

    let key = create(&client, KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await;
    let arn = daemon.key_arn(&key);
    let dry = client
        .derive_shared_secret()
        .key_id(&key)
        .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
        .public_key(Blob::new(peer.clone()))
        .dry_run(true)
        .send()
        .await;
    assert_error(
        dry,
        "DryRunOperationException",
        "The request would have succeeded, but the DryRun option is set.",
    );
    let recipient = RecipientInfo::builder()
        .key_encryption_algorithm(KeyEncryptionMechanism::RsaesOaepSha256)
        .attestation_document(Blob::new(b"attestation".to_vec()))
        .build();
    let attested = client
        .derive_shared_secret()
        .key_id(&key)
        .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
        .public_key(Blob::new(peer.clone()))
        .recipient(recipient)
        .send()
        .await;
    assert_error(
        attested,
        UNSUPPORTED,
        "Recipient (attested enclave) requests are not supported.",
    );
    let (status, body, _) = daemon.raw(
        Some("TrentService.DeriveSharedSecret"),
        &format!(r#"{{"KeyId":"{key}","KeyAgreementAlgorithm":"ECDH_X","PublicKey":"AA=="}}"#),
    );
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "1 validation error detected: Value 'ECDH_X' at 'keyAgreementAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [ECDH]"
    );

    common::disable_key(&client, &key).await;
    assert_error(
        derive(&client, &key, &peer).await,
        "DisabledException",
        &format!("{arn} is disabled."),
    );
    common::schedule_deletion(&client, &key).await;
    assert_error(
        derive(&client, &key, &peer).await,
        INVALID_STATE,
        &format!("{arn} is pending deletion."),
    );
}

/// One data key pair as the SDK returned it.
struct Pair {
    private: Vec<u8>,
    public: Vec<u8>,
    blob: Blob,
}

async fn data_key_pair(client: &Client, key: &str, spec: DataKeyPairSpec) -> Pair {
    let out = client
        .generate_data_key_pair()
        .key_id(key)
        .key_pair_spec(spec.clone())
        .set_encryption_context(Some(context(&[("purpose", "pairs")])))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GenerateDataKeyPair {spec:?}: {e:?}"));
    assert_eq!(out.key_pair_spec(), Some(&spec));
    Pair {
        private: out
            .private_key_plaintext()
            .expect("plaintext")
            .as_ref()
            .to_vec(),
        public: out.public_key().expect("PublicKey").as_ref().to_vec(),
        blob: out.private_key_ciphertext_blob().expect("blob").clone(),
    }
}

async fn decrypt_private(client: &Client, blob: Blob) -> Vec<u8> {
    let out = client
        .decrypt()
        .ciphertext_blob(blob)
        .set_encryption_context(Some(context(&[("purpose", "pairs")])))
        .send()
        .await
        .expect("Decrypt of the private key");
    out.plaintext().expect("Plaintext").as_ref().to_vec()
}

/// RSA: the PKCS#8 parses, its public part is PublicKey, and it signs what PublicKey
/// verifies (RSASSA-PKCS1-v1_5 with SHA-256).
fn check_rsa(pair: &Pair, bits: usize) {
    use rsa::pkcs1v15::{SigningKey, VerifyingKey};
    use rsa::signature::{SignatureEncoding, Signer, Verifier};
    use rsa::traits::PublicKeyParts;
    let private = rsa::RsaPrivateKey::from_pkcs8_der(&pair.private).expect("RSA PKCS#8");
    private.validate().expect("a consistent RSA key");
    let public = rsa::RsaPublicKey::from_public_key_der(&pair.public).expect("RSA SPKI");
    assert_eq!(private.to_public_key(), public);
    assert_eq!(public.n().bits(), bits);
    let signature = SigningKey::<Sha256>::new(private).sign(MESSAGE);
    let verifying = VerifyingKey::<Sha256>::new(public);
    let signature = rsa::pkcs1v15::Signature::try_from(signature.to_bytes().as_ref()).unwrap();
    verifying
        .verify(MESSAGE, &signature)
        .expect("valid signature");
}

/// EC: the same three checks with ECDSA on the curve's own crate.
macro_rules! check_ec {
    ($pair:expr, $curve:ident) => {{
        use $curve::ecdsa::signature::{Signer, Verifier};
        let secret = $curve::SecretKey::from_pkcs8_der(&$pair.private).expect("EC PKCS#8");
        let public = $curve::PublicKey::from_public_key_der(&$pair.public).expect("EC SPKI");
        assert_eq!(secret.public_key(), public);
        let signing = $curve::ecdsa::SigningKey::from_slice(&secret.to_bytes()).unwrap();
        let signature: $curve::ecdsa::Signature = signing.sign(MESSAGE);
        let verifying = $curve::ecdsa::VerifyingKey::from_affine(*public.as_affine()).unwrap();
        verifying
            .verify(MESSAGE, &signature)
            .expect("valid signature");
    }};
}

#[tokio::test]
async fn every_key_pair_spec_gives_a_pkcs8_key_that_matches_signs_and_decrypts() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let key = common::new_key(&client).await;
    for (spec, bits) in [
        (DataKeyPairSpec::Rsa2048, 2048),
        (DataKeyPairSpec::Rsa3072, 3072),
        (DataKeyPairSpec::Rsa4096, 4096),
    ] {
        let pair = data_key_pair(&client, &key, spec).await;
        check_rsa(&pair, bits);
        assert_eq!(
            decrypt_private(&client, pair.blob.clone()).await,
            pair.private
        );
    }
    for spec in [
        DataKeyPairSpec::EccNistP256,
        DataKeyPairSpec::EccNistP384,
        DataKeyPairSpec::EccNistP521,
        DataKeyPairSpec::EccSecgP256K1,
    ] {
        let pair = data_key_pair(&client, &key, spec.clone()).await;
        match spec {
            DataKeyPairSpec::EccNistP256 => check_ec!(pair, p256),
            DataKeyPairSpec::EccNistP384 => check_ec!(pair, p384),
            DataKeyPairSpec::EccNistP521 => check_ec!(pair, p521),
            _ => check_ec!(pair, k256),
        }
        assert_eq!(
            decrypt_private(&client, pair.blob.clone()).await,
            pair.private
        );
    }
}

#[tokio::test]
async fn without_plaintext_the_blob_decrypts_to_the_key_of_its_public_key() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let key = common::new_key(&client).await;
    let out = client
        .generate_data_key_pair_without_plaintext()
        .key_id(&key)
        .key_pair_spec(DataKeyPairSpec::EccNistP256)
        .set_encryption_context(Some(context(&[("purpose", "pairs")])))
        .send()
        .await
        .expect("GenerateDataKeyPairWithoutPlaintext");
    assert_eq!(out.key_id(), Some(daemon.key_arn(&key).as_str()));
    assert_eq!(
        out.key_material_id(),
        Some(common::current_material(&client, &key).await.as_str())
    );
    let blob = out.private_key_ciphertext_blob().unwrap().clone();
    let private = decrypt_private(&client, blob).await;
    let pair = Pair {
        private,
        public: out.public_key().unwrap().as_ref().to_vec(),
        blob: Blob::new(Vec::new()),
    };
    check_ec!(pair, p256);
    let (status, body, _) = daemon.raw(
        Some("TrentService.GenerateDataKeyPairWithoutPlaintext"),
        &format!(r#"{{"KeyId":"{key}","KeyPairSpec":"ECC_NIST_P256"}}"#),
    );
    assert_eq!(status, 200);
    assert!(body.get("PrivateKeyPlaintext").is_none(), "{body}");
}

#[tokio::test]
async fn the_wrong_encryption_context_does_not_decrypt_the_private_key() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let key = common::new_key(&client).await;
    let pair = data_key_pair(&client, &key, DataKeyPairSpec::EccNistP384).await;
    for wrong in [None, Some(context(&[("purpose", "other")]))] {
        let decrypted = client
            .decrypt()
            .ciphertext_blob(pair.blob.clone())
            .set_encryption_context(wrong)
            .send()
            .await;
        assert_error(decrypted, "InvalidCiphertextException", "");
    }
}

#[tokio::test]
async fn data_key_pairs_need_a_symmetric_encryption_key_and_a_served_spec() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let asymmetric = create(&client, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    let agreement = create(&client, KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await;
    let hmac = create(&client, KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;
    let refused = [
        (&asymmetric, "key spec is RSA_2048"),
        (&agreement, "key usage is KEY_AGREEMENT"),
        (&hmac, "key usage is GENERATE_VERIFY_MAC"),
    ];
    for (key, what) in refused {
        let arn = daemon.key_arn(key);
        let with = client
            .generate_data_key_pair()
            .key_id(key)
            .key_pair_spec(DataKeyPairSpec::EccNistP256)
            .send()
            .await;
        assert_error(
            with,
            INVALID_USAGE,
            &format!("{arn} {what} which is not valid for GenerateDataKeyPair."),
        );
        let without = client
            .generate_data_key_pair_without_plaintext()
            .key_id(key)
            .key_pair_spec(DataKeyPairSpec::EccNistP256)
            .send()
            .await;
        assert_error(
            without,
            INVALID_USAGE,
            &format!("{arn} {what} which is not valid for GenerateDataKeyPairWithoutPlaintext."),
        );
    }

    let key = common::new_key(&client).await;
    let sm2 = client
        .generate_data_key_pair()
        .key_id(&key)
        .key_pair_spec(DataKeyPairSpec::Sm2)
        .send()
        .await;
    assert_error(
        sm2,
        UNSUPPORTED,
        "KeyPairSpec SM2 is not supported in this Region.",
    );
    let (status, body, _) = daemon.raw(
        Some("TrentService.GenerateDataKeyPair"),
        &format!(r#"{{"KeyId":"{key}","KeyPairSpec":"HMAC_256"}}"#),
    );
    assert_eq!((status, body["__type"].as_str()), (400, Some(VALIDATION)));
    let (status, body, _) = daemon.raw(
        Some("TrentService.GenerateDataKeyPairWithoutPlaintext"),
        &format!(r#"{{"KeyId":"{key}","KeyPairSpec":"ECC_NIST_P256","Recipient":{{}}}}"#),
    );
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some(VALIDATION)),
        "{body}"
    );
    let dry = client
        .generate_data_key_pair()
        .key_id(&key)
        .key_pair_spec(DataKeyPairSpec::Rsa2048)
        .dry_run(true)
        .send()
        .await;
    assert_error(
        dry,
        "DryRunOperationException",
        "The request would have succeeded, but the DryRun option is set.",
    );
    common::disable_key(&client, &key).await;
    let disabled = client
        .generate_data_key_pair()
        .key_id(&key)
        .key_pair_spec(DataKeyPairSpec::EccNistP256)
        .send()
        .await;
    let arn = daemon.key_arn(&key);
    assert_error(
        disabled,
        "DisabledException",
        &format!("{arn} is disabled."),
    );
}

#[tokio::test]
async fn audit_records_hold_no_shared_secret_and_no_private_key() {
    use base64::Engine;
    let daemon = Daemon::start();
    let client = daemon.client();
    let agreement = create(&client, KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await;
    let peer = p256::SecretKey::random(&mut OsRng).public_key();
    let peer = peer.to_public_key_der().unwrap().as_bytes().to_vec();
    let derived = derive(&client, &agreement, &peer).await.expect("Derive");
    let key = common::new_key(&client).await;
    let pair = data_key_pair(&client, &key, DataKeyPairSpec::EccNistP256).await;
    let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let secrets = [
        encode(derived.shared_secret().unwrap().as_ref()),
        encode(&pair.private),
    ];
    let mut log = String::new();
    for entry in std::fs::read_dir(daemon.audit_dir()).expect("audit dir") {
        log.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "a secret reached the audit log"
        );
    }
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let derive_record = records
        .iter()
        .find(|r| r["operation"] == "TrentService.DeriveSharedSecret")
        .expect("a DeriveSharedSecret record");
    assert_eq!(derive_record["key_arn"], daemon.key_arn(&agreement));
    assert!(derive_record["key_material_id"].is_string());
    assert!(derive_record["parameters"].get("PublicKey").is_none());
    let pair_record = records
        .iter()
        .find(|r| r["operation"] == "TrentService.GenerateDataKeyPair")
        .expect("a GenerateDataKeyPair record");
    assert_eq!(pair_record["key_arn"], daemon.key_arn(&key));
    assert_eq!(pair_record["parameters"]["KeyPairSpec"], "ECC_NIST_P256");
}
