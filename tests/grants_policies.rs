//! Grants and key policies as AWS KMS has them: what a grant's CreateGrant may pass on, who
//! may retire a grant, grant tokens, the grants-per-key quota, which principals a key
//! policy may name, and statements without a Resource.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::error::SdkError;
use aws_sdk_kms::operation::create_grant::{CreateGrantError, CreateGrantOutput};
use aws_sdk_kms::operation::put_key_policy::{PutKeyPolicyError, PutKeyPolicyOutput};
use aws_sdk_kms::operation::retire_grant::{RetireGrantError, RetireGrantOutput};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{GrantConstraints, GrantOperation};
use aws_sdk_kms::Client;

use common::{assert_error, context, key_policy, new_key, Daemon, APP_KEY, APP_PRINCIPAL};

const ACCESS_DENIED: &str = "AccessDeniedException";
/// A principal with no credential here.
const OTHER_PRINCIPAL: &str = "arn:aws:iam::111122223333:user/other";
/// Every grant operation a symmetric encryption key supports.
const GRANTABLE: [GrantOperation; 11] = [
    GrantOperation::Decrypt,
    GrantOperation::Encrypt,
    GrantOperation::GenerateDataKey,
    GrantOperation::GenerateDataKeyWithoutPlaintext,
    GrantOperation::ReEncryptFrom,
    GrantOperation::ReEncryptTo,
    GrantOperation::CreateGrant,
    GrantOperation::RetireGrant,
    GrantOperation::DescribeKey,
    GrantOperation::GenerateDataKeyPair,
    GrantOperation::GenerateDataKeyPairWithoutPlaintext,
];

/// AWS's AccessDeniedException message for the app doing `operation` on `arn` with no
/// key policy allowing it.
fn not_allowed(operation: &str, arn: &str) -> String {
    format!(
        "User: {APP_PRINCIPAL} is not authorized to perform: kms:{operation} on resource: \
         {arn} because no resource-based policy allows the kms:{operation} action"
    )
}

/// A constraint: the request's encryption context must hold `pairs`.
fn subset(pairs: &[(&str, &str)]) -> Option<GrantConstraints> {
    Some(
        GrantConstraints::builder()
            .set_encryption_context_subset(Some(context(pairs)))
            .build(),
    )
}

/// A constraint: the request's encryption context must be exactly `pairs`.
fn equals(pairs: &[(&str, &str)]) -> Option<GrantConstraints> {
    Some(
        GrantConstraints::builder()
            .set_encryption_context_equals(Some(context(pairs)))
            .build(),
    )
}

/// CreateGrant by `client` on `key` for `grantee` of `operations` under `constraints`.
async fn try_grant(
    client: &Client,
    key: &str,
    grantee: &str,
    operations: &[GrantOperation],
    constraints: Option<GrantConstraints>,
) -> Result<CreateGrantOutput, SdkError<CreateGrantError, HttpResponse>> {
    client
        .create_grant()
        .key_id(key)
        .grantee_principal(grantee)
        .set_operations(Some(operations.to_vec()))
        .set_constraints(constraints)
        .send()
        .await
}

/// `try_grant`, which must succeed; the grant's (GrantId, GrantToken).
async fn grant(
    client: &Client,
    key: &str,
    grantee: &str,
    operations: &[GrantOperation],
    constraints: Option<GrantConstraints>,
) -> (String, String) {
    let out = try_grant(client, key, grantee, operations, constraints.clone())
        .await
        .unwrap_or_else(|e| panic!("CreateGrant {operations:?} {constraints:?}: {e:?}"));
    (
        out.grant_id().expect("GrantId").to_owned(),
        out.grant_token().expect("GrantToken").to_owned(),
    )
}

