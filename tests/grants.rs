//! Grants through the AWS SDK: CreateGrant (idempotent by name), ListGrants with paging and
//! filters, ListRetirableGrants, RetireGrant by token and by id, RevokeGrant, DryRun, the
//! key-state rules, every grant error, and grants across a restart and a key deletion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::collections::BTreeSet;

use aws_sdk_kms::operation::create_grant::builders::CreateGrantFluentBuilder;
use aws_sdk_kms::types::{GrantConstraints, GrantListEntry, GrantOperation};
use aws_sdk_kms::Client;
use serde_json::json;

use common::{
    assert_error, at_most, context, disable_key, invalid, missing, new_key, now_seconds,
    schedule_deletion, value_at_least, value_at_most, Daemon, ACCOUNT, DAY, UNKNOWN_ID, VALIDATION,
};

const ALICE: &str = "arn:aws:iam::111122223333:role/alice";
const BOB: &str = "arn:aws:iam::111122223333:role/bob";
const RETIRER: &str = "arn:aws:iam::111122223333:user/retirer";
const INVALID_GRANT_ID: &str = "InvalidGrantIdException";
const INVALID_GRANT_TOKEN: &str = "InvalidGrantTokenException";
const BAD_TOKEN_MESSAGE: &str = "The grant token is not valid.";
const DRY_RUN_MESSAGE: &str = "The request would have succeeded, but the DryRun option is set.";
/// Well-formed, never issued.
const UNKNOWN_GRANT: &str = "0123456789012345678901234567890123456789012345678901234567890123";

/// A CreateGrant for `grantee` on `key` allowing Encrypt.
fn grant_on(client: &Client, key: &str, grantee: &str) -> CreateGrantFluentBuilder {
    client
        .create_grant()
        .key_id(key)
        .grantee_principal(grantee)
        .operations(GrantOperation::Encrypt)
}

/// Sends a CreateGrant; its (GrantId, GrantToken).
async fn created(request: CreateGrantFluentBuilder) -> (String, String) {
    let out = request.send().await.expect("CreateGrant");
    (
        out.grant_id().expect("GrantId").to_owned(),
        out.grant_token().expect("GrantToken").to_owned(),
    )
}

/// Asserts that RetireGrant refuses `token` as not valid (retired, or never issued).
async fn assert_token_refused(client: &Client, token: &str) {
    assert_error(
        client.retire_grant().grant_token(token).send().await,
        INVALID_GRANT_TOKEN,
        BAD_TOKEN_MESSAGE,
    );
}

/// Every grant on `key`, following the markers.
async fn all_grants(client: &Client, key: &str) -> Vec<GrantListEntry> {
    let mut grants = Vec::new();
    let mut marker = None;
    loop {
        let page = client
            .list_grants()
            .key_id(key)
            .set_marker(marker)
            .send()
            .await
            .expect("ListGrants");
        grants.extend(page.grants().iter().cloned());
        match page.next_marker() {
            Some(next) => marker = Some(next.to_owned()),
            None => return grants,
        }
    }
}

fn ids(grants: &[GrantListEntry]) -> Vec<String> {
    grants
        .iter()
        .map(|g| g.grant_id().expect("GrantId").to_owned())
        .collect()
}

