//! Every error the daemon produces today, as a client sees it: the exact `__type`, the
//! exact message (or its absence), a 4xx status, and the `x-amzn-RequestId` /
//! `x-amzn-ErrorType` headers. Each test runs its own daemon on its own token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::collections::HashMap;
use std::fmt::Debug;

use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, EncryptionAlgorithmSpec, KeySpec, KeyUsageType};
use aws_sdk_kms::types::{OriginType, RecipientInfo};
use aws_sdk_kms::Client;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::json;

use common::{
    at_least, at_most, context, invalid, new_key, not_null, tag, value_at_least, value_at_most,
    Daemon, ACCOUNT, REGION, UNKNOWN_ID, VALIDATION,
};

const INVALID_CIPHERTEXT: &str = "InvalidCiphertextException";
const INCORRECT_KEY: &str = "IncorrectKeyException";
const INCORRECT_KEY_MESSAGE: &str =
    "The key ID in the request does not identify a CMK that can perform this operation.";
const UNSUPPORTED: &str = "UnsupportedOperationException";
const SERIALIZATION: &str = "SerializationException";
const TARGET: &str = "TrentService.";

/// [`common::assert_error`] (`code`, `message`, HTTP 400: AWS's status for every client error
/// here), and also a request id and a matching `x-amzn-ErrorType` header.
#[track_caller]
fn assert_error<T: Debug, E: ProvideErrorMetadata + Debug>(
    result: Result<T, SdkError<E, HttpResponse>>,
    code: &str,
    message: &str,
) {
    let error = common::assert_error(result, code, message);
    let headers = error.raw_response().expect("HTTP response").headers();
    assert!(
        headers
            .get("x-amzn-requestid")
            .is_some_and(|id| !id.is_empty()),
        "{code}: no x-amzn-RequestId"
    );
    assert_eq!(
        headers.get("x-amzn-errortype"),
        Some(code),
        "x-amzn-ErrorType"
    );
}

/// A raw request that must fail: checks the status (400), the headers, and that the body holds
/// `__type` and at most a `message`; returns both.
#[track_caller]
fn raw_error(d: &Daemon, target: Option<&str>, body: &str) -> (String, Option<String>) {
    let (status, json, headers) = d.raw(target, body);
    assert_eq!(status, 400, "{target:?} {body}: {json}");
    let fields = json
        .as_object()
        .unwrap_or_else(|| panic!("error body is not a JSON object: {json}"));
    assert!(
        fields.keys().all(|k| k == "__type" || k == "message"),
        "unexpected members in {json}"
    );
    let type_name = fields["__type"].as_str().expect("__type").to_owned();
    let message = fields.get("message").map(|m| {
        let text = m.as_str().expect("message is a string").to_owned();
        assert!(!text.is_empty(), "empty message member in {json}");
        text
    });
    assert!(
        headers.contains("\r\nx-amzn-requestid: "),
        "no request id: {headers}"
    );
    let error_type = format!("x-amzn-errortype: {}", type_name.to_lowercase());
    assert!(
        headers.lines().any(|line| line.trim_end() == error_type),
        "x-amzn-ErrorType does not match {type_name}: {headers}"
    );
    (type_name, message)
}

/// A raw request to `TrentService.<operation>` that must fail with `code` and `message`
/// (`None`: the body carries `__type` only).
#[track_caller]
fn assert_raw(d: &Daemon, operation: &str, body: &str, code: &str, message: Option<&str>) {
    let target = format!("{TARGET}{operation}");
    let (type_name, sent) = raw_error(d, Some(&target), body);
    assert_eq!(
        (type_name.as_str(), sent.as_deref()),
        (code, message),
        "{operation} {body}"
    );
}

/// A ciphertext blob of `plaintext` under `key_id` and `ctx`.
async fn encrypt(
    client: &Client,
    key_id: &str,
    plaintext: &[u8],
    ctx: &HashMap<String, String>,
) -> Vec<u8> {
    let out = client
        .encrypt()
        .key_id(key_id)
        .plaintext(Blob::new(plaintext))
        .set_encryption_context(Some(ctx.clone()))
        .send()
        .await
        .expect("Encrypt");
    out.ciphertext_blob()
        .expect("CiphertextBlob")
        .as_ref()
        .to_vec()
}

