//! Asymmetric and HMAC keys through the AWS SDK: every key spec and usage AWS pairs, the
//! refused pairs, and Sign/Verify/GetPublicKey/GenerateMac/VerifyMac. Signatures are
//! checked with independent software implementations (RustCrypto) against the public key
//! GetPublicKey returns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    KeySpec, KeyUsageType, MacAlgorithmSpec, MessageType, OriginType, SigningAlgorithmSpec,
};
use aws_sdk_kms::Client;
use common::{assert_error, Daemon, VALIDATION};
use sha2::{Digest, Sha256, Sha384, Sha512};

const UNSUPPORTED: &str = "UnsupportedOperationException";
const INVALID_USAGE: &str = "InvalidKeyUsageException";
const MESSAGE: &[u8] = b"a release artifact to be signed";

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

/// A spec, a usage, and the encryption, signing, MAC and key agreement algorithms
/// KeyMetadata lists for them.
type Described = (
    KeySpec,
    KeyUsageType,
    Vec<&'static str>,
    Vec<&'static str>,
    Vec<&'static str>,
    Vec<&'static str>,
);

fn key_arn(key_id: &str) -> String {
    format!(
        "arn:aws:kms:{}:{}:key/{key_id}",
        common::REGION,
        common::ACCOUNT
    )
}

fn names<T: AsRef<str>>(items: &[T]) -> Vec<&str> {
    items.iter().map(AsRef::as_ref).collect()
}

#[tokio::test]
async fn every_allowed_spec_and_usage_is_created_and_described_as_aws_does() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let rsa_signing = [
        "RSASSA_PKCS1_V1_5_SHA_256",
        "RSASSA_PKCS1_V1_5_SHA_384",
        "RSASSA_PKCS1_V1_5_SHA_512",
        "RSASSA_PSS_SHA_256",
        "RSASSA_PSS_SHA_384",
        "RSASSA_PSS_SHA_512",
    ];
    let rsa_encryption = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"];
    // (spec, usage, encryption, signing, mac, key agreement algorithms)
    let cases: Vec<Described> = vec![
        (
            KeySpec::Rsa2048,
            KeyUsageType::SignVerify,
            vec![],
            rsa_signing.to_vec(),
            vec![],
            vec![],
        ),
        (
            KeySpec::Rsa3072,
            KeyUsageType::SignVerify,
            vec![],
            rsa_signing.to_vec(),
            vec![],
            vec![],
        ),
        (
            KeySpec::Rsa4096,
            KeyUsageType::SignVerify,
            vec![],
            rsa_signing.to_vec(),
            vec![],
            vec![],
        ),
        (
            KeySpec::Rsa2048,
            KeyUsageType::EncryptDecrypt,
            rsa_encryption.to_vec(),
            vec![],
            vec![],
            vec![],
        ),
        (
            KeySpec::Rsa3072,
            KeyUsageType::EncryptDecrypt,
            rsa_encryption.to_vec(),
            vec![],
            vec![],
            vec![],
        ),
        (
            KeySpec::Rsa4096,
            KeyUsageType::EncryptDecrypt,
            rsa_encryption.to_vec(),
            vec![],
            vec![],
            vec![],
        ),
        (
            KeySpec::EccNistP256,
            KeyUsageType::SignVerify,
            vec![],
            vec!["ECDSA_SHA_256"],
            vec![],
            vec![],
        ),
        (
            KeySpec::EccNistP384,
            KeyUsageType::SignVerify,
            vec![],
            vec!["ECDSA_SHA_384"],
            vec![],
            vec![],
        ),
        (
            KeySpec::EccNistP521,
            KeyUsageType::SignVerify,
            vec![],
            vec!["ECDSA_SHA_512"],
            vec![],
            vec![],
        ),
        (
            KeySpec::EccSecgP256K1,
            KeyUsageType::SignVerify,
            vec![],
            vec!["ECDSA_SHA_256"],
            vec![],
            vec![],
        ),
        (
            KeySpec::EccNistP256,
            KeyUsageType::KeyAgreement,
            vec![],
            vec![],
            vec![],
            vec!["ECDH"],
        ),
        (
            KeySpec::EccNistP384,
            KeyUsageType::KeyAgreement,
            vec![],
            vec![],
            vec![],
            vec!["ECDH"],
        ),
        (
            KeySpec::EccNistP521,
            KeyUsageType::KeyAgreement,
            vec![],
            vec![],
            vec![],
            vec!["ECDH"],
        ),
        (
            KeySpec::Hmac224,
            KeyUsageType::GenerateVerifyMac,
            vec![],
            vec![],
            vec!["HMAC_SHA_224"],
            vec![],
        ),
        (
            KeySpec::Hmac256,
            KeyUsageType::GenerateVerifyMac,
            vec![],
            vec![],
            vec!["HMAC_SHA_256"],
            vec![],
        ),
        (
            KeySpec::Hmac384,
            KeyUsageType::GenerateVerifyMac,
            vec![],
            vec![],
            vec!["HMAC_SHA_384"],
            vec![],
        ),
        (
            KeySpec::Hmac512,
            KeyUsageType::GenerateVerifyMac,
            vec![],
            vec![],
            vec!["HMAC_SHA_512"],
            vec![],
        ),
    ];
    for (spec, usage, encryption, signing, mac, agreement) in cases {
        let id = create(&client, spec.clone(), usage.clone()).await;
        let meta = common::describe(&client, &id).await;
        let what = format!("{spec:?} {usage:?}");
        assert_eq!(meta.key_spec(), Some(&spec), "{what}");
        assert_eq!(meta.key_usage(), Some(&usage), "{what}");
        #[allow(deprecated)]
        let legacy = meta
            .customer_master_key_spec()
            .map(|s| s.as_str().to_owned());
        assert_eq!(legacy.as_deref(), Some(spec.as_str()), "{what}");
        assert_eq!(names(meta.encryption_algorithms()), encryption, "{what}");
        assert_eq!(names(meta.signing_algorithms()), signing, "{what}");
        assert_eq!(names(meta.mac_algorithms()), mac, "{what}");
        assert_eq!(names(meta.key_agreement_algorithms()), agreement, "{what}");
        assert!(meta.enabled(), "{what}");
    }
    let symmetric = common::describe(&client, &common::new_key(&client).await).await;
    assert_eq!(
        names(symmetric.encryption_algorithms()),
        ["SYMMETRIC_DEFAULT"]
    );
    assert!(symmetric.signing_algorithms().is_empty());
    let listed = client.list_keys().send().await.expect("ListKeys");
    assert_eq!(listed.keys().len(), 18);
}

