//! Security through the AWS SDK for Rust and raw signed requests: every request is
//! authenticated with SigV4 (AWS's error types and messages for each way a signature can be
//! wrong), and every operation is authorized by IAM's part (the admin principals), the key
//! policy with its conditions, an explicit Deny, grants with their constraints and what
//! they pass on, alias changes, and the policy lockout safety check.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::fmt::Debug;
use std::time::{Duration, SystemTime};

use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::config::Credentials;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::operation::create_grant::{CreateGrantError, CreateGrantOutput};
use aws_sdk_kms::operation::decrypt::{DecryptError, DecryptOutput};
use aws_sdk_kms::operation::encrypt::{EncryptError, EncryptOutput};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{GrantConstraints, GrantOperation};
use aws_sdk_kms::Client;
use base64::Engine;
use serde_json::{json, Value};

use common::{
    assert_error, context, decrypt, describe, encrypt, key_policy, new_key, signed_request,
    try_decrypt, try_encrypt, AccessKey, Daemon, APP_KEY, APP_PRINCIPAL, DEV_KEY, DEV_PRINCIPAL,
    REGION, USER_PIN,
};

const ACCESS_DENIED: &str = "AccessDeniedException";
const MALFORMED_POLICY: &str = "MalformedPolicyDocumentException";
/// AWS's answer to a policy that would lock its caller out of PutKeyPolicy.
const LOCKOUT: &str =
    "The new key policy will not allow you to update the key policy in the future.";
const INVALID_SIGNATURE: &str = "InvalidSignatureException";
const INCOMPLETE_SIGNATURE: &str = "IncompleteSignatureException";
const UNRECOGNIZED_CLIENT: &str = "UnrecognizedClientException";
const BAD_SIGNATURE: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const BAD_TOKEN: &str = "The security token included in the request is invalid.";
/// A principal with no credential here: a grantee the app is not.
const OTHER_PRINCIPAL: &str = "arn:aws:iam::111122223333:user/other";
/// The raw request every raw case starts from, and the same-length body a tamperer sends.
const TARGET: &str = "TrentService.GenerateRandom";
const BODY: &str = r#"{"NumberOfBytes":16}"#;
const TAMPERED_BODY: &str = r#"{"NumberOfBytes":32}"#;
/// Data that must never reach the log, nor its base64 form.
const PLAINTEXT: &str = "plaintext that stays out of the log";

// ---------------------------------------------------------------------------------------
// Helpers: AWS's error shape on the wire.
// ---------------------------------------------------------------------------------------

/// Asserts an AWS error answer: HTTP 400, a body of exactly `__type` and `message`, the
/// type also in `x-amzn-errortype`, and a request id. Returns the message.
#[track_caller]
fn assert_aws_error(status: u16, body: &Value, headers: &str, code: &str) -> String {
    assert_eq!(status, 400, "{body}");
    let members = body.as_object().unwrap_or_else(|| panic!("body: {body}"));
    let mut names: Vec<&str> = members.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["__type", "message"], "{body}");
    assert_eq!(body["__type"], code, "{body}");
    let header = |name: &str| {
        headers
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {name} in {headers}"))
            .to_owned()
    };
    // The fixture's raw reader lowers the whole head; compare without case.
    let error_type = header("x-amzn-errortype:");
    assert!(
        error_type.eq_ignore_ascii_case(code),
        "{error_type} for {code}"
    );
    assert!(!header("x-amzn-requestid:").is_empty(), "{headers}");
    body["message"].as_str().expect("message").to_owned()
}

/// Asserts that an SDK call was refused with `code` and `message`, and that the answer on
/// the wire has AWS's error shape.
#[track_caller]
fn assert_refused<T: Debug, E: ProvideErrorMetadata + Debug>(
    result: Result<T, SdkError<E, HttpResponse>>,
    code: &str,
    message: &str,
) {
    let error = assert_error(result, code, message);
    let raw = error.raw_response().expect("raw response");
    let body: Value = serde_json::from_slice(raw.body().bytes().expect("body")).expect("JSON");
    let headers: String = raw
        .headers()
        .iter()
        .map(|(name, value)| format!("{}: {value}\n", name.to_lowercase()))
        .collect();
    assert_eq!(
        assert_aws_error(raw.status().as_u16(), &body, &headers, code),
        message
    );
}

/// Sends raw request text, expects an AWS error `code`; its message.
#[track_caller]
fn raw_refused(d: &Daemon, request: &str, code: &str) -> String {
    let (status, body, headers) = d.send(request);
    assert_aws_error(status, &body, &headers, code)
}

