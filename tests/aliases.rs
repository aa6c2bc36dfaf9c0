//! Aliases through the AWS SDK for Rust: CreateAlias, UpdateAlias, DeleteAlias, ListAliases
//! with paging, aliases in place of key ids, every alias rule with AWS's error, and aliases
//! across a restart and the deletion of their key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::types::AliasListEntry;
use aws_sdk_kms::Client;
use common::{
    assert_error, at_least, at_most, describe, disable_key, invalid, missing, new_key,
    schedule_deletion, try_encrypt, value_at_least, value_at_most, Daemon, ACCOUNT, DAY, REGION,
    UNKNOWN_ID, VALIDATION,
};

fn alias_arn(name: &str) -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:{name}")
}

async fn create_alias(client: &Client, name: &str, key: &str) {
    client
        .create_alias()
        .alias_name(name)
        .target_key_id(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create {name}: {e:?}"));
}

/// The id of the key `key_id` (an alias, an id or an ARN) names.
async fn target_of(client: &Client, key_id: &str) -> String {
    describe(client, key_id).await.key_id().to_owned()
}

/// Every alias, one ListAliases call per page of `limit` (optionally of one key), with the
/// page sizes seen.
async fn list_all(
    client: &Client,
    key: Option<&str>,
    limit: Option<i32>,
) -> (Vec<AliasListEntry>, Vec<usize>) {
    let (mut all, mut pages, mut marker) = (Vec::new(), Vec::new(), None);
    loop {
        let page = client
            .list_aliases()
            .set_key_id(key.map(str::to_owned))
            .set_limit(limit)
            .set_marker(marker)
            .send()
            .await
            .expect("list aliases");
        pages.push(page.aliases().len());
        all.extend(page.aliases().iter().cloned());
        assert_eq!(page.truncated(), page.next_marker().is_some());
        match page.next_marker() {
            Some(next) => marker = Some(next.to_owned()),
            None => return (all, pages),
        }
    }
}

fn names(entries: &[AliasListEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.alias_name().unwrap()).collect()
}

fn entry<'a>(entries: &'a [AliasListEntry], name: &str) -> &'a AliasListEntry {
    entries
        .iter()
        .find(|e| e.alias_name() == Some(name))
        .unwrap_or_else(|| panic!("{name} not listed"))
}

#[tokio::test]
async fn create_update_delete_and_list_in_pages() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let (a, b) = (new_key(&client).await, new_key(&client).await);
    let mut expected = Vec::new();
    for i in 0..25 {
        let name = format!("alias/app-{i:02}");
        create_alias(&client, &name, if i % 2 == 0 { &a } else { &b }).await;
        expected.push(name);
    }
    create_alias(&client, "alias/team_x/svc-1", &a).await;
    expected.push("alias/team_x/svc-1".to_owned());

    let (all, pages) = list_all(&client, None, Some(10)).await;
    assert_eq!(pages, vec![10, 10, 6]);
    assert_eq!(names(&all), expected);
    for e in &all {
        let name = e.alias_name().unwrap();
        assert_eq!(e.alias_arn(), Some(alias_arn(name).as_str()));
        let created = e.creation_date().expect("CreationDate");
        assert_eq!(e.last_updated_date(), Some(created));
        assert_eq!(target_of(&client, name).await, e.target_key_id().unwrap());
    }
    assert_eq!(
        entry(&all, "alias/app-03").target_key_id(),
        Some(b.as_str())
    );
    let (_, pages) = list_all(&client, None, None).await;
    assert_eq!(pages, vec![26], "default page size is 50");

    let (of_a, _) = list_all(&client, Some(&a), None).await;
    assert_eq!(of_a.len(), 14);
    assert!(of_a.iter().all(|e| e.target_key_id() == Some(a.as_str())));
    let (of_b, pages) = list_all(&client, Some(&daemon.key_arn(&b)), Some(5)).await;
    assert_eq!((of_b.len(), pages), (12, vec![5, 5, 2]));

    // UpdateAlias moves the name to another key and records when.
    std::thread::sleep(std::time::Duration::from_millis(20));
    client
        .update_alias()
        .alias_name("alias/app-00")
        .target_key_id(daemon.key_arn(&b))
        .send()
        .await
        .expect("update alias");
    assert_eq!(target_of(&client, "alias/app-00").await, b);
    let (all, _) = list_all(&client, None, None).await;
    let moved = entry(&all, "alias/app-00");
    assert_eq!(moved.target_key_id(), Some(b.as_str()));
    assert!(moved.last_updated_date() > moved.creation_date());

    // DeleteAlias frees the name; the key stays.
    client
        .delete_alias()
        .alias_name("alias/app-01")
        .send()
        .await
        .expect("delete alias");
    let (all, _) = list_all(&client, None, None).await;
    assert!(!names(&all).contains(&"alias/app-01"));
    assert_error(
        client.describe_key().key_id("alias/app-01").send().await,
        "NotFoundException",
        &format!("Alias {} is not found.", alias_arn("alias/app-01")),
    );
    assert_eq!(target_of(&client, &b).await, b);
    create_alias(&client, "alias/app-01", &a).await;
    assert_eq!(target_of(&client, "alias/app-01").await, a);
}

