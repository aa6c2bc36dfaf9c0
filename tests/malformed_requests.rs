//! Malformed requests: bodies that are not exactly one JSON object of the operation's
//! members, members the service does not know, and headers that are repeated or left
//! unsigned. Each is refused with AWS's error type, never decided by what the parser keeps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::time::{Duration, SystemTime};

use serde_json::json;

use common::{signed_request, signed_with_headers, Daemon, DEV_KEY, VALIDATION};

const SERIALIZATION: &str = "SerializationException";
const INCOMPLETE_SIGNATURE: &str = "IncompleteSignatureException";
const INVALID_SIGNATURE: &str = "InvalidSignatureException";
const TARGET: &str = "TrentService.GenerateRandom";
const BODY: &str = r#"{"NumberOfBytes":16}"#;
const JSON_1_1: &str = "application/x-amz-json-1.1";

/// A signed request's error: (`__type`, `message`), asserting HTTP 400.
fn refused(d: &Daemon, operation: &str, body: &str) -> (String, String) {
    let (status, json, _) = d.raw(Some(&format!("TrentService.{operation}")), body);
    assert_eq!(status, 400, "{operation} {body}: {json}");
    (
        json["__type"].as_str().unwrap_or_default().to_owned(),
        json["message"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn trailing_bytes_after_the_json_body_are_a_serialization_exception() {
    let d = Daemon::start();
    let valid = json!({ "NumberOfBytes": 16 }).to_string();
    let (status, answer, _) = d.raw(
        Some("TrentService.GenerateRandom"),
        &format!("{valid} \r\n"),
    );
    assert_eq!(status, 200, "trailing whitespace is allowed: {answer}");
    for trailing in ["x", "{}", " {\"NumberOfBytes\":1024}", "\0"] {
        let (type_name, message) = refused(&d, "GenerateRandom", &format!("{valid}{trailing}"));
        assert_eq!(type_name, SERIALIZATION, "{trailing:?}");
        assert!(
            message.starts_with("The request body is not valid JSON: trailing characters"),
            "{trailing:?}: {message}"
        );
    }
}

#[test]
fn a_body_that_is_not_a_json_object_is_a_serialization_exception() {
    let d = Daemon::start();
    for (body, says) in [
        ("[16]", "Start of list found where not expected"),
        ("\"x\"", "invalid type: string"),
        ("16", "invalid type: integer"),
        (
            r#"{"KeyId":"k","Tags":[["a","b"]]}"#,
            "Start of list found where not expected",
        ),
    ] {
        let operation = if body.contains("Tags") {
            "TagResource"
        } else {
            "GenerateRandom"
        };
        let (type_name, message) = refused(&d, operation, body);
        assert_eq!(type_name, SERIALIZATION, "{body}");
        assert!(message.contains(says), "{body}: {message}");
    }
    let (type_name, message) = refused(
        &d,
        "GenerateRandom",
        r#"{"NumberOfBytes":1,"NumberOfBytes":2}"#,
    );
    assert_eq!(type_name, SERIALIZATION);
    assert!(
        message.contains("duplicate field `NumberOfBytes`"),
        "{message}"
    );
}

#[test]
fn unknown_members_are_refused_naming_them() {
    let d = Daemon::start();
    for (operation, body, member) in [
        ("ListKeys", json!({ "Limit": 10, "KeyId": "k" }), "KeyId"),
        (
            "GenerateRandom",
            json!({ "NumberOfBytes": 8, "numberOfBytes": 8 }),
            "numberOfBytes",
        ),
        (
            "TagResource",
            json!({ "KeyId": "k", "Tags": [{ "TagKey": "a", "TagValue": "b", "Other": 1 }] }),
            "Tags[0].Other",
        ),
        (
            "CreateGrant",
            json!({ "KeyId": "k", "Operations": ["Encrypt"], "Constraints": { "EncryptionContextAll": {} } }),
            "Constraints.EncryptionContextAll",
        ),
        (
            "GenerateDataKeyWithoutPlaintext",
            json!({ "KeyId": "k", "NumberOfBytes": 16, "Recipient": {} }),
            "Recipient",
        ),
    ] {
        let (type_name, message) = refused(&d, operation, &body.to_string());
        assert_eq!(
            (type_name.as_str(), message.as_str()),
            (VALIDATION, unknown(member).as_str()),
            "{operation} {body}"
        );
    }
}

/// The message for a member the service does not know.
fn unknown(member: &str) -> String {
    format!("The request has a member '{member}' that this operation does not take; it is refused rather than ignored.")
}

#[test]
fn members_of_the_current_model_are_checked_then_served_or_refused() {
    let d = Daemon::start();
    let unsupported = "UnsupportedOperationException";
    let blob = "AQ".repeat(40);
    let long = "a".repeat(65);
    let cases = [
        (
            "Decrypt",
            json!({ "CiphertextBlob": blob, "DryRun": true, "DryRunModifiers": ["NOPE"] }),
            VALIDATION,
            common::invalid(
                "Value 'NOPE'",
                "dryRunModifiers",
                "Member must satisfy enum value set: [IGNORE_CIPHERTEXT]",
            ),
        ),
        (
            "ReEncrypt",
            json!({ "CiphertextBlob": blob, "DestinationKeyId": "k", "DryRun": true, "DryRunModifiers": ["IGNORE_CIPHERTEXT"] }),
            unsupported,
            "DryRunModifiers IGNORE_CIPHERTEXT is not supported: send the ciphertext with DryRun."
                .to_owned(),
        ),
        (
            "GenerateDataKey",
            json!({ "KeyId": "k", "NumberOfBytes": 16, "Recipient": { "KeyEncryptionAlgorithm": "RSA" } }),
            VALIDATION,
            common::invalid(
                "Value 'RSA'",
                "recipient.keyEncryptionAlgorithm",
                "Member must satisfy enum value set: [RSAES_OAEP_SHA_256]",
            ),
        ),
        (
            "GenerateRandom",
            json!({ "NumberOfBytes": 16, "CustomKeyStoreId": long }),
            VALIDATION,
            common::invalid(
                &format!("Value '{long}'"),
                "customKeyStoreId",
                &common::at_most(64),
            ),
        ),
        (
            "CreateKey",
            json!({ "XksKeyId": "a b" }),
            VALIDATION,
            common::invalid(
                "Value 'a b'",
                "xksKeyId",
                "Member must satisfy regular expression pattern: ^[a-zA-Z0-9-_.]+$",
            ),
        ),
        (
            "ListKeys",
            json!({ "Marker": "\u{100}" }),
            VALIDATION,
            common::invalid(
                "Value '\u{100}'",
                "marker",
                "Member must satisfy regular expression pattern: [\\u0020-\\u00FF]*",
            ),
        ),
        (
            "CreateGrant",
            json!({ "KeyId": "k", "Operations": ["Encrypt"], "GranteeServicePrincipal": "" }),
            VALIDATION,
            common::invalid("Value ''", "granteeServicePrincipal", &common::at_least(1)),
        ),
    ];
    for (operation, body, code, message) in cases {
        let (type_name, sent) = refused(&d, operation, &body.to_string());
        assert_eq!(
            (type_name.as_str(), sent.as_str()),
            (code, message.as_str()),
            "{operation} {body}"
        );
    }
}

#[tokio::test]
async fn dry_run_modifiers_without_dry_run_do_nothing() {
    let d = Daemon::start();
    let client = d.client();
    let key = common::new_key(&client).await;
    let blob = common::encrypt(&client, &key, b"secret".to_vec()).await;
    let body = json!({
        "CiphertextBlob": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, blob.as_ref()),
        "DryRunModifiers": ["IGNORE_CIPHERTEXT"],
    });
    let (status, answer, _) = d.raw(Some("TrentService.Decrypt"), &body.to_string());
    assert_eq!(status, 200, "{answer}");
}

/// The host:port of `d`.
fn host(d: &Daemon) -> &str {
    d.endpoint.trim_start_matches("http://")
}

/// GenerateRandom signed by the dev key now, with `extra` header lines added unsigned.
fn signed_with_extra(d: &Daemon, extra: &str) -> String {
    let extra = format!("{extra}Connection: close\r\n");
    signed_request(
        host(d),
        Some(TARGET),
        BODY,
        DEV_KEY,
        SystemTime::now(),
        &extra,
    )
}

/// The (`__type`, `message`) of a raw request's answer, asserting HTTP 400.
fn answer(d: &Daemon, request: &str) -> (String, String) {
    let (status, json, _) = d.send(request);
    assert_eq!(status, 400, "{json}");
    (
        json["__type"].as_str().unwrap_or_default().to_owned(),
        json["message"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn repeated_authentication_and_target_headers_are_refused() {
    let d = Daemon::start();
    let (status, json, _) = d.send(&signed_with_extra(&d, ""));
    assert_eq!(status, 200, "the unchanged request is served: {json}");
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let other = signed_request(host(&d), Some(TARGET), BODY, DEV_KEY, an_hour_ago, "");
    let other_authorization = other
        .lines()
        .find(|l| l.starts_with("authorization: "))
        .expect("authorization");
    let other_date = other
        .lines()
        .find(|l| l.starts_with("x-amz-date: "))
        .expect("x-amz-date");
    for (extra, name) in [
        (format!("{other_authorization}\r\n"), "Authorization"),
        (format!("{other_date}\r\n"), "X-Amz-Date"),
        (
            "X-Amz-Security-Token: a\r\nX-Amz-Security-Token: b\r\n".to_owned(),
            "X-Amz-Security-Token",
        ),
        (
            "X-Amz-Target: TrentService.ListKeys\r\n".to_owned(),
            "X-Amz-Target",
        ),
        (format!("Content-Type: {JSON_1_1}\r\n"), "Content-Type"),
    ] {
        let (type_name, message) = answer(&d, &signed_with_extra(&d, &extra));
        assert_eq!(
            (type_name.as_str(), message.as_str()),
            (
                INCOMPLETE_SIGNATURE,
                format!("The request must not carry more than one '{name}' header.").as_str()
            ),
            "{extra}"
        );
    }
}

#[test]
fn target_and_content_type_must_be_signed_when_sent() {
    let d = Daemon::start();
    let unsigned_target = signed_with_headers(
        &[("host", host(&d)), ("content-type", JSON_1_1)],
        BODY,
        DEV_KEY,
        SystemTime::now(),
        &format!("X-Amz-Target: {TARGET}\r\nConnection: close\r\n"),
    );
    let unsigned_content_type = signed_with_headers(
        &[("host", host(&d)), ("x-amz-target", TARGET)],
        BODY,
        DEV_KEY,
        SystemTime::now(),
        &format!("Content-Type: {JSON_1_1}\r\nConnection: close\r\n"),
    );
    for (request, name) in [
        (unsigned_target, "x-amz-target"),
        (unsigned_content_type, "content-type"),
    ] {
        let (type_name, message) = answer(&d, &request);
        assert_eq!(
            (type_name.as_str(), message.as_str()),
            (
                INVALID_SIGNATURE,
                format!("'{name}' must be a 'SignedHeader' in the AWS Authorization.").as_str()
            )
        );
    }
    // Without a Content-Type nothing is left unsigned: the request is served.
    let no_content_type = signed_with_headers(
        &[("host", host(&d)), ("x-amz-target", TARGET)],
        BODY,
        DEV_KEY,
        SystemTime::now(),
        "Connection: close\r\n",
    );
    let (status, json, _) = d.send(&no_content_type);
    assert_eq!(status, 200, "{json}");
}

#[test]
fn signed_headers_must_be_ascii_and_listed_once() {
    let d = Daemon::start();
    let request = signed_with_extra(&d, "X-Extra: caf\u{e9}\r\n").replacen(
        "SignedHeaders=",
        "SignedHeaders=x-extra;",
        1,
    );
    let (type_name, message) = answer(&d, &request);
    assert_eq!(
        (type_name.as_str(), message.as_str()),
        (
            INVALID_SIGNATURE,
            "The value of the signed header 'x-extra' is not printable ASCII."
        )
    );
    let request =
        signed_with_extra(&d, "").replacen("SignedHeaders=", "SignedHeaders=content-type;", 1);
    let (type_name, message) = answer(&d, &request);
    assert_eq!(
        (type_name.as_str(), message.as_str()),
        (
            INCOMPLETE_SIGNATURE,
            "SignedHeaders lists 'content-type' more than once."
        )
    );
}
