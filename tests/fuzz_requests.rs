//! Arbitrary request bodies for every operation, signed as an SDK signs them, through the
//! service's whole request path (authentication, parsing, member checks, the domain, the
//! error shapes) on a real SoftHSM2 token, in this process: none may panic, hang or answer
//! 5xx, and every refusal is an AWS error body. Case counts follow PROPTEST_CASES.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hsmkms::api::Service;
use hsmkms::config::Settings;
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use common::{init_token, signed_with_headers, DEV_KEY};

/// Every operation served, with the members of its AWS model input.
const OPERATIONS: &[(&str, &[&str])] = &[
    (
        "CreateKey",
        &[
            "Policy",
            "Description",
            "KeyUsage",
            "CustomerMasterKeySpec",
            "KeySpec",
            "Origin",
            "CustomKeyStoreId",
            "BypassPolicyLockoutSafetyCheck",
            "Tags",
            "MultiRegion",
            "XksKeyId",
        ],
    ),
    ("DescribeKey", &["KeyId", "GrantTokens"]),
    ("ListKeys", &["Limit", "Marker"]),
    (
        "Encrypt",
        &[
            "KeyId",
            "Plaintext",
            "EncryptionContext",
            "GrantTokens",
            "EncryptionAlgorithm",
            "DryRun",
        ],
    ),
    (
        "Decrypt",
        &[
            "CiphertextBlob",
            "EncryptionContext",
            "GrantTokens",
            "KeyId",
            "EncryptionAlgorithm",
            "Recipient",
            "DryRun",
            "DryRunModifiers",
        ],
    ),
    (
        "ReEncrypt",
        &[
            "CiphertextBlob",
            "SourceEncryptionContext",
            "SourceKeyId",
            "DestinationKeyId",
            "DestinationEncryptionContext",
            "SourceEncryptionAlgorithm",
            "DestinationEncryptionAlgorithm",
            "GrantTokens",
            "DryRun",
            "DryRunModifiers",
        ],
    ),
    (
        "GenerateDataKey",
        &[
            "KeyId",
            "EncryptionContext",
            "NumberOfBytes",
            "KeySpec",
            "GrantTokens",
            "Recipient",
            "DryRun",
        ],
    ),
    (
        "GenerateDataKeyWithoutPlaintext",
        &[
            "KeyId",
            "EncryptionContext",
            "KeySpec",
            "NumberOfBytes",
            "GrantTokens",
            "DryRun",
        ],
    ),
    (
        "GenerateRandom",
        &["NumberOfBytes", "CustomKeyStoreId", "Recipient"],
    ),
    ("EnableKey", &["KeyId"]),
    ("DisableKey", &["KeyId"]),
    ("ScheduleKeyDeletion", &["KeyId", "PendingWindowInDays"]),
    ("CancelKeyDeletion", &["KeyId"]),
    ("UpdateKeyDescription", &["KeyId", "Description"]),
    ("EnableKeyRotation", &["KeyId", "RotationPeriodInDays"]),
    ("DisableKeyRotation", &["KeyId"]),
    ("GetKeyRotationStatus", &["KeyId"]),
    ("RotateKeyOnDemand", &["KeyId"]),
    (
        "ListKeyRotations",
        &["KeyId", "IncludeKeyMaterial", "Limit", "Marker"],
    ),
    (
        "GetParametersForImport",
        &["KeyId", "WrappingAlgorithm", "WrappingKeySpec"],
    ),
    (
        "ImportKeyMaterial",
        &[
            "KeyId",
            "ImportToken",
            "EncryptedKeyMaterial",
            "ValidTo",
            "ExpirationModel",
            "ImportType",
            "KeyMaterialDescription",
            "KeyMaterialId",
        ],
    ),
    ("DeleteImportedKeyMaterial", &["KeyId", "KeyMaterialId"]),
    ("CreateAlias", &["AliasName", "TargetKeyId"]),
    ("UpdateAlias", &["AliasName", "TargetKeyId"]),
    ("DeleteAlias", &["AliasName"]),
    ("ListAliases", &["KeyId", "Limit", "Marker"]),
    ("TagResource", &["KeyId", "Tags"]),
    ("UntagResource", &["KeyId", "TagKeys"]),
    ("ListResourceTags", &["KeyId", "Limit", "Marker"]),
    ("GetKeyPolicy", &["KeyId", "PolicyName"]),
    (
        "PutKeyPolicy",
        &[
            "KeyId",
            "PolicyName",
            "Policy",
            "BypassPolicyLockoutSafetyCheck",
        ],
    ),
    ("ListKeyPolicies", &["KeyId", "Limit", "Marker"]),
    (
        "CreateGrant",
        &[
            "KeyId",
            "GranteePrincipal",
            "RetiringPrincipal",
            "Operations",
            "Constraints",
            "GrantTokens",
            "Name",
            "DryRun",
            "GranteeServicePrincipal",
            "RetiringServicePrincipal",
        ],
    ),
    (
        "ListGrants",
        &[
            "Limit",
            "Marker",
            "KeyId",
            "GrantId",
            "GranteePrincipal",
            "GranteeServicePrincipal",
        ],
    ),
    (
        "ListRetirableGrants",
        &[
            "Limit",
            "Marker",
            "RetiringPrincipal",
            "RetiringServicePrincipal",
        ],
    ),
    ("RetireGrant", &["GrantToken", "KeyId", "GrantId", "DryRun"]),
    ("RevokeGrant", &["KeyId", "GrantId", "DryRun"]),
];