#[tokio::test]
async fn a_grants_create_grant_passes_on_its_operations_under_an_equal_or_stricter_constraint() {
    use GrantOperation::{CreateGrant, Decrypt, DescribeKey, Encrypt, ReEncryptFrom};
    let d = Daemon::start();
    let (admin, app) = (d.client(), d.client_as(APP_KEY));
    let key = new_key(&admin).await;
    let arn = d.key_arn(&key);
    let denied = not_allowed("CreateGrant", &arn);

    // A parent constrained to contexts that include tenant=a.
    let held = [CreateGrant, Encrypt, Decrypt, DescribeKey];
    grant(
        &admin,
        &key,
        APP_PRINCIPAL,
        &held,
        subset(&[("tenant", "a")]),
    )
    .await;
    for (operations, constraint) in [
        (&held[..], subset(&[("tenant", "a")])),
        (
            &[Encrypt],
            subset(&[("tenant", "a"), ("purpose", "billing")]),
        ),
        (&[Decrypt, CreateGrant], equals(&[("tenant", "a")])),
        (
            &[Encrypt],
            equals(&[("tenant", "a"), ("purpose", "billing")]),
        ),
    ] {
        grant(&app, &key, OTHER_PRINCIPAL, operations, constraint).await;
    }
    for (operations, constraint) in [
        (&[Encrypt][..], None),
        (&[Encrypt], subset(&[("tenant", "b")])),
        (&[Encrypt], subset(&[("purpose", "billing")])),
        (&[Encrypt], equals(&[("purpose", "billing")])),
        (&[Encrypt, ReEncryptFrom], subset(&[("tenant", "a")])),
    ] {
        assert_error(
            try_grant(&app, &key, OTHER_PRINCIPAL, operations, constraint).await,
            ACCESS_DENIED,
            &denied,
        );
    }

    // A parent constrained to exactly tenant=a passes on only that very constraint.
    let key = new_key(&admin).await;
    let denied = not_allowed("CreateGrant", &d.key_arn(&key));
    let held = [CreateGrant, Encrypt];
    grant(
        &admin,
        &key,
        APP_PRINCIPAL,
        &held,
        equals(&[("tenant", "a")]),
    )
    .await;
    grant(
        &app,
        &key,
        OTHER_PRINCIPAL,
        &[Encrypt],
        equals(&[("tenant", "a")]),
    )
    .await;
    for constraint in [
        None,
        subset(&[("tenant", "a")]),
        equals(&[("tenant", "a"), ("purpose", "billing")]),
        equals(&[("tenant", "b")]),
    ] {
        assert_error(
            try_grant(&app, &key, OTHER_PRINCIPAL, &[Encrypt], constraint).await,
            ACCESS_DENIED,
            &denied,
        );
    }
}