#[tokio::test]
async fn refused_specs_usages_and_origins_answer_as_aws() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let refused = [
        (KeySpec::EccSecgP256K1, Some(KeyUsageType::KeyAgreement)),
        (KeySpec::EccNistP256, Some(KeyUsageType::EncryptDecrypt)),
        (KeySpec::EccNistP256, None),
        (KeySpec::Rsa2048, Some(KeyUsageType::GenerateVerifyMac)),
        (KeySpec::Rsa2048, Some(KeyUsageType::KeyAgreement)),
        (KeySpec::Hmac256, Some(KeyUsageType::SignVerify)),
        (KeySpec::Hmac256, None),
        (
            KeySpec::SymmetricDefault,
            Some(KeyUsageType::GenerateVerifyMac),
        ),
    ];
    for (spec, usage) in refused {
        let shown = usage.clone().unwrap_or(KeyUsageType::EncryptDecrypt);
        assert_error(
            client
                .create_key()
                .key_spec(spec.clone())
                .set_key_usage(usage)
                .send()
                .await,
            VALIDATION,
            &format!(
                "KeyUsage {} is not compatible with KeySpec {}",
                shown.as_str(),
                spec.as_str()
            ),
        );
    }
    assert_error(
        client
            .create_key()
            .key_spec(KeySpec::EccNistEdwards25519)
            .key_usage(KeyUsageType::SignVerify)
            .send()
            .await,
        UNSUPPORTED,
        "KeySpec ECC_NIST_EDWARDS25519 is not supported in this Region.",
    );
    assert_error(
        client
            .create_key()
            .key_spec(KeySpec::EccNistP256)
            .key_usage(KeyUsageType::SignVerify)
            .origin(OriginType::External)
            .send()
            .await,
        UNSUPPORTED,
        "Origin EXTERNAL is not supported for KeySpec ECC_NIST_P256.",
    );
    let listed = client.list_keys().send().await.expect("ListKeys");
    assert!(listed.keys().is_empty(), "nothing refused was created");
    let log = daemon.log();
    assert!(
        log.contains("mechanism=\"CKM_ECDSA\"") || log.contains("mechanism=CKM_ECDSA"),
        "the capability table is logged: {log}"
    );
}