// ---------------------------------------------------------------------------------------
// Helpers: raw request text.
// ---------------------------------------------------------------------------------------

/// `BODY` to `TARGET`, signed with `key` at `time`, closing the connection after.
fn raw_request(d: &Daemon, key: AccessKey, time: SystemTime) -> String {
    let host = d.endpoint.trim_start_matches("http://");
    signed_request(host, Some(TARGET), BODY, key, time, "Connection: close\r\n")
}

/// The value of header `name` in request text.
fn header_of(request: &str, name: &str) -> String {
    let (head, _) = request.split_once("\r\n\r\n").expect("request");
    head.lines()
        .find_map(|line| {
            let (n, v) = line.split_once(": ")?;
            n.eq_ignore_ascii_case(name).then(|| v.to_owned())
        })
        .unwrap_or_else(|| panic!("no {name} in {head}"))
}

/// Request text with header `name` given `value`, or removed when `value` is `None`.
fn with_header(request: &str, name: &str, value: Option<&str>) -> String {
    let (head, body) = request.split_once("\r\n\r\n").expect("request");
    let lines = head
        .split("\r\n")
        .filter_map(|line| match line.split_once(": ") {
            Some((n, _)) if n.eq_ignore_ascii_case(name) => value.map(|v| format!("{n}: {v}")),
            _ => Some(line.to_owned()),
        });
    format!("{}\r\n\r\n{body}", lines.collect::<Vec<_>>().join("\r\n"))
}

/// Request text whose Authorization header has `from` replaced by `to`.
fn edit_authorization(request: &str, from: &str, to: &str) -> String {
    let value = header_of(request, "authorization");
    assert!(value.contains(from), "{from} not in {value}");
    with_header(request, "authorization", Some(&value.replacen(from, to, 1)))
}

// ---------------------------------------------------------------------------------------
// Helpers: authorization.
// ---------------------------------------------------------------------------------------

/// AWS's AccessDeniedException message for `principal` doing `operation` on `resource`
/// with no `kind` ("identity" or "resource") based policy allowing it.
fn not_allowed_to(principal: &str, operation: &str, resource: &str, kind: &str) -> String {
    format!(
        "User: {principal} is not authorized to perform: kms:{operation} on resource: \
         {resource} because no {kind}-based policy allows the kms:{operation} action"
    )
}

/// `not_allowed_to` for the app.
fn not_allowed(operation: &str, resource: &str, kind: &str) -> String {
    not_allowed_to(APP_PRINCIPAL, operation, resource, kind)
}

/// AWS's AccessDeniedException message for the app denied `operation` on `arn` by a Deny.
fn explicitly_denied(operation: &str, arn: &str) -> String {
    format!(
        "User: {APP_PRINCIPAL} is not authorized to perform: kms:{operation} on resource: \
         {arn} with an explicit deny in a resource-based policy"
    )
}

/// A statement with `effect` on `actions` for the app, under `condition` when given.
fn for_app(effect: &str, actions: &[&str], condition: Option<Value>) -> Value {
    let mut statement = json!({
        "Effect": effect,
        "Principal": {"AWS": APP_PRINCIPAL},
        "Action": actions,
        "Resource": "*",
    });
    if let Some(condition) = condition {
        statement["Condition"] = condition;
    }
    statement
}

/// A key policy: the account root keeps `kms:*` (so the admin keeps the key), and `extra`.
fn policy(extra: &[Value]) -> String {
    let root: Value = serde_json::from_str(&key_policy("root")).expect("policy");
    let mut statements = root["Statement"].as_array().expect("statements").clone();
    statements.extend_from_slice(extra);
    policy_of_only(&statements)
}

/// A key policy of `statements` alone: without the account root's statement, the admin
/// principals have no part in the key.
fn policy_of_only(statements: &[Value]) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

/// PutKeyPolicy by `client`; it must succeed.
async fn put_policy(client: &Client, key: &str, text: &str) {
    client
        .put_key_policy()
        .key_id(key)
        .policy(text)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutKeyPolicy {text}: {e:?}"));
}

/// An encryption context from pairs; `None` for no pairs (the member left out).
fn context_of(pairs: &[(&str, &str)]) -> Option<std::collections::HashMap<String, String>> {
    (!pairs.is_empty()).then(|| context(pairs))
}

/// Encrypt under `key` with the encryption context `pairs`.
async fn encrypt_in(
    client: &Client,
    key: &str,
    pairs: &[(&str, &str)],
) -> Result<EncryptOutput, SdkError<EncryptError, HttpResponse>> {
    client
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new("tenant data"))
        .set_encryption_context(context_of(pairs))
        .send()
        .await
}