#[tokio::test]
async fn encrypt_errors() {
    let d = Daemon::start();
    let client = d.client();
    let key = new_key(&client).await;
    let encrypt = |key_id: &str, plaintext: Vec<u8>| {
        client
            .encrypt()
            .key_id(key_id)
            .plaintext(Blob::new(plaintext))
    };

    assert_error(
        encrypt(&key, vec![7; 4097]).send().await,
        VALIDATION,
        &invalid("Value", "plaintext", &at_most(4096)),
    );
    assert_raw(
        &d,
        "Encrypt",
        &json!({ "KeyId": key, "Plaintext": "" }).to_string(),
        VALIDATION,
        Some(&invalid("Value", "plaintext", &at_least(1))),
    );
    assert_raw(
        &d,
        "Encrypt",
        &json!({ "KeyId": key }).to_string(),
        VALIDATION,
        Some(&invalid("Value", "plaintext", &not_null())),
    );
    assert_error(
        client
            .encrypt()
            .plaintext(Blob::new(b"x".to_vec()))
            .send()
            .await,
        VALIDATION,
        &invalid("Value null", "keyId", &not_null()),
    );

    // Key ids that name nothing, or nothing of ours.
    assert_error(
        encrypt(UNKNOWN_ID, b"x".to_vec()).send().await,
        "NotFoundException",
        &format!("Key '{}' does not exist", d.key_arn(UNKNOWN_ID)),
    );
    assert_error(
        encrypt(&d.key_arn(UNKNOWN_ID), b"x".to_vec()).send().await,
        "NotFoundException",
        &format!("Key '{}' does not exist", d.key_arn(UNKNOWN_ID)),
    );
    assert_error(
        encrypt("nope", b"x".to_vec()).send().await,
        "NotFoundException",
        "Invalid keyId 'nope'",
    );
    let foreign = format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{key}");
    assert_error(
        encrypt(&foreign, b"x".to_vec()).send().await,
        "NotFoundException",
        "Invalid arn eu-west-1",
    );
    assert_error(
        encrypt("alias/none", b"x".to_vec()).send().await,
        "NotFoundException",
        &format!("Alias arn:aws:kms:{REGION}:{ACCOUNT}:alias/none is not found."),
    );

    // Algorithms.
    assert_error(
        encrypt(&key, b"x".to_vec())
            .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
            .send()
            .await,
        "InvalidKeyUsageException",
        "Algorithm RSAES_OAEP_SHA_256 is incompatible with key spec SYMMETRIC_DEFAULT.",
    );
    assert_raw(
        &d,
        "Encrypt",
        &json!({ "KeyId": key, "Plaintext": B64.encode(b"x"), "EncryptionAlgorithm": "AES_GCM" })
            .to_string(),
        VALIDATION,
        Some(&invalid(
            "Value 'AES_GCM'",
            "encryptionAlgorithm",
            "Member must satisfy enum value set: [SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]",
        )),
    );

    assert_error(
        encrypt(&key, b"x".to_vec()).dry_run(true).send().await,
        "DryRunOperationException",
        "The request would have succeeded, but the DryRun option is set.",
    );
}