async fn sign(
    client: &Client,
    key: &str,
    message: &[u8],
    message_type: MessageType,
    algorithm: SigningAlgorithmSpec,
) -> Vec<u8> {
    let signed = client
        .sign()
        .key_id(key)
        .message(Blob::new(message))
        .message_type(message_type)
        .signing_algorithm(algorithm.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("Sign {algorithm:?}: {e:?}"));
    assert_eq!(signed.signing_algorithm(), Some(&algorithm));
    assert_eq!(signed.key_id(), Some(key_arn(key).as_str()));
    signed.signature().unwrap().as_ref().to_vec()
}

async fn verify(
    client: &Client,
    key: &str,
    message: &[u8],
    message_type: MessageType,
    algorithm: SigningAlgorithmSpec,
    signature: &[u8],
) -> Result<(), String> {
    let result = client
        .verify()
        .key_id(key)
        .message(Blob::new(message))
        .message_type(message_type)
        .signing_algorithm(algorithm)
        .signature(Blob::new(signature))
        .send()
        .await;
    match result {
        Ok(out) => {
            assert!(out.signature_valid());
            Ok(())
        }
        Err(e) => Err(format!(
            "{}: {}",
            common::error_code(&e),
            common::error_message(&e)
        )),
    }
}

async fn public_key(client: &Client, key: &str) -> Vec<u8> {
    let out = client
        .get_public_key()
        .key_id(key)
        .send()
        .await
        .expect("GetPublicKey");
    out.public_key().unwrap().as_ref().to_vec()
}

/// Signs RAW and DIGEST, checks both in software with `check(message_or_digest, raw,
/// signature)` and through Verify, and checks that a tampered message and signature fail.
async fn sign_both_ways(
    client: &Client,
    key: &str,
    algorithm: SigningAlgorithmSpec,
    digest: Vec<u8>,
    check: impl Fn(&[u8], bool, &[u8]),
) {
    let raw = sign(client, key, MESSAGE, MessageType::Raw, algorithm.clone()).await;
    check(MESSAGE, true, &raw);
    let by_digest = sign(client, key, &digest, MessageType::Digest, algorithm.clone()).await;
    check(&digest, false, &by_digest);
    for (message, kind, signature) in [
        (MESSAGE, MessageType::Raw, &raw),
        (&digest[..], MessageType::Digest, &by_digest),
    ] {
        verify(
            client,
            key,
            message,
            kind.clone(),
            algorithm.clone(),
            signature,
        )
        .await
        .unwrap_or_else(|e| panic!("Verify {algorithm:?} {kind:?}: {e}"));
    }
    let invalid = Err("KMSInvalidSignatureException: ".to_owned());
    let tampered = verify(
        client,
        key,
        b"another artifact",
        MessageType::Raw,
        algorithm.clone(),
        &raw,
    );
    assert_eq!(tampered.await, invalid, "{algorithm:?} tampered message");
    let mut flipped = raw.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    let tampered = verify(
        client,
        key,
        MESSAGE,
        MessageType::Raw,
        algorithm.clone(),
        &flipped,
    );
    assert_eq!(tampered.await, invalid, "{algorithm:?} tampered signature");
    let short = &digest[..digest.len() - 1];
    assert_error(
        client
            .sign()
            .key_id(key)
            .message(Blob::new(short))
            .message_type(MessageType::Digest)
            .signing_algorithm(algorithm.clone())
            .send()
            .await,
        VALIDATION,
        &format!(
            "Digest is invalid length for algorithm {}.",
            algorithm.as_str()
        ),
    );
}