/// A key policy: the account root keeps `kms:*` (so the admin keeps the key), plus the
/// statements `extra`.
fn policy_with(extra: &[serde_json::Value]) -> String {
    let root: serde_json::Value = serde_json::from_str(&key_policy("root")).expect("policy");
    let mut statements = root["Statement"].as_array().expect("statements").clone();
    statements.extend_from_slice(extra);
    serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

/// PutKeyPolicy by `client`.
async fn put_policy(
    client: &Client,
    key: &str,
    text: &str,
) -> Result<PutKeyPolicyOutput, SdkError<PutKeyPolicyError, HttpResponse>> {
    client
        .put_key_policy()
        .key_id(key)
        .policy(text)
        .send()
        .await
}

/// RetireGrant by key and grant id.
async fn retire(
    client: &Client,
    key: &str,
    grant_id: &str,
) -> Result<RetireGrantOutput, SdkError<RetireGrantError, HttpResponse>> {
    client
        .retire_grant()
        .key_id(key)
        .grant_id(grant_id)
        .send()
        .await
}

/// RetireGrant by grant token.
async fn retire_by_token(
    client: &Client,
    token: &str,
) -> Result<RetireGrantOutput, SdkError<RetireGrantError, HttpResponse>> {
    client.retire_grant().grant_token(token).send().await
}

#[tokio::test]
async fn a_grantee_retires_its_grant_only_where_the_grant_includes_retire_grant() {
    use GrantOperation::{Encrypt, RetireGrant};
    let d = Daemon::start();
    let (admin, app) = (d.client(), d.client_as(APP_KEY));
    let key = new_key(&admin).await;
    let arn = d.key_arn(&key);
    let denied = not_allowed("RetireGrant", &arn);

    // The app's own grant without RetireGrant: neither by id nor by token.
    let (plain, token) = grant(&admin, &key, APP_PRINCIPAL, &[Encrypt], None).await;
    assert_error(retire(&app, &key, &plain).await, ACCESS_DENIED, &denied);
    assert_error(retire_by_token(&app, &token).await, ACCESS_DENIED, &denied);

    // A grant's RetireGrant retires that grant, not another grant of the key.
    let (retirable, token) =
        grant(&admin, &key, APP_PRINCIPAL, &[Encrypt, RetireGrant], None).await;
    let (others, _) = grant(&admin, &key, OTHER_PRINCIPAL, &[Encrypt], None).await;
    assert_error(retire(&app, &key, &others).await, ACCESS_DENIED, &denied);
    retire_by_token(&app, &token)
        .await
        .expect("the grantee retires a grant that includes RetireGrant");

    // The retiring principal needs nothing else; the account, through the key policy,
    // retires any grant.
    let named = admin
        .create_grant()
        .key_id(&key)
        .grantee_principal(OTHER_PRINCIPAL)
        .retiring_principal(APP_PRINCIPAL)
        .operations(Encrypt)
        .send()
        .await
        .expect("CreateGrant")
        .grant_id
        .expect("GrantId");
    retire(&app, &key, &named)
        .await
        .expect("the retiring principal retires");
    retire(&admin, &key, &others)
        .await
        .expect("the account retires through the key policy");
    let listed = admin
        .list_grants()
        .key_id(&key)
        .send()
        .await
        .expect("ListGrants");
    let left: Vec<&str> = listed
        .grants()
        .iter()
        .filter_map(|g| g.grant_id())
        .collect();
    assert_eq!(
        left,
        [plain.as_str()],
        "{retirable} {named} {others} retired"
    );

    // A Deny of kms:RetireGrant in the key policy wins over the grant itself.
    let (retirable, _) = grant(&admin, &key, APP_PRINCIPAL, &[Encrypt, RetireGrant], None).await;
    let deny = serde_json::json!({
        "Effect": "Deny",
        "Principal": {"AWS": APP_PRINCIPAL},
        "Action": "kms:RetireGrant",
        "Resource": "*",
    });
    put_policy(&admin, &key, &policy_with(&[deny]))
        .await
        .expect("PutKeyPolicy");
    assert_error(
        retire(&app, &key, &retirable).await,
        ACCESS_DENIED,
        &format!(
            "User: {APP_PRINCIPAL} is not authorized to perform: kms:RetireGrant on resource: \
             {arn} with an explicit deny in a resource-based policy"
        ),
    );
}

#[tokio::test]
async fn a_grant_token_allows_exactly_what_its_grant_holds() {
    use GrantOperation::{CreateGrant, Encrypt};
    let d = Daemon::start();
    let (admin, app) = (d.client(), d.client_as(APP_KEY));
    let key = new_key(&admin).await;
    let arn = d.key_arn(&key);
    let tenant_a = subset(&[("tenant", "a")]);
    let (_, token) = grant(&admin, &key, APP_PRINCIPAL, &[Encrypt], tenant_a.clone()).await;
    // Another principal's unconstrained grant: its token is no credential for the app.
    let (_, others) = grant(&admin, &key, OTHER_PRINCIPAL, &GRANTABLE, None).await;
    let tokens = [token, others];
    let encrypt = |pairs: &'static [(&'static str, &'static str)]| {
        app.encrypt()
            .key_id(&key)
            .plaintext(Blob::new("data"))
            .set_encryption_context(Some(context(pairs)))
            .set_grant_tokens(Some(tokens.to_vec()))
            .send()
    };

    let blob = encrypt(&[("tenant", "a")])
        .await
        .expect("Encrypt within the grant")
        .ciphertext_blob
        .expect("CiphertextBlob");
    assert_error(
        encrypt(&[("tenant", "b")]).await,
        ACCESS_DENIED,
        &not_allowed("Encrypt", &arn),
    );
    assert_error(
        app.decrypt()
            .ciphertext_blob(blob)
            .encryption_context("tenant", "a")
            .set_grant_tokens(Some(tokens.to_vec()))
            .send()
            .await,
        ACCESS_DENIED,
        &not_allowed("Decrypt", &arn),
    );
    assert_error(
        app.describe_key()
            .key_id(&key)
            .set_grant_tokens(Some(tokens.to_vec()))
            .send()
            .await,
        ACCESS_DENIED,
        &not_allowed("DescribeKey", &arn),
    );
    assert_error(
        app.create_grant()
            .key_id(&key)
            .grantee_principal(APP_PRINCIPAL)
            .operations(Encrypt)
            .operations(CreateGrant)
            .set_constraints(tenant_a)
            .set_grant_tokens(Some(tokens.to_vec()))
            .send()
            .await,
        ACCESS_DENIED,
        &not_allowed("CreateGrant", &arn),
    );

    // A token this service never issued is refused as AWS refuses it.
    assert_error(
        app.encrypt()
            .key_id(&key)
            .plaintext(Blob::new("data"))
            .encryption_context("tenant", "a")
            .grant_tokens("not-a-grant-token")
            .send()
            .await,
        "InvalidGrantTokenException",
        "The grant token is not valid.",
    );
}