#[tokio::test]
async fn create_list_retire_and_revoke() {
    let d = Daemon::start();
    let client = d.client();
    let key = new_key(&client).await;
    let arn = d.key_arn(&key);
    let before = now_seconds();
    let (full, full_token) = created(
        client
            .create_grant()
            .key_id(&arn)
            .grantee_principal(ALICE)
            .retiring_principal(RETIRER)
            .operations(GrantOperation::Encrypt)
            .operations(GrantOperation::Decrypt)
            .operations(GrantOperation::Encrypt)
            .constraints(
                GrantConstraints::builder()
                    .set_encryption_context_subset(Some(context(&[("purpose", "demo")])))
                    .build(),
            )
            .name("payroll-batch"),
    )
    .await;
    assert_eq!(full.len(), 64, "{full}");
    assert!(full
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert!(!full_token.is_empty());

    let listed = all_grants(&client, &key).await;
    assert_eq!(listed.len(), 1);
    let entry = &listed[0];
    assert_eq!(entry.key_id(), Some(arn.as_str()));
    assert_eq!(entry.grant_id(), Some(full.as_str()));
    assert_eq!(entry.name(), Some("payroll-batch"));
    assert_eq!(entry.grantee_principal(), Some(ALICE));
    assert_eq!(entry.retiring_principal(), Some(RETIRER));
    let issuer = format!("arn:aws:iam::{ACCOUNT}:root");
    assert_eq!(entry.issuing_account(), Some(issuer.as_str()));
    assert_eq!(
        entry.operations(),
        [GrantOperation::Decrypt, GrantOperation::Encrypt],
        "model order, each once"
    );
    let constraints = entry.constraints().expect("Constraints");
    assert_eq!(
        constraints.encryption_context_subset(),
        Some(&context(&[("purpose", "demo")]))
    );
    assert_eq!(constraints.encryption_context_equals(), None);
    let created_at = entry.creation_date().expect("CreationDate").secs();
    assert!(
        (before - 1..=now_seconds() + 1).contains(&created_at),
        "{created_at}"
    );

    let (equals, _) = created(
        grant_on(&client, &key, BOB).constraints(
            GrantConstraints::builder()
                .set_encryption_context_equals(Some(context(&[("a", "1"), ("b", "2")])))
                .build(),
        ),
    )
    .await;
    let (plain, _) = created(grant_on(&client, &key, BOB)).await;
    // Members a grant does not have are left out, as AWS does.
    let (status, body, _) = d.raw(
        Some("TrentService.ListGrants"),
        &json!({ "KeyId": key, "GrantId": plain }).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let raw = body["Grants"][0].as_object().expect("entry");
    let members: BTreeSet<&str> = raw.keys().map(String::as_str).collect();
    assert_eq!(
        members,
        BTreeSet::from([
            "CreationDate",
            "GrantId",
            "GranteePrincipal",
            "IssuingAccount",
            "KeyId",
            "Operations"
        ])
    );
    assert_eq!(body["Truncated"], json!(false));
    assert!(body.get("NextMarker").is_none());

    client
        .revoke_grant()
        .key_id(&key)
        .grant_id(&equals)
        .send()
        .await
        .expect("RevokeGrant");
    client
        .retire_grant()
        .grant_token(&full_token)
        .send()
        .await
        .expect("RetireGrant by token");
    assert_eq!(ids(&all_grants(&client, &key).await), vec![plain.clone()]);
    client
        .retire_grant()
        .key_id(&arn)
        .grant_id(&plain)
        .send()
        .await
        .expect("RetireGrant by key and id");
    assert!(all_grants(&client, &key).await.is_empty());
}

#[tokio::test]
async fn a_named_request_returns_the_existing_grant() {
    let d = Daemon::start();
    let client = d.client();
    let key = new_key(&client).await;
    let named = || {
        grant_on(&client, &key, ALICE)
            .operations(GrantOperation::Decrypt)
            .name("nightly")
    };
    let (first, first_token) = created(named()).await;
    // The same parameters in another order are the same grant.
    let (again, again_token) = created(
        client
            .create_grant()
            .name("nightly")
            .operations(GrantOperation::Decrypt)
            .operations(GrantOperation::Encrypt)
            .grantee_principal(ALICE)
            .key_id(d.key_arn(&key)),
    )
    .await;
    assert_eq!(again, first);
    assert_ne!(
        again_token, first_token,
        "every CreateGrant answer has its own token"
    );
    // Same name, different parameters: another grant.
    let (other, _) = created(named().retiring_principal(RETIRER)).await;
    assert_ne!(other, first);
    // No name: a new grant every time.
    let (unnamed_1, _) = created(grant_on(&client, &key, ALICE)).await;
    let (unnamed_2, _) = created(grant_on(&client, &key, ALICE)).await;
    assert_ne!(unnamed_1, unnamed_2);
    let mut expected = vec![first.clone(), other, unnamed_1, unnamed_2];
    expected.sort();
    assert_eq!(ids(&all_grants(&client, &key).await), expected);

    // Either token retires the grant; then neither works.
    client
        .retire_grant()
        .grant_token(&again_token)
        .send()
        .await
        .expect("retire with the second token");
    assert_token_refused(&client, &first_token).await;
    assert!(!ids(&all_grants(&client, &key).await).contains(&first));
}

#[tokio::test]
async fn list_grants_pages_and_filters() {
    let d = Daemon::start();
    let client = d.client();
    let (key, elsewhere) = (new_key(&client).await, new_key(&client).await);
    let mut made = Vec::new();
    for i in 0..101 {
        let grantee = if i % 10 == 0 { BOB } else { ALICE };
        made.push(created(grant_on(&client, &key, grantee)).await.0);
    }
    created(grant_on(&client, &elsewhere, BOB)).await;
    made.sort();

    // Limit is 1..1000 as the model says; a page holds at most 100, 50 by default.
    let capped = client
        .list_grants()
        .key_id(&key)
        .limit(1000)
        .send()
        .await
        .expect("ListGrants");
    assert_eq!((capped.grants().len(), capped.truncated()), (100, true));
    let default = client
        .list_grants()
        .key_id(&key)
        .send()
        .await
        .expect("ListGrants");
    assert_eq!(default.grants().len(), 50);

    let mut pages = Vec::new();
    let mut marker = None;
    loop {
        let page = client
            .list_grants()
            .key_id(&key)
            .limit(40)
            .set_marker(marker)
            .send()
            .await
            .expect("ListGrants page");
        pages.push(ids(page.grants()));
        assert_eq!(page.truncated(), page.next_marker().is_some());
        match page.next_marker() {
            Some(next) => marker = Some(next.to_owned()),
            None => break,
        }
    }
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![40, 40, 21]);
    assert_eq!(pages.concat(), made, "every grant once, in grant-id order");

    let one = client
        .list_grants()
        .key_id(&key)
        .grant_id(&made[7])
        .send()
        .await
        .expect("by GrantId");
    assert_eq!(ids(one.grants()), vec![made[7].clone()]);
    let none = client
        .list_grants()
        .key_id(&key)
        .grant_id(UNKNOWN_GRANT)
        .send()
        .await
        .expect("unknown GrantId");
    assert!(none.grants().is_empty());
    let bobs = client
        .list_grants()
        .key_id(&key)
        .grantee_principal(BOB)
        .limit(100)
        .send()
        .await
        .expect("by GranteePrincipal");
    assert_eq!(bobs.grants().len(), 11);
    assert!(bobs
        .grants()
        .iter()
        .all(|g| g.grantee_principal() == Some(BOB)));

    assert_error(
        client
            .list_grants()
            .key_id(&key)
            .marker("never-issued")
            .send()
            .await,
        "InvalidMarkerException",
        "Invalid marker: use the NextMarker of the previous response.",
    );
    for (limit, constraint) in [(0, value_at_least(1)), (1001, value_at_most(1000))] {
        assert_error(
            client.list_grants().key_id(&key).limit(limit).send().await,
            VALIDATION,
            &invalid(&format!("Value '{limit}'"), "limit", &constraint),
        );
    }
}

#[tokio::test]
async fn list_retirable_grants_spans_keys() {
    let d = Daemon::start();
    let client = d.client();
    let (k1, k2) = (new_key(&client).await, new_key(&client).await);
    let on_k2 = created(grant_on(&client, &k2, ALICE).retiring_principal(RETIRER))
        .await
        .0;
    let mut retirable = vec![
        created(grant_on(&client, &k1, ALICE).retiring_principal(RETIRER))
            .await
            .0,
        created(grant_on(&client, &k1, BOB).retiring_principal(RETIRER))
            .await
            .0,
        on_k2.clone(),
    ];
    retirable.sort();
    created(grant_on(&client, &k1, ALICE).retiring_principal(BOB)).await;
    created(grant_on(&client, &k2, ALICE)).await;

    let first = client
        .list_retirable_grants()
        .retiring_principal(RETIRER)
        .limit(2)
        .send()
        .await
        .expect("ListRetirableGrants");
    assert!(first.truncated());
    let rest = client
        .list_retirable_grants()
        .retiring_principal(RETIRER)
        .marker(first.next_marker().expect("NextMarker"))
        .send()
        .await
        .expect("ListRetirableGrants page 2");
    assert!(!rest.truncated() && rest.next_marker().is_none());
    let listed: Vec<&GrantListEntry> = first.grants().iter().chain(rest.grants()).collect();
    let listed_ids: Vec<String> = listed
        .iter()
        .map(|g| g.grant_id().expect("GrantId").to_owned())
        .collect();
    assert_eq!(listed_ids, retirable);
    let keys: BTreeSet<&str> = listed.iter().filter_map(|g| g.key_id()).collect();
    assert_eq!(
        keys,
        BTreeSet::from([d.key_arn(&k1).as_str(), d.key_arn(&k2).as_str()])
    );

    client
        .revoke_grant()
        .key_id(&k2)
        .grant_id(&on_k2)
        .send()
        .await
        .expect("RevokeGrant");
    let after = client
        .list_retirable_grants()
        .retiring_principal(RETIRER)
        .send()
        .await
        .expect("ListRetirableGrants");
    assert_eq!(after.grants().len(), 2);
    let nobody = client
        .list_retirable_grants()
        .retiring_principal("arn:aws:iam::111122223333:role/nobody")
        .send()
        .await
        .expect("ListRetirableGrants");
    assert!(nobody.grants().is_empty() && !nobody.truncated());
}

#[tokio::test]
async fn create_grant_errors() {
    let d = Daemon::start();
    let client = d.client();
    let key = new_key(&client).await;

    assert_error(
        client
            .create_grant()
            .grantee_principal(ALICE)
            .operations(GrantOperation::Encrypt)
            .send()
            .await,
        VALIDATION,
        &missing("keyId"),
    );
    assert_error(
        client
            .create_grant()
            .key_id(&key)
            .operations(GrantOperation::Encrypt)
            .send()
            .await,
        VALIDATION,
        &missing("granteePrincipal"),
    );
    assert_error(
        client
            .create_grant()
            .key_id(&key)
            .grantee_principal(ALICE)
            .send()
            .await,
        VALIDATION,
        &missing("operations"),
    );
    assert_error(
        client
            .create_grant()
            .key_id(&key)
            .grantee_principal(ALICE)
            .set_operations(Some(Vec::new()))
            .send()
            .await,
        VALIDATION,
        "Operations must list at least one grant operation.",
    );
    assert_error(
        grant_on(&client, &key, ALICE)
            .operations(GrantOperation::from("EncryptEverything"))
            .send()
            .await,
        VALIDATION,
        "1 validation error detected: Value 'EncryptEverything' at 'operations' failed to satisfy constraint: Member must satisfy enum value set: [Decrypt, Encrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext, ReEncryptFrom, ReEncryptTo, Sign, Verify, GetPublicKey, CreateGrant, RetireGrant, DescribeKey, GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext, GenerateMac, VerifyMac, DeriveSharedSecret]",
    );
    assert_error(
        grant_on(&client, &key, ALICE)
            .operations(GrantOperation::Sign)
            .send()
            .await,
        VALIDATION,
        "Grant operation Sign is not valid for a key with KeySpec SYMMETRIC_DEFAULT and KeyUsage ENCRYPT_DECRYPT.",
    );
    assert_error(
        grant_on(&client, &key, ALICE)
            .constraints(
                GrantConstraints::builder()
                    .set_encryption_context_subset(Some(context(&[("a", "1")])))
                    .set_encryption_context_equals(Some(context(&[("a", "1")])))
                    .build(),
            )
            .send()
            .await,
        VALIDATION,
        "More than one constraint supplied",
    );
    let nine: Vec<(String, String)> = (0..9).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    assert_error(
        grant_on(&client, &key, ALICE)
            .constraints(
                GrantConstraints::builder()
                    .set_encryption_context_subset(Some(nine.into_iter().collect()))
                    .build(),
            )
            .send()
            .await,
        VALIDATION,
        "A grant constraint can include at most 8 encryption context pairs.",
    );
    assert_error(
        grant_on(&client, &key, ALICE).name("two words").send().await,
        VALIDATION,
        "1 validation error detected: Value 'two words' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
    );
    assert_error(
        grant_on(&client, &key, "alice smith").send().await,
        VALIDATION,
        r"1 validation error detected: Value 'alice smith' at 'granteePrincipal' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[\w+=,.@:/-]+$",
    );
    assert_error(
        grant_on(&client, &key, ALICE)
            .retiring_principal("x".repeat(257))
            .send()
            .await,
        VALIDATION,
        &invalid(
            &format!("Value '{}'", "x".repeat(257)),
            "retiringPrincipal",
            &at_most(256),
        ),
    );
    assert_error(
        grant_on(&client, &key, ALICE)
            .set_grant_tokens(Some(vec!["t".to_owned(); 11]))
            .send()
            .await,
        VALIDATION,
        &invalid("Value", "grantTokens", &at_most(10)),
    );
    assert_error(
        grant_on(&client, &key, ALICE)
            .grantee_service_principal("logs.amazonaws.com")
            .send()
            .await,
        "UnsupportedOperationException",
        "Service principals are not supported.",
    );
    assert_error(
        grant_on(&client, "alias/payroll", ALICE).send().await,
        "InvalidArnException",
        "Key Aliases are not supported for this operation.",
    );
    assert_error(
        grant_on(&client, UNKNOWN_ID, ALICE).send().await,
        "NotFoundException",
        &format!("Key '{}' does not exist", d.key_arn(UNKNOWN_ID)),
    );
    assert_error(
        grant_on(&client, &key, ALICE).dry_run(true).send().await,
        "DryRunOperationException",
        DRY_RUN_MESSAGE,
    );
    assert!(
        all_grants(&client, &key).await.is_empty(),
        "nothing was created"
    );
}

#[tokio::test]
async fn retire_revoke_and_list_errors() {
    let d = Daemon::start();
    let client = d.client();
    let (key, other) = (new_key(&client).await, new_key(&client).await);
    let (grant, token) = created(grant_on(&client, &key, ALICE)).await;
    let (other_grant, _) = created(grant_on(&client, &other, ALICE)).await;
    let arn = d.key_arn(&key);
    let not_on_key = |id: &str| format!("Grant '{id}' does not exist on key '{arn}'");

    assert_error(
        client.list_grants().send().await,
        VALIDATION,
        &missing("keyId"),
    );
    assert_error(
        client
            .list_grants()
            .key_id(&key)
            .grant_id("not-a-grant")
            .send()
            .await,
        INVALID_GRANT_ID,
        "Invalid grantId 'not-a-grant'",
    );
    assert_error(
        client.list_retirable_grants().send().await,
        VALIDATION,
        &missing("retiringPrincipal"),
    );

    assert_error(
        client.revoke_grant().grant_id(&grant).send().await,
        VALIDATION,
        &missing("keyId"),
    );
    assert_error(
        client.revoke_grant().key_id(&key).send().await,
        VALIDATION,
        &missing("grantId"),
    );
    assert_error(
        client
            .revoke_grant()
            .key_id(&key)
            .grant_id("not-a-grant")
            .send()
            .await,
        INVALID_GRANT_ID,
        "Invalid grantId 'not-a-grant'",
    );
    assert_error(
        client
            .revoke_grant()
            .key_id(&key)
            .grant_id(UNKNOWN_GRANT)
            .send()
            .await,
        INVALID_GRANT_ID,
        &not_on_key(UNKNOWN_GRANT),
    );
    assert_error(
        client
            .revoke_grant()
            .key_id(&key)
            .grant_id(&other_grant)
            .send()
            .await,
        INVALID_GRANT_ID,
        &not_on_key(&other_grant),
    );
    assert_error(
        client
            .revoke_grant()
            .key_id(&key)
            .grant_id(&grant)
            .dry_run(true)
            .send()
            .await,
        "DryRunOperationException",
        DRY_RUN_MESSAGE,
    );

    let either = "Specify either GrantToken, or KeyId and GrantId.";
    assert_error(client.retire_grant().send().await, VALIDATION, either);
    assert_error(
        client.retire_grant().key_id(&key).send().await,
        VALIDATION,
        either,
    );
    assert_error(
        client.retire_grant().grant_id(&grant).send().await,
        VALIDATION,
        either,
    );
    let mut tampered = token.clone().into_bytes();
    // A character in the middle falls in the secret.
    let at = tampered.len() * 2 / 3;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    for bad in [
        "garbage",
        tampered.as_str(),
        "AQpAM2RhZTk1MGMyNTk2ZmZmMzEyYWVhOWViN2I1MWM4",
    ] {
        assert_token_refused(&client, bad).await;
    }
    assert_error(
        client
            .retire_grant()
            .grant_token(&token)
            .grant_id(&other_grant)
            .send()
            .await,
        INVALID_GRANT_ID,
        &not_on_key(&other_grant),
    );
    assert_error(
        client
            .retire_grant()
            .grant_token(&token)
            .key_id(&other)
            .send()
            .await,
        INVALID_GRANT_ID,
        &format!(
            "Grant '{grant}' does not exist on key '{}'",
            d.key_arn(&other)
        ),
    );
    assert_error(
        client
            .retire_grant()
            .grant_token(&token)
            .dry_run(true)
            .send()
            .await,
        "DryRunOperationException",
        DRY_RUN_MESSAGE,
    );
    assert_error(
        client
            .retire_grant()
            .key_id(&key)
            .grant_id(UNKNOWN_GRANT)
            .send()
            .await,
        INVALID_GRANT_ID,
        &not_on_key(UNKNOWN_GRANT),
    );
    assert_eq!(
        ids(&all_grants(&client, &key).await),
        vec![grant.clone()],
        "failed and dry-run calls change nothing"
    );

    // A token, and the key and grant id it names, retire the grant once.
    client
        .retire_grant()
        .grant_token(&token)
        .key_id(&arn)
        .grant_id(&grant)
        .send()
        .await
        .expect("RetireGrant");
    assert_token_refused(&client, &token).await;
    assert_error(
        client
            .revoke_grant()
            .key_id(&key)
            .grant_id(&grant)
            .send()
            .await,
        INVALID_GRANT_ID,
        &not_on_key(&grant),
    );
}

#[tokio::test]
async fn key_states_apply_to_grants() {
    let d = Daemon::start();
    let client = d.client();
    let (disabled, doomed) = (new_key(&client).await, new_key(&client).await);
    let (on_disabled, _) = created(grant_on(&client, &disabled, ALICE)).await;
    let (on_doomed, doomed_token) = created(grant_on(&client, &doomed, ALICE)).await;
    disable_key(&client, &disabled).await;
    schedule_deletion(&client, &doomed).await;

    assert_error(
        grant_on(&client, &disabled, BOB).send().await,
        "DisabledException",
        &format!("{} is disabled.", d.key_arn(&disabled)),
    );
    assert_error(
        grant_on(&client, &doomed, BOB).send().await,
        "KMSInvalidStateException",
        &format!("{} is pending deletion.", d.key_arn(&doomed)),
    );
    // Listing, retiring and revoking are allowed in every state.
    assert_eq!(
        ids(&all_grants(&client, &disabled).await),
        vec![on_disabled.clone()]
    );
    assert_eq!(ids(&all_grants(&client, &doomed).await), vec![on_doomed]);
    client
        .revoke_grant()
        .key_id(&disabled)
        .grant_id(&on_disabled)
        .send()
        .await
        .expect("RevokeGrant on a disabled key");
    client
        .retire_grant()
        .grant_token(&doomed_token)
        .send()
        .await
        .expect("RetireGrant on a key pending deletion");
    assert!(all_grants(&client, &disabled).await.is_empty());
    assert!(all_grants(&client, &doomed).await.is_empty());
}

#[tokio::test]
async fn grants_survive_a_restart() {
    let mut d = Daemon::start();
    let client = d.client();
    let key = new_key(&client).await;
    let (kept, _) = created(
        grant_on(&client, &key, ALICE)
            .retiring_principal(RETIRER)
            .name("kept"),
    )
    .await;
    let (retired, token) = created(grant_on(&client, &key, BOB)).await;
    let before = all_grants(&client, &key).await;
    assert_eq!(before.len(), 2);

    d.restart();
    let client = d.client();
    assert_eq!(all_grants(&client, &key).await, before);
    client
        .retire_grant()
        .grant_token(&token)
        .send()
        .await
        .expect("a token from before the restart");
    assert_eq!(ids(&all_grants(&client, &key).await), vec![kept.clone()]);
    assert!(!ids(&all_grants(&client, &key).await).contains(&retired));
    let (again, _) = created(
        grant_on(&client, &key, ALICE)
            .retiring_principal(RETIRER)
            .name("kept"),
    )
    .await;
    assert_eq!(again, kept, "idempotent across the restart");
}

#[tokio::test]
async fn a_deleted_keys_grants_are_gone() {
    let d = Daemon::start_with_dev_clock();
    let client = d.client();
    let (doomed, kept) = (new_key(&client).await, new_key(&client).await);
    let (_, token) = created(grant_on(&client, &doomed, ALICE).retiring_principal(RETIRER)).await;
    let (survivor, _) = created(grant_on(&client, &kept, ALICE).retiring_principal(RETIRER)).await;
    schedule_deletion(&client, &doomed).await;
    d.advance_clock(7 * DAY + 1);

    let retirable = client
        .list_retirable_grants()
        .retiring_principal(RETIRER)
        .send()
        .await
        .expect("ListRetirableGrants");
    assert_eq!(ids(retirable.grants()), vec![survivor]);
    assert_token_refused(&client, &token).await;
}