#[tokio::test]
async fn ecdsa_signatures_verify_in_software() {
    use ecdsa::signature::hazmat::PrehashVerifier;
    use p256::pkcs8::DecodePublicKey;
    let daemon = Daemon::start();
    let client = daemon.client();

    let key = create(&client, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let spki = public_key(&client, &key).await;
    let verifying = p256::ecdsa::VerifyingKey::from_public_key_der(&spki).expect("P-256 SPKI");
    sign_both_ways(
        &client,
        &key,
        SigningAlgorithmSpec::EcdsaSha256,
        Sha256::digest(MESSAGE).to_vec(),
        |input, raw, der| {
            let signature = p256::ecdsa::Signature::from_der(der).expect("DER signature");
            let digest = if raw {
                Sha256::digest(input).to_vec()
            } else {
                input.to_vec()
            };
            verifying
                .verify_prehash(&digest, &signature)
                .expect("P-256 signature verifies");
        },
    )
    .await;

    let key = create(&client, KeySpec::EccNistP384, KeyUsageType::SignVerify).await;
    let spki = public_key(&client, &key).await;
    let verifying = p384::ecdsa::VerifyingKey::from_public_key_der(&spki).expect("P-384 SPKI");
    sign_both_ways(
        &client,
        &key,
        SigningAlgorithmSpec::EcdsaSha384,
        Sha384::digest(MESSAGE).to_vec(),
        |input, raw, der| {
            let signature = p384::ecdsa::Signature::from_der(der).expect("DER signature");
            let digest = if raw {
                Sha384::digest(input).to_vec()
            } else {
                input.to_vec()
            };
            verifying
                .verify_prehash(&digest, &signature)
                .expect("P-384 signature verifies");
        },
    )
    .await;

    let key = create(&client, KeySpec::EccNistP521, KeyUsageType::SignVerify).await;
    let spki = public_key(&client, &key).await;
    let public = p521::PublicKey::from_public_key_der(&spki).expect("P-521 SPKI");
    let verifying = p521::ecdsa::VerifyingKey::from_affine(*public.as_affine()).expect("key");
    sign_both_ways(
        &client,
        &key,
        SigningAlgorithmSpec::EcdsaSha512,
        Sha512::digest(MESSAGE).to_vec(),
        |input, raw, der| {
            let signature = p521::ecdsa::Signature::from_der(der).expect("DER signature");
            let digest = if raw {
                Sha512::digest(input).to_vec()
            } else {
                input.to_vec()
            };
            verifying
                .verify_prehash(&digest, &signature)
                .expect("P-521 signature verifies");
        },
    )
    .await;

    let key = create(&client, KeySpec::EccSecgP256K1, KeyUsageType::SignVerify).await;
    let spki = public_key(&client, &key).await;
    let verifying = k256::ecdsa::VerifyingKey::from_public_key_der(&spki).expect("k1 SPKI");
    sign_both_ways(
        &client,
        &key,
        SigningAlgorithmSpec::EcdsaSha256,
        Sha256::digest(MESSAGE).to_vec(),
        |input, raw, der| {
            let signature = k256::ecdsa::Signature::from_der(der).expect("DER signature");
            // k256 accepts only low-S signatures; AWS (like the token) does not normalise.
            let signature = signature.normalize_s().unwrap_or(signature);
            let digest = if raw {
                Sha256::digest(input).to_vec()
            } else {
                input.to_vec()
            };
            verifying
                .verify_prehash(&digest, &signature)
                .expect("secp256k1 signature verifies");
        },
    )
    .await;
}

#[tokio::test]
async fn rsa_signatures_verify_in_software() {
    use rsa::pkcs8::DecodePublicKey;
    use rsa::{Pkcs1v15Sign, Pss, RsaPublicKey};
    let daemon = Daemon::start();
    let client = daemon.client();
    let key = create(&client, KeySpec::Rsa2048, KeyUsageType::SignVerify).await;
    let spki = public_key(&client, &key).await;
    let public = RsaPublicKey::from_public_key_der(&spki).expect("RSA SPKI");
    type Check = fn(&RsaPublicKey, &[u8], &[u8]) -> rsa::Result<()>;
    type Case = (SigningAlgorithmSpec, fn(&[u8]) -> Vec<u8>, Check);
    let cases: [Case; 6] = [
        (
            SigningAlgorithmSpec::RsassaPkcs1V15Sha256,
            |m| Sha256::digest(m).to_vec(),
            |k, d, s| k.verify(Pkcs1v15Sign::new::<Sha256>(), d, s),
        ),
        (
            SigningAlgorithmSpec::RsassaPkcs1V15Sha384,
            |m| Sha384::digest(m).to_vec(),
            |k, d, s| k.verify(Pkcs1v15Sign::new::<Sha384>(), d, s),
        ),
        (
            SigningAlgorithmSpec::RsassaPkcs1V15Sha512,
            |m| Sha512::digest(m).to_vec(),
            |k, d, s| k.verify(Pkcs1v15Sign::new::<Sha512>(), d, s),
        ),
        (
            SigningAlgorithmSpec::RsassaPssSha256,
            |m| Sha256::digest(m).to_vec(),
            |k, d, s| k.verify(Pss::new_with_salt::<Sha256>(32), d, s),
        ),
        (
            SigningAlgorithmSpec::RsassaPssSha384,
            |m| Sha384::digest(m).to_vec(),
            |k, d, s| k.verify(Pss::new_with_salt::<Sha384>(48), d, s),
        ),
        (
            SigningAlgorithmSpec::RsassaPssSha512,
            |m| Sha512::digest(m).to_vec(),
            |k, d, s| k.verify(Pss::new_with_salt::<Sha512>(64), d, s),
        ),
    ];
    for (algorithm, hash, check) in cases {
        let what = format!("{algorithm:?}");
        sign_both_ways(
            &client,
            &key,
            algorithm,
            hash(MESSAGE),
            |input, raw, signature| {
                let digest = if raw { hash(input) } else { input.to_vec() };
                assert_eq!(signature.len(), 256, "{what}");
                check(&public, &digest, signature).unwrap_or_else(|e| panic!("{what}: {e}"));
            },
        )
        .await;
    }
    assert_error(
        client
            .sign()
            .key_id(&key)
            .message(Blob::new(MESSAGE))
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await,
        INVALID_USAGE,
        "Algorithm ECDSA_SHA_256 is incompatible with key spec RSA_2048.",
    );
    assert_error(
        client
            .sign()
            .key_id(&key)
            .message(Blob::new(vec![0u8; 4097]))
            .signing_algorithm(SigningAlgorithmSpec::RsassaPssSha256)
            .send()
            .await,
        VALIDATION,
        &common::invalid("Value", "message", &common::at_most(4096)),
    );
}

#[tokio::test]
async fn macs_are_made_and_checked_in_the_token() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let cases = [
        (KeySpec::Hmac224, MacAlgorithmSpec::HmacSha224, 28),
        (KeySpec::Hmac256, MacAlgorithmSpec::HmacSha256, 32),
        (KeySpec::Hmac384, MacAlgorithmSpec::HmacSha384, 48),
        (KeySpec::Hmac512, MacAlgorithmSpec::HmacSha512, 64),
    ];
    let mut macs = Vec::new();
    for (spec, algorithm, len) in cases {
        let key = create(&client, spec.clone(), KeyUsageType::GenerateVerifyMac).await;
        let generate = || {
            client
                .generate_mac()
                .key_id(&key)
                .message(Blob::new(MESSAGE))
                .mac_algorithm(algorithm.clone())
                .send()
        };
        let made = generate().await.expect("GenerateMac");
        assert_eq!(made.mac_algorithm(), Some(&algorithm));
        assert_eq!(made.key_id(), Some(key_arn(&key).as_str()));
        let mac = made.mac().unwrap().as_ref().to_vec();
        assert_eq!(mac.len(), len, "{spec:?}");
        let again = generate().await.expect("GenerateMac");
        assert_eq!(
            again.mac().unwrap().as_ref(),
            &mac[..],
            "HMAC is deterministic"
        );
        let verify = |message: &'static [u8], mac: Vec<u8>| {
            client
                .verify_mac()
                .key_id(&key)
                .message(Blob::new(message))
                .mac_algorithm(algorithm.clone())
                .mac(Blob::new(mac))
                .send()
        };
        let verified = verify(MESSAGE, mac.clone()).await.expect("VerifyMac");
        assert!(verified.mac_valid());
        assert_error(
            verify(b"tampered", mac.clone()).await,
            "KMSInvalidMacException",
            "",
        );
        let mut flipped = mac.clone();
        flipped[0] ^= 0x80;
        assert_error(verify(MESSAGE, flipped).await, "KMSInvalidMacException", "");
        assert_error(
            verify(MESSAGE, mac[..len - 1].to_vec()).await,
            "KMSInvalidMacException",
            "",
        );
        macs.push(mac);
    }
    let key = create(&client, KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;
    assert_error(
        client
            .generate_mac()
            .key_id(&key)
            .message(Blob::new(MESSAGE))
            .mac_algorithm(MacAlgorithmSpec::HmacSha512)
            .send()
            .await,
        INVALID_USAGE,
        "Algorithm HMAC_SHA_512 is incompatible with key spec HMAC_256.",
    );
    let other = client
        .generate_mac()
        .key_id(&key)
        .message(Blob::new(MESSAGE))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .expect("GenerateMac");
    assert_ne!(
        other.mac().unwrap().as_ref(),
        &macs[1][..],
        "each key is its own secret"
    );
}