/// Decrypt of `blob` (no KeyId) with the encryption context `pairs`.
async fn decrypt_in(
    client: &Client,
    blob: Blob,
    pairs: &[(&str, &str)],
) -> Result<DecryptOutput, SdkError<DecryptError, HttpResponse>> {
    client
        .decrypt()
        .ciphertext_blob(blob)
        .set_encryption_context(context_of(pairs))
        .send()
        .await
}

/// A constraint: the request's encryption context must hold the pairs `pairs`.
fn subset_of(pairs: &[(&str, &str)]) -> GrantConstraints {
    GrantConstraints::builder()
        .set_encryption_context_subset(Some(context(pairs)))
        .build()
}

/// CreateGrant by `client` on `key` for `grantee` of `operations`.
async fn try_grant(
    client: &Client,
    key: &str,
    grantee: &str,
    retiring: Option<&str>,
    operations: &[GrantOperation],
    constraints: Option<GrantConstraints>,
) -> Result<CreateGrantOutput, SdkError<CreateGrantError, HttpResponse>> {
    client
        .create_grant()
        .key_id(key)
        .grantee_principal(grantee)
        .set_retiring_principal(retiring.map(str::to_owned))
        .set_operations(Some(operations.to_vec()))
        .set_constraints(constraints)
        .send()
        .await
}

/// A grant on `key` for `grantee` allowing Encrypt and Decrypt; its (GrantId, GrantToken).
async fn grant(
    admin: &Client,
    key: &str,
    grantee: &str,
    retiring: Option<&str>,
    constraints: Option<GrantConstraints>,
) -> (String, String) {
    let operations = [GrantOperation::Encrypt, GrantOperation::Decrypt];
    let out = try_grant(admin, key, grantee, retiring, &operations, constraints)
        .await
        .expect("CreateGrant");
    (
        out.grant_id().expect("GrantId").to_owned(),
        out.grant_token().expect("GrantToken").to_owned(),
    )
}