#[tokio::test]
async fn an_alias_works_wherever_a_key_id_does() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let key = new_key(&client).await;
    create_alias(&client, "alias/orders", &key).await;
    let arn = daemon.key_arn(&key);
    for name in ["alias/orders".to_owned(), alias_arn("alias/orders")] {
        assert_eq!(target_of(&client, &name).await, key);
        let encrypted = try_encrypt(&client, &name, "by alias")
            .await
            .expect("encrypt by alias");
        assert_eq!(encrypted.key_id(), Some(arn.as_str()));
        let decrypted = client
            .decrypt()
            .key_id(&name)
            .ciphertext_blob(encrypted.ciphertext_blob().unwrap().clone())
            .send()
            .await
            .expect("decrypt by alias");
        assert_eq!(decrypted.plaintext().unwrap().as_ref(), b"by alias");
        assert_eq!(decrypted.key_id(), Some(arn.as_str()));
        let data_key = client
            .generate_data_key()
            .key_id(&name)
            .number_of_bytes(32)
            .send()
            .await
            .expect("data key by alias");
        assert_eq!(data_key.key_id(), Some(arn.as_str()));
    }
}

#[tokio::test]
async fn every_alias_rule_with_awss_error() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let key = new_key(&client).await;
    let create = |name: &str, target: &str| {
        client
            .create_alias()
            .alias_name(name)
            .target_key_id(target)
            .send()
    };
    let update = |name: &str, target: &str| {
        client
            .update_alias()
            .alias_name(name)
            .target_key_id(target)
            .send()
    };
    let delete = |name: &str| client.delete_alias().alias_name(name).send();

    // The model's constraints on the members, before anything is looked up.
    assert_error(
        client.create_alias().target_key_id(&key).send().await,
        VALIDATION,
        &missing("aliasName"),
    );
    assert_error(
        client.create_alias().alias_name("alias/x").send().await,
        VALIDATION,
        &missing("targetKeyId"),
    );
    assert_error(
        client.delete_alias().send().await,
        VALIDATION,
        &missing("aliasName"),
    );
    assert_error(
        create("", &key).await,
        VALIDATION,
        &invalid("Value ''", "aliasName", &at_least(1)),
    );
    let long = format!("alias/{}", "a".repeat(251));
    assert_error(
        create(&long, &key).await,
        VALIDATION,
        &invalid(&format!("Value '{long}'"), "aliasName", &at_most(256)),
    );
    create(&long[..256], &key).await.expect("256 characters");
    let pattern = "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$";
    for bad in ["alias/my alias!", "alias/é", "alias/a.b"] {
        let expected = invalid(&format!("Value '{bad}'"), "aliasName", pattern);
        assert_error(create(bad, UNKNOWN_ID).await, VALIDATION, &expected);
        assert_error(update(bad, &key).await, VALIDATION, &expected);
        assert_error(delete(bad).await, VALIDATION, &expected);
    }

    // The name rules.
    let prefix = "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html";
    for bad in ["orders".to_owned(), alias_arn("alias/orders")] {
        assert_error(create(&bad, &key).await, VALIDATION, prefix);
        assert_error(update(&bad, &key).await, VALIDATION, prefix);
        assert_error(delete(&bad).await, VALIDATION, prefix);
    }
    for reserved in ["alias/aws/s3", "alias/aws/my-service"] {
        assert_error(create(reserved, &key).await, "NotAuthorizedException", "");
        assert_error(update(reserved, &key).await, "NotAuthorizedException", "");
        assert_error(delete(reserved).await, "NotAuthorizedException", "");
    }
    create("alias/awsome", &key)
        .await
        .expect("only alias/aws/ is reserved");
    assert_error(
        create("alias/my:alias", &key).await,
        VALIDATION,
        "alias/my:alias contains invalid characters for an alias",
    );

    // One name, one key.
    create("alias/orders", &key).await.expect("create");
    let other = new_key(&client).await;
    assert_error(
        create("alias/orders", &other).await,
        "AlreadyExistsException",
        &format!(
            "An alias with the name {} already exists",
            alias_arn("alias/orders")
        ),
    );
    assert_eq!(target_of(&client, "alias/orders").await, key);

    // The target must be a key named by id or ARN.
    let by_alias = "Key Aliases are not supported for this operation.";
    for name in ["alias/orders".to_owned(), alias_arn("alias/orders")] {
        let refused = create("alias/new", &name).await;
        assert_error(refused, "InvalidArnException", by_alias);
        let refused = update("alias/orders", &name).await;
        assert_error(refused, "InvalidArnException", by_alias);
    }
    let unknown = format!("Key '{}' does not exist", daemon.key_arn(UNKNOWN_ID));
    assert_error(
        create("alias/new", UNKNOWN_ID).await,
        "NotFoundException",
        &unknown,
    );
    assert_error(
        update("alias/orders", UNKNOWN_ID).await,
        "NotFoundException",
        &unknown,
    );
    assert_error(
        create("alias/new", "nope").await,
        "NotFoundException",
        "Invalid keyId 'nope'",
    );
    let missing = format!("Alias {} is not found.", alias_arn("alias/missing"));
    assert_error(
        update("alias/missing", &key).await,
        "NotFoundException",
        &missing,
    );
    assert_error(delete("alias/missing").await, "NotFoundException", &missing);

    // Key states: only the key the alias is to point to counts (UpdateAlias: footnote 10).
    let doomed = new_key(&client).await;
    create("alias/doomed", &doomed).await.expect("create");
    create("alias/doomed-2", &doomed).await.expect("create");
    schedule_deletion(&client, &doomed).await;
    let pending = format!("{} is pending deletion.", daemon.key_arn(&doomed));
    assert_error(
        create("alias/new", &doomed).await,
        "KMSInvalidStateException",
        &pending,
    );
    assert_error(
        update("alias/orders", &doomed).await,
        "KMSInvalidStateException",
        &pending,
    );
    assert_eq!(target_of(&client, "alias/orders").await, key);
    update("alias/doomed", &key)
        .await
        .expect("away from a key pending deletion");
    delete("alias/doomed-2")
        .await
        .expect("alias of a key pending deletion");
    disable_key(&client, &other).await;
    create("alias/disabled", &other)
        .await
        .expect("disabled keys take aliases");
    update("alias/orders", &other)
        .await
        .expect("and can be pointed to");

    // ListAliases.
    let list = |key: Option<&str>, limit: Option<i32>, marker: Option<&str>| {
        client
            .list_aliases()
            .set_key_id(key.map(str::to_owned))
            .set_limit(limit)
            .set_marker(marker.map(str::to_owned))
            .send()
    };
    assert_error(
        list(None, Some(0), None).await,
        VALIDATION,
        &invalid("Value '0'", "limit", &value_at_least(1)),
    );
    assert_error(
        list(None, Some(1001), None).await,
        VALIDATION,
        &invalid("Value '1001'", "limit", &value_at_most(1000)),
    );
    assert_error(
        list(None, None, Some("bogus")).await,
        "InvalidMarkerException",
        "Invalid marker: use the NextMarker of the previous response.",
    );
    assert_error(
        list(Some("alias/orders"), None, None).await,
        "InvalidArnException",
        by_alias,
    );
    assert_error(
        list(Some(UNKNOWN_ID), None, None).await,
        "NotFoundException",
        &unknown,
    );
    let page = list(None, Some(1000), None)
        .await
        .expect("Limit up to 1000");
    assert_eq!(page.aliases().len(), 5);
    list(Some(&doomed), None, None)
        .await
        .expect("ListAliases of a key pending deletion");
}