#[tokio::test]
async fn operations_of_another_usage_are_refused_as_aws_does() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let signing = create(&client, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let rsa = create(&client, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    let mac = create(&client, KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;
    let agreement = create(&client, KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await;
    let symmetric = common::new_key(&client).await;
    let arn = |key: &str| key_arn(key);

    assert_error(
        common::try_encrypt(&client, &signing, b"data".to_vec()).await,
        INVALID_USAGE,
        &format!(
            "{} key usage is SIGN_VERIFY which is not valid for Encrypt.",
            arn(&signing)
        ),
    );
    assert_error(
        client
            .generate_data_key()
            .key_id(&mac)
            .number_of_bytes(32)
            .send()
            .await,
        INVALID_USAGE,
        &format!(
            "{} key usage is GENERATE_VERIFY_MAC which is not valid for GenerateDataKey.",
            arn(&mac)
        ),
    );
    assert_error(
        client
            .generate_data_key()
            .key_id(&rsa)
            .number_of_bytes(32)
            .send()
            .await,
        INVALID_USAGE,
        &format!(
            "{} key spec is RSA_2048 which is not valid for GenerateDataKey.",
            arn(&rsa)
        ),
    );
    for key in [&mac, &symmetric, &agreement] {
        let usage = common::describe(&client, key)
            .await
            .key_usage()
            .unwrap()
            .clone();
        assert_error(
            client
                .sign()
                .key_id(key.as_str())
                .message(Blob::new(MESSAGE))
                .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
                .send()
                .await,
            INVALID_USAGE,
            &format!(
                "{} key usage is {} which is not valid for Sign.",
                arn(key),
                usage.as_str()
            ),
        );
    }
    assert_error(
        client
            .generate_mac()
            .key_id(&signing)
            .message(Blob::new(MESSAGE))
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .send()
            .await,
        INVALID_USAGE,
        &format!(
            "{} key usage is SIGN_VERIFY which is not valid for GenerateMac.",
            arn(&signing)
        ),
    );
    for (key, spec) in [(&symmetric, "SYMMETRIC_DEFAULT"), (&mac, "HMAC_256")] {
        assert_error(
            client.get_public_key().key_id(key.as_str()).send().await,
            UNSUPPORTED,
            &format!(
                "{} key spec {spec} is not valid for this operation.",
                arn(key)
            ),
        );
    }
    for (key, spec) in [
        (&signing, "ECC_NIST_P256"),
        (&rsa, "RSA_2048"),
        (&mac, "HMAC_256"),
    ] {
        assert_error(
            client
                .enable_key_rotation()
                .key_id(key.as_str())
                .send()
                .await,
            UNSUPPORTED,
            &format!(
                "{} key spec {spec} is not valid for this operation.",
                arn(key)
            ),
        );
        assert_error(
            client
                .rotate_key_on_demand()
                .key_id(key.as_str())
                .send()
                .await,
            UNSUPPORTED,
            &format!(
                "{} key spec {spec} is not valid for this operation.",
                arn(key)
            ),
        );
    }
    // RSA encryption keys: the algorithm must be one the key lists (tests/rsa_encryption.rs
    // covers the rest).
    assert_error(
        common::try_encrypt(&client, &rsa, b"data".to_vec()).await,
        INVALID_USAGE,
        "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.",
    );
    // Public keys of every pair type are readable; the agreement key's lists ECDH.
    let out = client
        .get_public_key()
        .key_id(&agreement)
        .send()
        .await
        .expect("GetPublicKey");
    assert_eq!(names(out.key_agreement_algorithms()), ["ECDH"]);
    assert_eq!(out.key_usage(), Some(&KeyUsageType::KeyAgreement));
    let out = client
        .get_public_key()
        .key_id(&rsa)
        .send()
        .await
        .expect("GetPublicKey");
    assert_eq!(
        names(out.encryption_algorithms()),
        ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    );
    assert!(out.signing_algorithms().is_empty());
}

/// The key-state rows of the new operations: Enabled serves, Disabled answers
/// DisabledException, PendingDeletion KMSInvalidStateException (AWS_KMS keys, which are
/// never PendingImport).
#[tokio::test]
async fn key_states_govern_the_new_operations() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let signing = create(&client, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let mac = create(&client, KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;
    let signature = sign(
        &client,
        &signing,
        MESSAGE,
        MessageType::Raw,
        SigningAlgorithmSpec::EcdsaSha256,
    )
    .await;
    let made = client
        .generate_mac()
        .key_id(&mac)
        .message(Blob::new(MESSAGE))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .expect("GenerateMac");
    let tag = made.mac().unwrap().as_ref().to_vec();
    let run = |signing: String, mac: String, signature: Vec<u8>, tag: Vec<u8>| {
        let client = client.clone();
        async move {
            let mut answers = Vec::new();
            let sign = client
                .sign()
                .key_id(&signing)
                .message(Blob::new(MESSAGE))
                .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
                .send()
                .await;
            answers.push((
                "Sign",
                sign.err()
                    .map(|e| (common::error_code(&e), common::error_message(&e))),
            ));
            let verify = client
                .verify()
                .key_id(&signing)
                .message(Blob::new(MESSAGE))
                .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
                .signature(Blob::new(signature))
                .send()
                .await;
            answers.push((
                "Verify",
                verify
                    .err()
                    .map(|e| (common::error_code(&e), common::error_message(&e))),
            ));
            let public = client.get_public_key().key_id(&signing).send().await;
            answers.push((
                "GetPublicKey",
                public
                    .err()
                    .map(|e| (common::error_code(&e), common::error_message(&e))),
            ));
            let generate = client
                .generate_mac()
                .key_id(&mac)
                .message(Blob::new(MESSAGE))
                .mac_algorithm(MacAlgorithmSpec::HmacSha256)
                .send()
                .await;
            answers.push((
                "GenerateMac",
                generate
                    .err()
                    .map(|e| (common::error_code(&e), common::error_message(&e))),
            ));
            let check = client
                .verify_mac()
                .key_id(&mac)
                .message(Blob::new(MESSAGE))
                .mac_algorithm(MacAlgorithmSpec::HmacSha256)
                .mac(Blob::new(tag))
                .send()
                .await;
            answers.push((
                "VerifyMac",
                check
                    .err()
                    .map(|e| (common::error_code(&e), common::error_message(&e))),
            ));
            answers
        }
    };
    let expect = |want: Option<(&'static str, &'static str)>| {
        let (signing, mac) = (signing.clone(), mac.clone());
        move |(op, got): (&str, Option<(String, String)>)| {
            let key = if op.contains("Mac") { &mac } else { &signing };
            let want =
                want.map(|(code, what)| (code.to_owned(), format!("{} {what}", key_arn(key))));
            assert_eq!(got, want, "{op}");
        }
    };
    run(signing.clone(), mac.clone(), signature.clone(), tag.clone())
        .await
        .into_iter()
        .for_each(expect(None));
    for key in [&signing, &mac] {
        common::disable_key(&client, key).await;
    }
    run(signing.clone(), mac.clone(), signature.clone(), tag.clone())
        .await
        .into_iter()
        .for_each(expect(Some(("DisabledException", "is disabled."))));
    for key in [&signing, &mac] {
        common::schedule_deletion(&client, key).await;
    }
    run(signing.clone(), mac.clone(), signature, tag)
        .await
        .into_iter()
        .for_each(expect(Some((
            "KMSInvalidStateException",
            "is pending deletion.",
        ))));
}
