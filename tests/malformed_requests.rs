//! Malformed requests: bodies that are not exactly one JSON object of the operation's
//! members, members the service does not know, and headers that are repeated or left
//! unsigned. Each is refused with AWS's error type, never decided by what the parser keeps.

mod common;

use serde_json::json;

use common::{Daemon, VALIDATION};

const SERIALIZATION: &str = "SerializationException";

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