/// Values that reach past the type checks: enum names, key references, base64, limits.
fn telling_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("SYMMETRIC_DEFAULT".to_owned()),
        Just("EXTERNAL".to_owned()),
        Just("AES_256".to_owned()),
        Just("RSAES_OAEP_SHA_256".to_owned()),
        Just("RSA_2048".to_owned()),
        Just("IGNORE_CIPHERTEXT".to_owned()),
        Just("KEY_MATERIAL_EXPIRES".to_owned()),
        Just("alias/fuzz".to_owned()),
        Just("alias/aws/x".to_owned()),
        Just("1234abcd-12ab-34cd-56ef-1234567890ab".to_owned()),
        Just(
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                .to_owned()
        ),
        Just("arn:aws:iam::111122223333:root".to_owned()),
        Just("AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8w".to_owned()),
        Just(r#"{"Version":"2012-10-17","Statement":[]}"#.to_owned()),
        "[A-Za-z0-9+/=]{0,24}",
        ".{0,24}",
    ]
}

/// Any JSON value, weighted towards what member checks look at.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        prop_oneof![
            Just(i64::MIN),
            Just(-1i64),
            Just(0),
            Just(1),
            Just(16),
            Just(1024),
            Just(1025),
            Just(i64::MAX)
        ]
        .prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        telling_string().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(telling_string(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A body for the operation at `index`: its members (and sometimes another) with any
/// values, as JSON text, sometimes followed by junk; or any text at all.
fn body() -> impl Strategy<Value = (usize, String)> {
    let operation = 0..OPERATIONS.len();
    operation.prop_flat_map(|index| {
        let members = OPERATIONS[index].1;
        let name = prop_oneof![
            4 => proptest::sample::select(members).prop_map(str::to_owned),
            1 => "[A-Za-z]{1,12}",
        ];
        let object = proptest::collection::vec((name, value()), 0..6)
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>()).to_string())
            .boxed();
        let text = prop_oneof![
            6 => object.clone(),
            1 => (object, ".{1,8}").prop_map(|(o, junk)| o + &junk),
            1 => ".{0,64}",
        ];
        (Just(index), text)
    })
}

/// A service on a fresh token and sidecar, and the runtime it runs on.
struct InProcess {
    runtime: tokio::runtime::Runtime,
    service: Arc<Service>,
    host: String,
    _dir: tempfile::TempDir,
}

fn in_process() -> InProcess {
    let dir = tempfile::tempdir().expect("tempdir");
    init_token(dir.path());
    // The token's module reads this once: this binary holds this one test.
    std::env::set_var("SOFTHSM2_CONF", dir.path().join("softhsm2.conf"));
    let settings = Settings::load(&dir.path().join("hsmkms.toml")).expect("settings");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let opened = runtime.block_on(hsmkms::open(&settings)).expect("open");
    let service = Arc::new(Service::new(opened.kms, opened.audit, &settings).expect("service"));
    InProcess {
        runtime,
        service,
        host: "127.0.0.1:1".to_owned(),
        _dir: dir,
    }
}

impl InProcess {
    /// The service's answer to `body` for `operation`, signed by the dev key now:
    /// (status, body).
    fn answer(&self, operation: &str, body: &str) -> (u16, Vec<u8>) {
        let target = format!("TrentService.{operation}");
        let headers = [
            ("host", self.host.as_str()),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target.as_str()),
        ];
        let text = signed_with_headers(&headers, body, DEV_KEY, SystemTime::now(), "");
        let (head, _) = text.split_once("\r\n\r\n").expect("request text");
        let mut request = hyper::Request::builder().method("POST").uri("/");
        for line in head.lines().skip(1) {
            let (name, value) = line.split_once(": ").expect("header line");
            request = request.header(name, value);
        }
        let (parts, ()) = request.body(()).expect("request").into_parts();
        self.runtime.block_on(async {
            let answer = tokio::time::timeout(
                Duration::from_secs(10),
                self.service.answer(&parts, body.as_bytes()),
            )
            .await
            .unwrap_or_else(|_| panic!("{operation} {body:?}: no answer within 10 s"));
            let status = answer.status().as_u16();
            let bytes = answer.into_body().collect().await.expect("body").to_bytes();
            (status, bytes.to_vec())
        })
    }
}

#[test]
fn arbitrary_bodies_get_an_answer_and_never_a_fault() {
    let service = in_process();
    let (status, answer) = service.answer("GenerateRandom", r#"{"NumberOfBytes":8}"#);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    proptest!(ProptestConfig::default(), |((index, body) in body())| {
        let operation = OPERATIONS[index].0;
        let (status, answer) = service.answer(operation, &body);
        let answer: Value = serde_json::from_slice(&answer).expect("a JSON answer");
        prop_assert!(status < 500, "{} {:?}: {} {}", operation, body, status, answer);
        if status != 200 {
            prop_assert!(answer["__type"].is_string(), "{} {:?}: {}", operation, body, answer);
        }
    });
}