#[tokio::test]
async fn aliases_survive_a_restart_and_go_with_their_key() {
    let mut daemon = Daemon::start_with_dev_clock();
    let client = daemon.client();
    let (a, b, c) = (
        new_key(&client).await,
        new_key(&client).await,
        new_key(&client).await,
    );
    create_alias(&client, "alias/keep", &a).await;
    create_alias(&client, "alias/moved", &a).await;
    create_alias(&client, "alias/gone", &a).await;
    create_alias(&client, "alias/doomed", &c).await;
    client
        .update_alias()
        .alias_name("alias/moved")
        .target_key_id(&b)
        .send()
        .await
        .expect("update");
    client
        .delete_alias()
        .alias_name("alias/gone")
        .send()
        .await
        .expect("delete");
    let (before, _) = list_all(&client, None, None).await;

    daemon.restart();
    let client = daemon.client();
    let (after, _) = list_all(&client, None, None).await;
    assert_eq!(after, before);
    assert_eq!(names(&after), ["alias/doomed", "alias/keep", "alias/moved"]);
    assert_eq!(target_of(&client, "alias/keep").await, a);
    assert_eq!(target_of(&client, "alias/moved").await, b);
    assert_eq!(target_of(&client, "alias/doomed").await, c);
    assert_error(
        client.describe_key().key_id("alias/gone").send().await,
        "NotFoundException",
        &format!("Alias {} is not found.", alias_arn("alias/gone")),
    );

    // Deleting a key deletes its aliases; the name is free again.
    schedule_deletion(&client, &c).await;
    daemon.advance_clock(8 * DAY);
    let (left, _) = list_all(&client, None, None).await;
    assert_eq!(names(&left), ["alias/keep", "alias/moved"]);
    assert_error(
        client.describe_key().key_id("alias/doomed").send().await,
        "NotFoundException",
        &format!("Alias {} is not found.", alias_arn("alias/doomed")),
    );
    create_alias(&client, "alias/doomed", &a).await;

    daemon.restart();
    let client = daemon.client();
    let (left, _) = list_all(&client, None, None).await;
    assert_eq!(names(&left), ["alias/doomed", "alias/keep", "alias/moved"]);
    assert_eq!(target_of(&client, "alias/doomed").await, a);
}