/// The ids of the grants on `key`.
async fn grant_ids(admin: &Client, key: &str) -> Vec<String> {
    let listed = admin
        .list_grants()
        .key_id(key)
        .send()
        .await
        .expect("ListGrants");
    listed
        .grants()
        .iter()
        .map(|g| g.grant_id().expect("GrantId").to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Authentication.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn sdk_callers_are_authenticated_by_their_access_key_and_secret() {
    let mut d = Daemon::start();
    // At debug level too, nothing below may put a secret into the log.
    d.set_env("RUST_LOG", "debug");
    d.restart();
    let wrong_secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGSECRET";

    // The wrong secret first: the signing key it is checked with comes from the configured
    // secret, so the right one works afterwards.
    assert_refused(
        d.client_as((DEV_KEY.0, wrong_secret))
            .list_keys()
            .send()
            .await,
        INVALID_SIGNATURE,
        BAD_SIGNATURE,
    );
    let dev_client = d.client();
    let key = new_key(&dev_client).await;
    let blob = encrypt(&dev_client, &key, PLAINTEXT).await;
    assert_eq!(decrypt(&dev_client, blob).await, PLAINTEXT.as_bytes());
    let listed = dev_client.list_keys().send().await.expect("ListKeys");
    assert_eq!(listed.keys().len(), 1);
    // The app authenticates; that it may not list keys is authorization's answer.
    assert_refused(
        d.client_as(APP_KEY).list_keys().send().await,
        ACCESS_DENIED,
        &not_allowed("ListKeys", "*", "identity"),
    );

    assert_refused(
        d.client_as(("AKIAIOSFODNN7UNKNOWN", DEV_KEY.1))
            .list_keys()
            .send()
            .await,
        UNRECOGNIZED_CLIENT,
        BAD_TOKEN,
    );
    // Temporary (STS) credentials are never accepted, even with a valid key and secret.
    let session = Credentials::new(
        DEV_KEY.0,
        DEV_KEY.1,
        Some("FwoGZXIvYXdzEXAMPLE".into()),
        None,
        "sts",
    );
    assert_refused(
        d.client_with(session, REGION).list_keys().send().await,
        UNRECOGNIZED_CLIENT,
        BAD_TOKEN,
    );
    let dev = Credentials::new(DEV_KEY.0, DEV_KEY.1, None, None, "dev");
    assert_refused(
        d.client_with(dev, "eu-west-1").list_keys().send().await,
        INVALID_SIGNATURE,
        "Credential should be scoped to a valid region, not 'eu-west-1'.",
    );

    let log = d.log();
    assert!(
        log.contains("signature mismatch"),
        "not at debug level: {log}"
    );
    assert!(log.contains("access denied"), "{log}");
    let encoded = base64::engine::general_purpose::STANDARD.encode(PLAINTEXT);
    for secret in [
        DEV_KEY.1,
        APP_KEY.1,
        wrong_secret,
        USER_PIN,
        PLAINTEXT,
        &encoded,
    ] {
        assert!(!log.contains(secret), "the log holds {secret}:\n{log}");
    }
}

#[tokio::test]
async fn raw_requests_without_a_valid_signature_are_refused() {
    let d = Daemon::start();
    let signed = raw_request(&d, DEV_KEY, SystemTime::now());
    let (status, body, _) = d.send(&signed);
    assert_eq!(status, 200, "the unaltered request: {body}");

    assert_eq!(
        raw_refused(
            &d,
            &with_header(&signed, "authorization", None),
            "MissingAuthenticationTokenException"
        ),
        "Request is missing Authentication Token"
    );

    // The body's hash is signed: another body of the same length does not verify.
    let (head, body) = signed.split_once("\r\n\r\n").unwrap();
    assert_eq!(body, BODY);
    let tampered = format!("{head}\r\n\r\n{TAMPERED_BODY}");
    assert_eq!(raw_refused(&d, &tampered, INVALID_SIGNATURE), BAD_SIGNATURE);
    // So is every signed header.
    let retargeted = with_header(&signed, "x-amz-target", Some("TrentService.ListKeys"));
    assert_eq!(
        raw_refused(&d, &retargeted, INVALID_SIGNATURE),
        BAD_SIGNATURE
    );

    // Malformed Authorization headers, each naming what is wrong.
    let authorization = header_of(&signed, "authorization");
    let signed_headers = authorization
        .split(", ")
        .find(|p| p.starts_with("SignedHeaders="))
        .unwrap();
    let signature = authorization
        .split(", ")
        .find(|p| p.starts_with("Signature="))
        .unwrap();
    let cases = [
        (
            edit_authorization(&signed, &format!(", {signed_headers}"), ""),
            INCOMPLETE_SIGNATURE,
            "Authorization header requires 'SignedHeaders' parameter.",
        ),
        (
            edit_authorization(&signed, &format!(", {signature}"), ""),
            INCOMPLETE_SIGNATURE,
            "Authorization header requires 'Signature' parameter.",
        ),
        (
            with_header(&signed, "authorization", Some("Basic ZGV2OnNlY3JldA==")),
            INCOMPLETE_SIGNATURE,
            "Unsupported AWS 'algorithm': 'Basic'. Use AWS4-HMAC-SHA256.",
        ),
        (
            edit_authorization(&signed, "/us-east-1/kms/aws4_request", "/us-east-1/kms"),
            INCOMPLETE_SIGNATURE,
            "Credential should be scoped to a valid key id, date, region, service and \
             'aws4_request'; got 'AKIAIOSFODNN7EXAMPLE/",
        ),
        (
            with_header(&signed, "x-amz-date", None),
            INCOMPLETE_SIGNATURE,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        ),
        (
            edit_authorization(&signed, "/kms/aws4_request", "/s3/aws4_request"),
            INVALID_SIGNATURE,
            "Credential should be scoped to correct service: 'kms'.",
        ),
        (
            edit_authorization(
                &signed,
                "SignedHeaders=content-type;host;",
                "SignedHeaders=content-type;",
            ),
            INVALID_SIGNATURE,
            "'host' must be a 'SignedHeader' in the AWS Authorization.",
        ),
    ];
    for (request, code, message) in &cases {
        let got = raw_refused(&d, request, code);
        assert!(got.starts_with(message), "{got:?} for {request}");
    }

    // More than 5 minutes off the daemon's clock, either way.
    let ten_minutes = Duration::from_secs(600);
    for (time, says, relation, sign) in [
        (
            SystemTime::now() - ten_minutes,
            "Signature expired",
            "is now earlier than",
            "-",
        ),
        (
            SystemTime::now() + ten_minutes,
            "Signature not yet current",
            "is still later than",
            "+",
        ),
    ] {
        let request = raw_request(&d, DEV_KEY, time);
        let date = header_of(&request, "x-amz-date");
        let message = raw_refused(&d, &request, INVALID_SIGNATURE);
        let expected_start = format!("{says}: {date} {relation} ");
        assert!(message.starts_with(&expected_start), "{message}");
        assert!(message.ends_with(&format!(" {sign} 5 min.)")), "{message}");
    }

    let log = d.log();
    for secret in [DEV_KEY.1, APP_KEY.1, USER_PIN] {
        assert!(!log.contains(secret), "the log holds {secret}:\n{log}");
    }
}

// ---------------------------------------------------------------------------------------
// Authorization.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn iam_and_the_key_policy_decide_with_an_explicit_deny_winning() {
    let d = Daemon::start();
    let (admin, app) = (d.client(), d.client_as(APP_KEY));

    // Operations on no key are IAM's: only the admin principals.
    assert_refused(
        app.create_key().send().await,
        ACCESS_DENIED,
        &not_allowed("CreateKey", "*", "identity"),
    );
    assert_refused(
        app.list_keys().send().await,
        ACCESS_DENIED,
        &not_allowed("ListKeys", "*", "identity"),
    );

    // The default policy lets in the account's IAM-allowed identities, not the app.
    let key = new_key(&admin).await;
    let arn = d.key_arn(&key);
    assert_refused(
        try_encrypt(&app, &key, "x").await,
        ACCESS_DENIED,
        &not_allowed("Encrypt", &arn, "resource"),
    );

    // A statement for the app: Encrypt and Decrypt, and nothing else.
    let use_key = for_app("Allow", &["kms:Encrypt", "kms:Decrypt"], None);
    put_policy(&admin, &key, &policy(std::slice::from_ref(&use_key))).await;
    let blob = encrypt(&app, &key, "app data").await;
    assert_eq!(decrypt(&app, blob.clone()).await, b"app data");
    assert_refused(
        app.describe_key().key_id(&key).send().await,
        ACCESS_DENIED,
        &not_allowed("DescribeKey", &arn, "resource"),
    );
    assert_refused(
        app.put_key_policy()
            .key_id(&key)
            .policy(policy(&[]))
            .send()
            .await,
        ACCESS_DENIED,
        &not_allowed("PutKeyPolicy", &arn, "resource"),
    );

    // A Deny for the app wins over the Allow; what it does not name stays allowed.
    let deny = for_app("Deny", &["kms:Encrypt"], None);
    put_policy(&admin, &key, &policy(&[use_key, deny])).await;
    assert_refused(
        try_encrypt(&app, &key, "x").await,
        ACCESS_DENIED,
        &explicitly_denied("Encrypt", &arn),
    );
    assert_eq!(decrypt(&app, blob).await, b"app data");

    // Decrypt without KeyId is authorized against the key the ciphertext names: the app
    // may decrypt under `key`, not under `other`.
    let other = new_key(&admin).await;
    let other_arn = d.key_arn(&other);
    let other_blob = encrypt(&admin, &other, "admin data").await;
    assert_refused(
        try_decrypt(&app, other_blob.clone()).await,
        ACCESS_DENIED,
        &not_allowed("Decrypt", &other_arn, "resource"),
    );
    // Naming a key it may use does not open another key's ciphertext.
    assert_refused(
        app.decrypt()
            .key_id(&key)
            .ciphertext_blob(other_blob)
            .send()
            .await,
        "IncorrectKeyException",
        "The key ID in the request does not identify a CMK that can perform this operation.",
    );
}

#[tokio::test]
async fn encryption_context_conditions_and_unsupported_condition_keys() {
    let d = Daemon::start();
    let (admin, app) = (d.client(), d.client_as(APP_KEY));
    let key = new_key(&admin).await;
    let arn = d.key_arn(&key);
    let tenant_a = json!({"StringEquals": {"kms:EncryptionContext:tenant": "a"}});
    let tenant_policy = policy(&[for_app("Allow", &["kms:Encrypt"], Some(tenant_a))]);
    put_policy(&admin, &key, &tenant_policy).await;

    encrypt_in(&app, &key, &[("tenant", "a")])
        .await
        .expect("tenant a");
    let denied = not_allowed("Encrypt", &arn, "resource");
    for pairs in [&[("tenant", "b")][..], &[("other", "a")], &[]] {
        assert_refused(encrypt_in(&app, &key, pairs).await, ACCESS_DENIED, &denied);
    }

    // A condition hsmkms cannot evaluate is refused, never ignored; the policy in force
    // stays as it was.
    let via = json!({"StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}});
    let refused = policy(&[for_app("Allow", &["kms:Encrypt"], Some(via))]);
    assert_refused(
        admin
            .put_key_policy()
            .key_id(&key)
            .policy(&refused)
            .send()
            .await,
        MALFORMED_POLICY,
        "Condition key kms:ViaService is not supported by this key store.",
    );
    assert_refused(
        admin.create_key().policy(&refused).send().await,
        MALFORMED_POLICY,
        "Condition key kms:ViaService is not supported by this key store.",
    );
    let stored = admin
        .get_key_policy()
        .key_id(&key)
        .send()
        .await
        .expect("GetKeyPolicy");
    assert_eq!(stored.policy(), Some(tenant_policy.as_str()));
    encrypt_in(&app, &key, &[("tenant", "a")])
        .await
        .expect("tenant a, still");
}

#[tokio::test]
async fn grants_let_their_grantee_in_within_their_constraint_until_revoked_or_retired() {
    let d = Daemon::start();
    let (admin, app) = (d.client(), d.client_as(APP_KEY));
    let key = new_key(&admin).await;
    let arn = d.key_arn(&key);
    let denied = not_allowed("Encrypt", &arn, "resource");

    // Only a caller the policy allows kms:CreateGrant may grant.
    assert_refused(
        try_grant(
            &app,
            &key,
            APP_PRINCIPAL,
            None,
            &[GrantOperation::Encrypt],
            None,
        )
        .await,
        ACCESS_DENIED,
        &not_allowed("CreateGrant", &arn, "resource"),
    );

    let subset = subset_of(&[("tenant", "a")]);
    let (grant_id, _) = grant(&admin, &key, APP_PRINCIPAL, None, Some(subset)).await;
    let tenant_a = [("tenant", "a"), ("purpose", "billing")];
    let blob = encrypt_in(&app, &key, &tenant_a)
        .await
        .expect("Encrypt within the grant")
        .ciphertext_blob
        .expect("CiphertextBlob");
    let plain = decrypt_in(&app, blob.clone(), &tenant_a)
        .await
        .expect("Decrypt");
    assert_eq!(
        plain.plaintext().map(Blob::as_ref),
        Some(&b"tenant data"[..])
    );
    for pairs in [&[][..], &[("tenant", "b")]] {
        assert_refused(encrypt_in(&app, &key, pairs).await, ACCESS_DENIED, &denied);
    }

    // A Deny in the key policy wins over the grant.
    put_policy(
        &admin,
        &key,
        &policy(&[for_app("Deny", &["kms:Encrypt"], None)]),
    )
    .await;
    assert_refused(
        encrypt_in(&app, &key, &tenant_a).await,
        ACCESS_DENIED,
        &explicitly_denied("Encrypt", &arn),
    );
    put_policy(&admin, &key, &policy(&[])).await;
    encrypt_in(&app, &key, &tenant_a)
        .await
        .expect("the grant again");

    // Revoked: denied at once.
    admin
        .revoke_grant()
        .key_id(&key)
        .grant_id(&grant_id)
        .send()
        .await
        .expect("RevokeGrant");
    assert_refused(
        encrypt_in(&app, &key, &tenant_a).await,
        ACCESS_DENIED,
        &denied,
    );
    assert_refused(
        decrypt_in(&app, blob, &tenant_a).await,
        ACCESS_DENIED,
        &not_allowed("Decrypt", &arn, "resource"),
    );

    // The retiring principal retires a grant with no policy allowing it kms:RetireGrant;
    // a caller that is neither grantee nor retiring principal needs one.
    let (retirable, token) = grant(&admin, &key, OTHER_PRINCIPAL, Some(APP_PRINCIPAL), None).await;
    let (not_retirable, _) = grant(&admin, &key, OTHER_PRINCIPAL, None, None).await;
    assert_refused(
        app.retire_grant()
            .key_id(&key)
            .grant_id(&not_retirable)
            .send()
            .await,
        ACCESS_DENIED,
        &not_allowed("RetireGrant", &arn, "resource"),
    );
    app.retire_grant()
        .grant_token(&token)
        .send()
        .await
        .expect("RetireGrant by the retiring principal");
    let left = grant_ids(&admin, &key).await;
    assert_eq!(left, [not_retirable], "{retirable} still listed");
}

#[tokio::test]
async fn grants_pass_on_no_more_than_they_hold_and_constraints_bind_only_operations_with_a_context()
{
    let d = Daemon::start();
    let (admin, app) = (d.client(), d.client_as(APP_KEY));
    let key = new_key(&admin).await;
    let arn = d.key_arn(&key);

    // A grant of CreateGrant and Encrypt: the app may pass on Encrypt, not what it lacks.
    let held = [GrantOperation::CreateGrant, GrantOperation::Encrypt];
    try_grant(&admin, &key, APP_PRINCIPAL, None, &held, None)
        .await
        .expect("CreateGrant for the app");
    for wider in [
        &[GrantOperation::Decrypt][..],
        &[GrantOperation::DescribeKey],
        &[GrantOperation::Encrypt, GrantOperation::Decrypt],
    ] {
        assert_refused(
            try_grant(&app, &key, APP_PRINCIPAL, None, wider, None).await,
            ACCESS_DENIED,
            &not_allowed("CreateGrant", &arn, "resource"),
        );
    }
    let encrypt_only = [GrantOperation::Encrypt];
    try_grant(&app, &key, APP_PRINCIPAL, None, &encrypt_only, None)
        .await
        .expect("the app passes on Encrypt");
    assert_eq!(grant_ids(&admin, &key).await.len(), 2);

    // A constrained grant with CreateGrant is passed on only under a constraint at least as
    // strict. Its Encrypt stays within the constraint; its DescribeKey and RetireGrant,
    // which carry no encryption context, are not bound by it.
    let key = new_key(&admin).await;
    let arn = d.key_arn(&key);
    let tenant_a = [("tenant", "a")];
    let held = [
        GrantOperation::CreateGrant,
        GrantOperation::Encrypt,
        GrantOperation::DescribeKey,
        GrantOperation::RetireGrant,
    ];
    let constraint = subset_of(&tenant_a);
    try_grant(
        &admin,
        &key,
        APP_PRINCIPAL,
        None,
        &held,
        Some(constraint.clone()),
    )
    .await
    .expect("a constrained grant for the app");
    assert_refused(
        try_grant(&app, &key, APP_PRINCIPAL, None, &encrypt_only, None).await,
        ACCESS_DENIED,
        &not_allowed("CreateGrant", &arn, "resource"),
    );
    try_grant(
        &app,
        &key,
        APP_PRINCIPAL,
        None,
        &encrypt_only,
        Some(constraint),
    )
    .await
    .expect("passed on under the same constraint");
    encrypt_in(&app, &key, &tenant_a)
        .await
        .expect("Encrypt within the constraint");
    assert_refused(
        encrypt_in(&app, &key, &[]).await,
        ACCESS_DENIED,
        &not_allowed("Encrypt", &arn, "resource"),
    );
    assert_eq!(describe(&app, &key).await.key_id(), key);
    // The app is neither grantee nor retiring principal of this grant: its own grant's
    // RetireGrant retires only its own grant.
    let (others, _) = grant(&admin, &key, OTHER_PRINCIPAL, None, None).await;
    assert_refused(
        app.retire_grant()
            .key_id(&key)
            .grant_id(&others)
            .send()
            .await,
        ACCESS_DENIED,
        &not_allowed("RetireGrant", &arn, "resource"),
    );
    assert!(grant_ids(&admin, &key).await.contains(&others));
}

#[tokio::test]
async fn the_lockout_safety_check_and_alias_changes_need_the_current_key_policy() {
    let d = Daemon::start();
    let (admin, app) = (d.client(), d.client_as(APP_KEY));
    let key = new_key(&admin).await;
    let arn = d.key_arn(&key);
    let other = new_key(&admin).await;
    let alias = "alias/locked";
    admin
        .create_alias()
        .alias_name(alias)
        .target_key_id(&key)
        .send()
        .await
        .expect("CreateAlias");

    // A policy for the app alone would leave the admin unable to update it: refused by
    // PutKeyPolicy and CreateKey unless the caller bypasses the check.
    let app_only = policy_of_only(&[for_app("Allow", &["kms:*"], None)]);
    for bypass in [None, Some(false)] {
        assert_refused(
            admin
                .put_key_policy()
                .key_id(&key)
                .policy(&app_only)
                .set_bypass_policy_lockout_safety_check(bypass)
                .send()
                .await,
            MALFORMED_POLICY,
            LOCKOUT,
        );
        assert_refused(
            admin
                .create_key()
                .policy(&app_only)
                .set_bypass_policy_lockout_safety_check(bypass)
                .send()
                .await,
            MALFORMED_POLICY,
            LOCKOUT,
        );
    }
    let stored = admin
        .get_key_policy()
        .key_id(&key)
        .send()
        .await
        .expect("GetKeyPolicy");
    assert_ne!(stored.policy(), Some(app_only.as_str()));
    let listed = admin.list_keys().send().await.expect("ListKeys");
    assert_eq!(listed.keys().len(), 2, "a refused CreateKey made a key");
    let created = admin
        .create_key()
        .policy(&app_only)
        .bypass_policy_lockout_safety_check(true)
        .send()
        .await
        .expect("CreateKey bypassing the check");
    let created = created.key_metadata().expect("metadata").key_id();
    assert_refused(
        admin.describe_key().key_id(created).send().await,
        ACCESS_DENIED,
        &not_allowed_to(
            DEV_PRINCIPAL,
            "DescribeKey",
            &d.key_arn(created),
            "resource",
        ),
    );

    // Locked out of `key`, the admin may neither move nor delete its alias, though IAM's
    // part and `other`'s policy allow it; the alias stays on `key`.
    admin
        .put_key_policy()
        .key_id(&key)
        .policy(&app_only)
        .bypass_policy_lockout_safety_check(true)
        .send()
        .await
        .expect("PutKeyPolicy bypassing the check");
    assert_refused(
        admin
            .update_alias()
            .alias_name(alias)
            .target_key_id(&other)
            .send()
            .await,
        ACCESS_DENIED,
        &not_allowed_to(DEV_PRINCIPAL, "UpdateAlias", &arn, "resource"),
    );
    assert_refused(
        admin.delete_alias().alias_name(alias).send().await,
        ACCESS_DENIED,
        &not_allowed_to(DEV_PRINCIPAL, "DeleteAlias", &arn, "resource"),
    );
    assert_eq!(describe(&app, alias).await.key_id(), key);

    // The check is the caller's: the app may not hand the key to the admins alone, which
    // would lock the app out, unless it bypasses the check.
    assert_refused(
        app.put_key_policy()
            .key_id(&key)
            .policy(policy(&[]))
            .send()
            .await,
        MALFORMED_POLICY,
        LOCKOUT,
    );
    app.put_key_policy()
        .key_id(&key)
        .policy(policy(&[]))
        .bypass_policy_lockout_safety_check(true)
        .send()
        .await
        .expect("the app hands the key back");
    admin
        .update_alias()
        .alias_name(alias)
        .target_key_id(&other)
        .send()
        .await
        .expect("UpdateAlias");
    admin
        .delete_alias()
        .alias_name(alias)
        .send()
        .await
        .expect("DeleteAlias");
}

/// An alias moved between two keys while the app uses it: every request is decided and
/// served on the one key the alias named when the request was read. The app may use `mine`
/// (by a grant, so each decision waits on the sidecar) and not `theirs`; no Encrypt may land
/// on `theirs` and no Decrypt of a `theirs` blob may succeed, however the flips interleave.
#[tokio::test]
async fn a_moving_alias_never_lets_a_check_on_one_key_serve_another() {
    let d = Daemon::start();
    let (admin, app) = (d.client(), d.client_as(APP_KEY));
    let (mine, theirs) = (new_key(&admin).await, new_key(&admin).await);
    grant(&admin, &mine, APP_PRINCIPAL, None, None).await;
    let theirs_blob = encrypt(&admin, &theirs, "not for the app").await;
    let alias = "alias/flipping";
    admin
        .create_alias()
        .alias_name(alias)
        .target_key_id(&mine)
        .send()
        .await
        .expect("CreateAlias");
    let done = std::sync::atomic::AtomicBool::new(false);
    let flipper = async {
        for round in 0..300 {
            let target = if round % 2 == 0 { &theirs } else { &mine };
            admin
                .update_alias()
                .alias_name(alias)
                .target_key_id(target)
                .send()
                .await
                .expect("UpdateAlias");
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let user = async {
        let (mut served, mut denied) = (0, 0);
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            match try_encrypt(&app, alias, "app data").await {
                Ok(out) => {
                    assert_eq!(out.key_id(), Some(d.key_arn(&mine).as_str()));
                    served += 1;
                }
                Err(e) => {
                    assert_eq!(e.code(), Some(ACCESS_DENIED), "{e:?}");
                    denied += 1;
                }
            }
            let decrypted = app
                .decrypt()
                .key_id(alias)
                .ciphertext_blob(theirs_blob.clone())
                .send()
                .await;
            let code = decrypted.expect_err("the app decrypted a blob of a key it may not use");
            assert!(
                matches!(code.code(), Some(ACCESS_DENIED | "IncorrectKeyException")),
                "{code:?}"
            );
        }
        (served, denied)
    };
    let ((), (served, denied)) = tokio::join!(flipper, user);
    assert!(served > 0 && denied > 0, "served {served}, denied {denied}");
}