#[tokio::test]
async fn decrypt_errors() {
    let d = Daemon::start();
    let client = d.client();
    let (key_a, key_b) = (new_key(&client).await, new_key(&client).await);
    let ctx = context(&[("purpose", "test")]);
    let blob = encrypt(&client, &key_a, b"secret", &ctx).await;
    let decrypt = |blob: &[u8], ctx: &HashMap<String, String>| {
        client
            .decrypt()
            .ciphertext_blob(Blob::new(blob))
            .set_encryption_context(Some(ctx.clone()))
    };
    let raw_decrypt = |blob: &[u8], ctx: &HashMap<String, String>| {
        json!({ "CiphertextBlob": B64.encode(blob), "EncryptionContext": ctx }).to_string()
    };
    // The untouched blob and context decrypt, so every failure below is the change made.
    let out = decrypt(&blob, &ctx).send().await.expect("Decrypt");
    assert_eq!(out.plaintext().expect("Plaintext").as_ref(), b"secret");

    // Context mismatches: InvalidCiphertextException with no message at all.
    let wrong = [
        context(&[("purpose", "other")]),
        context(&[]),
        context(&[("purpose", "test"), ("extra", "pair")]),
    ];
    for bad in &wrong {
        assert_error(decrypt(&blob, bad).send().await, INVALID_CIPHERTEXT, "");
        assert_raw(
            &d,
            "Decrypt",
            &raw_decrypt(&blob, bad),
            INVALID_CIPHERTEXT,
            None,
        );
    }

    // Every single byte flipped, in turn.
    for i in 0..blob.len() {
        let mut tampered = blob.clone();
        tampered[i] ^= 0xff;
        let target = format!("{TARGET}Decrypt");
        let (type_name, message) = raw_error(&d, Some(&target), &raw_decrypt(&tampered, &ctx));
        assert_eq!(
            (type_name.as_str(), message),
            (INVALID_CIPHERTEXT, None),
            "byte {i} of {} flipped",
            blob.len()
        );
    }

    // Truncated: by the tag's last byte, to the bare header, to one byte.
    for len in [blob.len() - 1, 45, 1] {
        assert_raw(
            &d,
            "Decrypt",
            &raw_decrypt(&blob[..len], &ctx),
            INVALID_CIPHERTEXT,
            None,
        );
    }

    assert_error(
        decrypt(&blob, &ctx).key_id(&key_b).send().await,
        INCORRECT_KEY,
        INCORRECT_KEY_MESSAGE,
    );
    assert_error(
        decrypt(&blob, &ctx).dry_run(true).send().await,
        "DryRunOperationException",
        "The request would have succeeded, but the DryRun option is set.",
    );
    assert_error(
        decrypt(&[1; 6145], &ctx).send().await,
        VALIDATION,
        &invalid("Value", "ciphertextBlob", &at_most(6144)),
    );

    let (type_name, message) = raw_error(
        &d,
        Some("TrentService.Decrypt"),
        &json!({ "CiphertextBlob": "not base64!" }).to_string(),
    );
    assert_eq!(type_name, SERIALIZATION);
    let message = message.unwrap_or_default();
    assert!(
        message.starts_with("Invalid value for member 'CiphertextBlob'"),
        "{message}"
    );

    let recipient = json!({
        "KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256",
        "AttestationDocument": B64.encode(b"attestation"),
    });
    assert_raw(
        &d,
        "Decrypt",
        &json!({ "CiphertextBlob": B64.encode(&blob), "EncryptionContext": ctx, "Recipient": recipient })
            .to_string(),
        UNSUPPORTED,
        Some("Recipient (attested enclave) requests are not supported."),
    );
    // The SDK's own Recipient member meets the same answer.
    let info = RecipientInfo::builder()
        .attestation_document(Blob::new(b"attestation".to_vec()))
        .build();
    assert_error(
        decrypt(&blob, &ctx).recipient(info).send().await,
        UNSUPPORTED,
        "Recipient (attested enclave) requests are not supported.",
    );
}

#[tokio::test]
async fn re_encrypt_errors() {
    let d = Daemon::start();
    let client = d.client();
    let (key_a, key_b) = (new_key(&client).await, new_key(&client).await);
    let ctx = context(&[("purpose", "test")]);
    let blob = encrypt(&client, &key_a, b"secret", &ctx).await;
    let re_encrypt = || {
        client
            .re_encrypt()
            .ciphertext_blob(Blob::new(blob.clone()))
            .destination_key_id(&key_b)
    };
    re_encrypt()
        .set_source_encryption_context(Some(ctx.clone()))
        .send()
        .await
        .expect("ReEncrypt with the right context");

    assert_error(
        re_encrypt()
            .set_source_encryption_context(Some(context(&[("purpose", "other")])))
            .send()
            .await,
        INVALID_CIPHERTEXT,
        "",
    );
    assert_raw(
        &d,
        "ReEncrypt",
        &json!({ "CiphertextBlob": B64.encode(&blob), "DestinationKeyId": key_b }).to_string(),
        INVALID_CIPHERTEXT,
        None,
    );
    assert_raw(
        &d,
        "ReEncrypt",
        &json!({ "CiphertextBlob": B64.encode(&blob), "SourceEncryptionContext": ctx }).to_string(),
        VALIDATION,
        Some(&invalid("Value null", "destinationKeyId", &not_null())),
    );
    assert_error(
        re_encrypt()
            .set_source_encryption_context(Some(ctx.clone()))
            .source_key_id(&key_b)
            .send()
            .await,
        INCORRECT_KEY,
        INCORRECT_KEY_MESSAGE,
    );
}