#[tokio::test]
async fn a_key_holds_at_most_fifty_thousand_grants() {
    use GrantOperation::Encrypt;
    let mut d = Daemon::start();
    let key = new_key(&d.client()).await;
    let named = d
        .client()
        .create_grant()
        .key_id(&key)
        .grantee_principal(APP_PRINCIPAL)
        .operations(Encrypt)
        .name("kept")
        .send()
        .await
        .expect("CreateGrant")
        .grant_id
        .expect("GrantId");
    // All but two of the quota written straight into the sidecar, with the daemon down.
    d.kill();
    let db = rusqlite::Connection::open(d.db_path()).expect("sidecar");
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 49998)
         INSERT INTO grants (grant_id, key_id, grantee_principal, operations, issuing_account,
                             grant_token, created_at)
         SELECT printf('%064x', i), ?1, ?2, '[\"Encrypt\"]', 'arn:aws:iam::111122223333:root',
                'secret', 0
         FROM n",
        [&key, OTHER_PRINCIPAL],
    )
    .expect("seed grants");
    drop(db);
    d.start_again();
    let admin = d.client();

    grant(&admin, &key, APP_PRINCIPAL, &[Encrypt], None).await;
    assert_error(
        try_grant(&admin, &key, APP_PRINCIPAL, &[Encrypt], None).await,
        "LimitExceededException",
        "Grant quota for this key is 50000 but the current usage is 50000.",
    );
    // A named retry of an existing grant creates nothing, so the quota does not stop it.
    let again = admin
        .create_grant()
        .key_id(&key)
        .grantee_principal(APP_PRINCIPAL)
        .operations(Encrypt)
        .name("kept")
        .send()
        .await
        .expect("the named retry");
    assert_eq!(again.grant_id(), Some(named.as_str()));
    // Other keys have their own quota, and a grant retired makes room on this one.
    let other = new_key(&admin).await;
    grant(&admin, &other, APP_PRINCIPAL, &[Encrypt], None).await;
    retire(&admin, &key, &named).await.expect("RetireGrant");
    grant(&admin, &key, APP_PRINCIPAL, &[Encrypt], None).await;
}

/// An Allow of kms:Encrypt for the principals `aws` (a JSON value).
fn encrypt_for(aws: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "Effect": "Allow",
        "Principal": {"AWS": aws},
        "Action": "kms:Encrypt",
        "Resource": "*",
    })
}

#[tokio::test]
async fn a_key_policy_may_name_only_principals_that_exist() {
    const MALFORMED: &str = "MalformedPolicyDocumentException";
    const INVALID: &str = "Policy contains a statement with one or more invalid principals.";
    let d = Daemon::start();
    let admin = d.client();
    let key = new_key(&admin).await;
    let ghost = "arn:aws:iam::111122223333:user/ghost";

    for principals in [
        serde_json::json!(ghost),
        serde_json::json!([APP_PRINCIPAL, ghost]),
        serde_json::json!("999999999999"),
        serde_json::json!("arn:aws:iam::999999999999:root"),
    ] {
        let text = policy_with(&[encrypt_for(principals)]);
        assert_error(put_policy(&admin, &key, &text).await, MALFORMED, INVALID);
        assert_error(
            admin.create_key().policy(&text).send().await,
            MALFORMED,
            INVALID,
        );
    }
    // Even when the policy would also lock its caller out, the principal is what is wrong.
    let ghost_only = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ghost}, "Action": "kms:*", "Resource": "*"}],
    });
    assert_error(
        put_policy(&admin, &key, &ghost_only.to_string()).await,
        MALFORMED,
        INVALID,
    );
    let listed = admin.list_keys().send().await.expect("ListKeys");
    assert_eq!(listed.keys().len(), 1, "no key was created");
    let kept = admin
        .get_key_policy()
        .key_id(&key)
        .send()
        .await
        .expect("GetKeyPolicy");
    assert!(!kept.policy().expect("Policy").contains("ghost"));

    // Configured principals, the account (root ARN or bare id) and "*" exist.
    let known = serde_json::json!([
        APP_PRINCIPAL,
        common::DEV_PRINCIPAL,
        common::ACCOUNT,
        format!("arn:aws:iam::{}:root", common::ACCOUNT),
        "*",
    ]);
    let text = policy_with(&[encrypt_for(known)]);
    put_policy(&admin, &key, &text).await.expect("PutKeyPolicy");
    admin
        .create_key()
        .policy(&text)
        .send()
        .await
        .expect("CreateKey with the policy");
}

#[tokio::test]
async fn a_statement_without_a_resource_applies_to_the_key() {
    let d = Daemon::start();
    let (admin, app) = (d.client(), d.client_as(APP_KEY));
    let key = new_key(&admin).await;
    let mut statement = encrypt_for(serde_json::json!(APP_PRINCIPAL));
    statement
        .as_object_mut()
        .expect("statement")
        .remove("Resource");
    let text = policy_with(&[statement]);
    put_policy(&admin, &key, &text)
        .await
        .expect("PutKeyPolicy without Resource");
    app.encrypt()
        .key_id(&key)
        .plaintext(Blob::new("data"))
        .send()
        .await
        .expect("Encrypt allowed by the statement");
    let created = admin
        .create_key()
        .policy(&text)
        .send()
        .await
        .expect("CreateKey without Resource");
    assert!(created.key_metadata().is_some());
}
