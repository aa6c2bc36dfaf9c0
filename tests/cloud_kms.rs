//! The Cloud KMS REST API over raw HTTP: key rings, crypto keys, encrypt and decrypt with
//! additional authenticated data and CRC32C fields, bearer-token authentication, the
//! google.rpc error body, and keys shared with the AWS API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::primitives::Blob;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{Daemon, CLOUD_APP_TOKEN};
use serde_json::{json, Value};

const LOCATION: &str = "projects/p1/locations/global";

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn unb64(value: &Value) -> Vec<u8> {
    STANDARD
        .decode(value.as_str().expect("base64 string"))
        .expect("base64")
}

fn ok(answer: (u16, Value)) -> Value {
    assert_eq!(answer.0, 200, "{}", answer.1);
    answer.1
}

fn error(answer: (u16, Value), http: u16, status: &str) -> String {
    assert_eq!(answer.0, http, "{}", answer.1);
    assert_eq!(answer.1["error"]["status"], status, "{}", answer.1);
    assert!(answer.1["error"]["code"].as_u64().is_some());
    answer.1["error"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

/// A key ring and a symmetric crypto key in it; returns the crypto key's name.
fn symmetric_key(daemon: &Daemon, ring: &str, key: &str) -> String {
    let ring_path = format!("/v1/{LOCATION}/keyRings?keyRingId={ring}");
    ok(daemon.cloud("POST", &ring_path, "{}"));
    let parent = format!("{LOCATION}/keyRings/{ring}");
    let path = format!("/v1/{parent}/cryptoKeys?cryptoKeyId={key}");
    let created = ok(daemon.cloud("POST", &path, r#"{"purpose": 1}"#));
    assert_eq!(created["purpose"], "ENCRYPT_DECRYPT");
    assert_eq!(created["primary"]["state"], "ENABLED");
    assert_eq!(
        created["versionTemplate"]["algorithm"],
        "GOOGLE_SYMMETRIC_ENCRYPTION"
    );
    assert_eq!(created["destroyScheduledDuration"], "2592000s");
    format!("{parent}/cryptoKeys/{key}")
}

#[test]
fn key_rings_and_crypto_keys_are_created_listed_and_refused_twice() {
    let daemon = Daemon::start();
    let key = symmetric_key(&daemon, "ring-a", "key-a");
    let ring = format!("{LOCATION}/keyRings/ring-a");
    assert_eq!(
        ok(daemon.cloud("GET", &format!("/v1/{ring}"), ""))["name"],
        ring
    );
    let again = daemon.cloud(
        "POST",
        &format!("/v1/{LOCATION}/keyRings?keyRingId=ring-a"),
        "{}",
    );
    error(again, 409, "ALREADY_EXISTS");
    let rings = ok(daemon.cloud("GET", &format!("/v1/{LOCATION}/keyRings"), ""));
    assert_eq!(rings["keyRings"][0]["name"], ring);
    let keys = ok(daemon.cloud("GET", &format!("/v1/{ring}/cryptoKeys"), ""));
    assert_eq!(keys["cryptoKeys"][0]["name"], key);
    assert_eq!(keys["totalSize"], 1);
    let missing = daemon.cloud("GET", &format!("/v1/{ring}/cryptoKeys/nope"), "");
    error(missing, 404, "NOT_FOUND");
    let bad = daemon.cloud(
        "POST",
        &format!("/v1/{ring}/cryptoKeys?cryptoKeyId=k2"),
        r#"{"purpose": "ENCRYPT_DECRYPT", "versionTemplate": {"algorithm": "EC_SIGN_P256_SHA256"}}"#,
    );
    error(bad, 400, "INVALID_ARGUMENT");
    let software = daemon.cloud(
        "POST",
        &format!("/v1/{ring}/cryptoKeys?cryptoKeyId=k3"),
        r#"{"purpose": "ENCRYPT_DECRYPT", "versionTemplate": {"protectionLevel": "SOFTWARE"}}"#,
    );
    error(software, 400, "INVALID_ARGUMENT");
    let patched = daemon.cloud(
        "PATCH",
        &format!("/v1/{key}?updateMask=labels"),
        r#"{"labels": {"team": "payments"}}"#,
    );
    assert_eq!(ok(patched)["labels"]["team"], "payments");
}

#[test]
fn encrypt_and_decrypt_bind_the_additional_data_and_check_crc32c() {
    let daemon = Daemon::start();
    let key = symmetric_key(&daemon, "ring", "key");
    let plaintext = b"cloud secret";
    let body = json!({
        "plaintext": b64(plaintext),
        "additionalAuthenticatedData": b64(b"aad"),
        "plaintextCrc32c": crc32c::crc32c(plaintext).to_string(),
    });
    let sealed = ok(daemon.cloud("POST", &format!("/v1/{key}:encrypt"), &body.to_string()));
    assert_eq!(sealed["name"], format!("{key}/cryptoKeyVersions/1"));
    assert_eq!(sealed["verifiedPlaintextCrc32c"], true);
    assert_eq!(sealed["verifiedAdditionalAuthenticatedDataCrc32c"], false);
    let ciphertext = unb64(&sealed["ciphertext"]);
    assert_eq!(
        sealed["ciphertextCrc32c"],
        crc32c::crc32c(&ciphertext).to_string()
    );
    let decrypt = |aad: &[u8]| {
        let body = json!({"ciphertext": b64(&ciphertext), "additionalAuthenticatedData": b64(aad)});
        daemon.cloud("POST", &format!("/v1/{key}:decrypt"), &body.to_string())
    };
    let opened = ok(decrypt(b"aad"));
    assert_eq!(unb64(&opened["plaintext"]), plaintext);
    assert_eq!(opened["usedPrimary"], true);
    assert_eq!(
        opened["plaintextCrc32c"],
        crc32c::crc32c(plaintext).to_string()
    );
    error(decrypt(b"other"), 400, "INVALID_ARGUMENT");
    let corrupted = json!({"plaintext": b64(plaintext), "plaintextCrc32c": "1"});
    let refused = daemon.cloud(
        "POST",
        &format!("/v1/{key}:encrypt"),
        &corrupted.to_string(),
    );
    let message = error(refused, 400, "INVALID_ARGUMENT");
    assert!(message.contains("plaintext_crc32c"), "{message}");
}

#[test]
fn bearer_tokens_name_callers() {
    let daemon = Daemon::start();
    let path = format!("/v1/{LOCATION}/keyRings");
    error(
        daemon.cloud_as(None, "GET", &path, ""),
        401,
        "UNAUTHENTICATED",
    );
    error(
        daemon.cloud_as(Some("wrong"), "GET", &path, ""),
        401,
        "UNAUTHENTICATED",
    );
    error(
        daemon.cloud_as(Some(CLOUD_APP_TOKEN), "GET", &path, ""),
        403,
        "PERMISSION_DENIED",
    );
    error(daemon.cloud("DELETE", &path, ""), 404, "NOT_FOUND");
}

#[test]
fn keys_are_shared_between_the_two_apis() {
    let daemon = Daemon::start();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = daemon.client();
    // Made through AWS: visible and usable through Cloud KMS in the aws key ring.
    let key_id = rt.block_on(async {
        let made = client.create_key().send().await.expect("create key");
        made.key_metadata.expect("metadata").key_id
    });
    let aws_name = format!(
        "projects/{}/locations/{}/keyRings/aws/cryptoKeys/{key_id}",
        common::ACCOUNT,
        common::REGION
    );
    let shown = ok(daemon.cloud("GET", &format!("/v1/{aws_name}"), ""));
    assert_eq!(shown["purpose"], "ENCRYPT_DECRYPT");
    let body = json!({"plaintext": b64(b"both ways")}).to_string();
    let sealed = ok(daemon.cloud("POST", &format!("/v1/{aws_name}:encrypt"), &body));
    let ciphertext = unb64(&sealed["ciphertext"]);
    let plaintext = rt.block_on(async {
        let out = client
            .decrypt()
            .ciphertext_blob(Blob::new(ciphertext))
            .send()
            .await
            .expect("AWS decrypt of a Cloud KMS ciphertext");
        out.plaintext.expect("plaintext").into_inner()
    });
    assert_eq!(plaintext, b"both ways");
    // Made through Cloud KMS: an AWS key with the same material, its AAD as context.
    let key = symmetric_key(&daemon, "shared", "k");
    let body = json!({"plaintext": b64(b"aad bound"), "additionalAuthenticatedData": b64(b"x")});
    let sealed = ok(daemon.cloud("POST", &format!("/v1/{key}:encrypt"), &body.to_string()));
    let ciphertext = unb64(&sealed["ciphertext"]);
    rt.block_on(async {
        let out = client
            .decrypt()
            .ciphertext_blob(Blob::new(ciphertext))
            .encryption_context("cloudkms:aad", b64(b"x"))
            .send()
            .await
            .expect("AWS decrypt with the AAD as context");
        assert_eq!(out.plaintext.expect("plaintext").into_inner(), b"aad bound");
        let aws = client
            .describe_key()
            .key_id(out.key_id.expect("key id"))
            .send()
            .await;
        let metadata = aws.expect("describe").key_metadata.expect("metadata");
        assert!(metadata.description.expect("description").contains(&key));
    });
}

#[test]
fn cloud_requests_are_audited_without_secrets() {
    let daemon = Daemon::start();
    let key = symmetric_key(&daemon, "audited", "k");
    let secret = b"audited plaintext, never in the log";
    let body = json!({"plaintext": b64(secret), "additionalAuthenticatedData": b64(b"aad-secret")});
    ok(daemon.cloud("POST", &format!("/v1/{key}:encrypt"), &body.to_string()));
    error(
        daemon.cloud_as(Some("wrong"), "GET", &format!("/v1/{key}"), ""),
        401,
        "UNAUTHENTICATED",
    );
    let lines = daemon.audit_lines();
    let encrypt = lines
        .iter()
        .find(|l| l.contains("google.cloud.kms.v1.KeyManagementService.Encrypt"))
        .expect("an Encrypt record");
    let record: Value = serde_json::from_str(encrypt).expect("JSON record");
    let text = record.to_string();
    assert!(text.contains(common::DEV_PRINCIPAL), "{text}");
    assert!(
        text.contains(&format!(
            "arn:aws:kms:{}:{}:key/",
            common::REGION,
            common::ACCOUNT
        )),
        "{text}"
    );
    assert!(text.contains(&format!("/v1/{key}:encrypt")), "{text}");
    let all = lines.join("\n");
    assert!(!all.contains(&b64(secret)), "plaintext in the audit log");
    assert!(
        !all.contains(&b64(b"aad-secret")),
        "additional data in the audit log"
    );
    let refused = lines
        .iter()
        .find(|l| l.contains("GetCryptoKey") && l.contains("UNAUTHENTICATED"));
    assert!(
        refused.is_some(),
        "the unauthenticated request has its record"
    );
}