#[tokio::test]
async fn generate_data_key_errors() {
    let d = Daemon::start();
    let client = d.client();
    let key = new_key(&client).await;
    let either = "Please specify either number of bytes or key spec.".to_owned();
    let cases: [(Option<i32>, Option<&str>, String); 6] = [
        (None, None, either.clone()),
        (Some(32), Some("AES_256"), either),
        (
            Some(0),
            None,
            invalid("Value '0'", "numberOfBytes", &value_at_least(1)),
        ),
        (
            Some(1025),
            None,
            invalid("Value '1025'", "numberOfBytes", &value_at_most(1024)),
        ),
        (
            None,
            Some("AES_512"),
            invalid(
                "Value 'AES_512'",
                "keySpec",
                "Member must satisfy enum value set: [AES_256, AES_128]",
            ),
        ),
        (
            Some(-1),
            None,
            invalid("Value '-1'", "numberOfBytes", &value_at_least(1)),
        ),
    ];
    for (number_of_bytes, spec, message) in &cases {
        let spec = spec.map(DataKeySpec::from);
        assert_error(
            client
                .generate_data_key()
                .key_id(&key)
                .set_number_of_bytes(*number_of_bytes)
                .set_key_spec(spec.clone())
                .send()
                .await,
            VALIDATION,
            message,
        );
        assert_error(
            client
                .generate_data_key_without_plaintext()
                .key_id(&key)
                .set_number_of_bytes(*number_of_bytes)
                .set_key_spec(spec)
                .send()
                .await,
            VALIDATION,
            message,
        );
    }
}

#[tokio::test]
async fn generate_random_errors() {
    let d = Daemon::start();
    let client = d.client();
    assert_error(
        client.generate_random().send().await,
        VALIDATION,
        "NumberOfBytes is required.",
    );
    assert_error(
        client.generate_random().number_of_bytes(0).send().await,
        VALIDATION,
        &invalid("Value '0'", "numberOfBytes", &value_at_least(1)),
    );
    assert_error(
        client.generate_random().number_of_bytes(1025).send().await,
        VALIDATION,
        &invalid("Value '1025'", "numberOfBytes", &value_at_most(1024)),
    );
}

#[tokio::test]
async fn create_key_errors() {
    let d = Daemon::start();
    let client = d.client();

    let description = "d".repeat(8193);
    assert_error(
        client.create_key().description(&description).send().await,
        VALIDATION,
        &invalid(
            &format!("Value '{description}'"),
            "description",
            &at_most(8192),
        ),
    );
    assert_error(
        client
            .create_key()
            .key_spec(KeySpec::from("NOPE"))
            .send()
            .await,
        VALIDATION,
        &invalid(
            "Value 'NOPE'",
            "keySpec",
            "Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, \
             ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, ECC_NIST_EDWARDS25519, \
             SYMMETRIC_DEFAULT, HMAC_224, HMAC_256, HMAC_384, HMAC_512, SM2, ML_DSA_44, \
             ML_DSA_65, ML_DSA_87]",
        ),
    );
    assert_error(
        client
            .create_key()
            .key_spec(KeySpec::EccNistEdwards25519)
            .send()
            .await,
        UNSUPPORTED,
        "KeySpec ECC_NIST_EDWARDS25519 is not supported in this Region.",
    );
    assert_error(
        client
            .create_key()
            .key_usage(KeyUsageType::SignVerify)
            .send()
            .await,
        VALIDATION,
        "KeyUsage SIGN_VERIFY is not compatible with KeySpec SYMMETRIC_DEFAULT",
    );
    assert_error(
        client
            .create_key()
            .origin(OriginType::AwsCloudhsm)
            .send()
            .await,
        UNSUPPORTED,
        "Origin AWS_CLOUDHSM is not supported.",
    );
    assert_error(
        client.create_key().policy("not a policy").send().await,
        "MalformedPolicyDocumentException",
        "The new key policy is not a valid JSON policy document.",
    );
    assert_error(
        client.create_key().multi_region(true).send().await,
        UNSUPPORTED,
        "Multi-Region keys are not supported.",
    );

    // Tags.
    let with_tags = |keys: Vec<String>| {
        client
            .create_key()
            .set_tags(Some(keys.iter().map(|k| tag(k, "v")).collect()))
    };
    let reserved = "Tags beginning with aws: are reserved";
    for keys in [vec!["aws:x"], vec!["AWS:x"], vec!["ok", "Aws:owner"]] {
        let keys = keys.into_iter().map(str::to_owned).collect();
        assert_error(with_tags(keys).send().await, "TagException", reserved);
    }
    assert_error(
        with_tags(vec!["team".into(), "team".into()]).send().await,
        "TagException",
        "Duplicate tag keys",
    );
    assert_error(
        with_tags((0..51).map(|i| format!("tag{i}")).collect())
            .send()
            .await,
        "TagException",
        "Too many tags",
    );
    let long = "k".repeat(129);
    assert_error(
        with_tags(vec![long.clone()]).send().await,
        VALIDATION,
        &invalid(
            &format!("Value '{long}'"),
            "tags.1.member.tagKey",
            &at_most(128),
        ),
    );

    // None of the refused requests left a key behind.
    let listed = client.list_keys().send().await.expect("ListKeys");
    assert!(listed.keys().is_empty(), "{:?}", listed.keys());
}

#[tokio::test]
async fn list_keys_errors() {
    let d = Daemon::start();
    let client = d.client();
    new_key(&client).await;
    assert_error(
        client.list_keys().limit(0).send().await,
        VALIDATION,
        &invalid("Value '0'", "limit", &value_at_least(1)),
    );
    assert_error(
        client.list_keys().limit(1001).send().await,
        VALIDATION,
        &invalid("Value '1001'", "limit", &value_at_most(1000)),
    );
    let invalid_marker = "Invalid marker: use the NextMarker of the previous response.";
    assert_error(
        client.list_keys().marker("never-issued").send().await,
        "InvalidMarkerException",
        invalid_marker,
    );
    // AWS's Marker is 1..1024 characters: a long marker we never issued is still just an
    // invalid marker, and only past 1024 is it a validation error.
    let long = "m".repeat(1024);
    assert_error(
        client.list_keys().marker(&long).send().await,
        "InvalidMarkerException",
        invalid_marker,
    );
    let too_long = "m".repeat(1025);
    assert_error(
        client.list_keys().marker(&too_long).send().await,
        VALIDATION,
        &invalid(&format!("Value '{too_long}'"), "marker", &at_most(1024)),
    );
}

#[tokio::test]
async fn protocol_errors() {
    let d = Daemon::start();

    let (type_name, message) = raw_error(&d, Some("TrentService.Nope"), "{}");
    assert_eq!(type_name, "UnknownOperationException");
    assert_eq!(
        message.as_deref(),
        Some(r#"Unknown operation "TrentService.Nope"."#)
    );
    let (type_name, _) = raw_error(&d, None, "{}");
    assert_eq!(type_name, "UnknownOperationException");
    let (type_name, _) = raw_error(&d, Some("Encrypt"), "{}");
    assert_eq!(type_name, "UnknownOperationException");

    let (type_name, message) = raw_error(&d, Some("TrentService.DescribeKey"), r#"{"KeyId":"#);
    assert_eq!(type_name, SERIALIZATION);
    let message = message.unwrap_or_default();
    assert!(
        message.starts_with("The request body is not valid JSON"),
        "{message}"
    );

    let (type_name, message) = raw_error(
        &d,
        Some("TrentService.GenerateRandom"),
        &json!({ "NumberOfBytes": "x" }).to_string(),
    );
    assert_eq!(type_name, SERIALIZATION);
    let message = message.unwrap_or_default();
    assert!(message.contains("'NumberOfBytes'"), "{message}");
}

#[tokio::test]
async fn every_response_has_a_request_id() {
    let d = Daemon::start();
    let body = json!({ "NumberOfBytes": 16 }).to_string();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (status, json, headers) = d.raw(Some("TrentService.GenerateRandom"), &body);
        assert_eq!(status, 200, "{json}");
        assert!(!headers.contains("x-amzn-errortype"), "{headers}");
        let id = headers
            .lines()
            .find_map(|l| l.strip_prefix("x-amzn-requestid: "))
            .unwrap_or_else(|| panic!("no request id: {headers}"))
            .trim()
            .to_owned();
        ids.push(id);
    }
    let (status, _, headers) = d.raw(Some("TrentService.Nope"), "{}");
    assert_eq!(status, 400);
    assert!(headers.contains("x-amzn-requestid: "), "{headers}");
    assert!(
        headers.contains("x-amzn-errortype: unknownoperationexception"),
        "{headers}"
    );
    assert_ne!(ids[0], ids[1], "request ids repeat");
}
