//! Tags and key policies through the AWS SDK for Rust: TagResource, UntagResource and
//! ListResourceTags with paging, GetKeyPolicy, PutKeyPolicy and ListKeyPolicies, every
//! rule with AWS's error, and both across a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::types::Tag;
use aws_sdk_kms::Client;
use common::{
    assert_error, at_least, at_most, disable_key, invalid, key_policy, missing, new_key,
    schedule_deletion, tag, value_at_least, value_at_most, Daemon, ACCOUNT, UNKNOWN_ID, VALIDATION,
};
use serde_json::json;

const BY_ALIAS: &str = "Key Aliases are not supported for this operation.";
const MALFORMED: &str = "The new key policy is not a valid JSON policy document.";

fn numbered(prefix: &str, n: usize) -> Vec<Tag> {
    (0..n)
        .map(|i| tag(&format!("{prefix}{i:02}"), "v"))
        .collect()
}

async fn tag_key(client: &Client, key: &str, tags: Vec<Tag>) {
    client
        .tag_resource()
        .key_id(key)
        .set_tags(Some(tags))
        .send()
        .await
        .expect("tag resource");
}

/// Every tag of `key` as (key, value), one ListResourceTags call per page of `limit`, with
/// the page sizes seen.
async fn list_tags(
    client: &Client,
    key: &str,
    limit: Option<i32>,
) -> (Vec<(String, String)>, Vec<usize>) {
    let (mut all, mut pages, mut marker) = (Vec::new(), Vec::new(), None);
    loop {
        let page = client
            .list_resource_tags()
            .key_id(key)
            .set_limit(limit)
            .set_marker(marker)
            .send()
            .await
            .expect("list tags");
        pages.push(page.tags().len());
        all.extend(
            page.tags()
                .iter()
                .map(|t| (t.tag_key().to_owned(), t.tag_value().to_owned())),
        );
        assert_eq!(page.truncated(), page.next_marker().is_some());
        match page.next_marker() {
            Some(next) => marker = Some(next.to_owned()),
            None => return (all, pages),
        }
    }
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn policy_of(client: &Client, key: &str) -> String {
    let got = client
        .get_key_policy()
        .key_id(key)
        .send()
        .await
        .expect("get key policy");
    assert_eq!(got.policy_name(), Some("default"));
    got.policy().expect("policy").to_owned()
}

#[tokio::test]
async fn tags_are_added_replaced_removed_and_listed_in_pages() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let created = client
        .create_key()
        .tags(tag("team", "payments"))
        .tags(tag("env", "dev"))
        .send()
        .await
        .expect("create key");
    let key = created.key_metadata().unwrap().key_id().to_owned();

    tag_key(
        &client,
        &key,
        vec![
            tag("env", "prod"),
            tag("owner", "alice"),
            tag("cost-center", ""),
        ],
    )
    .await;
    let (all, pages) = list_tags(&client, &key, None).await;
    assert_eq!(pages, vec![4]);
    let expected = [
        ("cost-center", ""),
        ("env", "prod"),
        ("owner", "alice"),
        ("team", "payments"),
    ];
    assert_eq!(all, pairs(&expected));

    client
        .untag_resource()
        .key_id(daemon.key_arn(&key))
        .tag_keys("owner")
        .tag_keys("never-set")
        .send()
        .await
        .expect("untag");
    let (all, _) = list_tags(&client, &key, None).await;
    let expected = [("cost-center", ""), ("env", "prod"), ("team", "payments")];
    assert_eq!(all, pairs(&expected));

    tag_key(&client, &daemon.key_arn(&key), numbered("t", 20)).await;
    let (all, pages) = list_tags(&client, &key, Some(10)).await;
    assert_eq!(pages, vec![10, 10, 3]);
    let mut sorted: Vec<String> = all.iter().map(|(k, _)| k.clone()).collect();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        all.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        sorted
    );
    let (_, pages) = list_tags(&client, &daemon.key_arn(&key), Some(1000)).await;
    assert_eq!(pages, vec![23]);

    // Tags are metadata: a disabled key takes them too.
    disable_key(&client, &key).await;
    tag_key(&client, &key, vec![tag("state", "off")]).await;
    client
        .untag_resource()
        .key_id(&key)
        .tag_keys("state")
        .send()
        .await
        .expect("untag disabled");
    assert_eq!(list_tags(&client, &key, None).await.0.len(), 23);
}

#[tokio::test]
async fn every_tag_rule_with_awss_error() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let key = new_key(&client).await;
    let tag_with = |tags: Vec<Tag>| {
        client
            .tag_resource()
            .key_id(&key)
            .set_tags(Some(tags))
            .send()
    };
    let reserved = "Tags beginning with aws: are reserved";
    for k in ["aws:x", "AWS:x", "Aws:"] {
        let refused = tag_with(vec![tag("fine", "1"), tag(k, "2")]).await;
        assert_error(refused, "TagException", reserved);
    }
    assert_error(
        tag_with(vec![tag("a", "1"), tag("a", "2")]).await,
        "TagException",
        "Duplicate tag keys",
    );
    assert!(
        list_tags(&client, &key, None).await.0.is_empty(),
        "nothing kept"
    );

    // At most 50, counting the tags the key keeps; replacing a value adds nothing.
    tag_key(&client, &key, numbered("t", 45)).await;
    let six = numbered("new", 6);
    assert_error(tag_with(six.clone()).await, "TagException", "Too many tags");
    tag_with(six[..5].to_vec()).await.expect("50 in all");
    tag_with(numbered("t", 45)).await.expect("replacing values");
    assert_error(
        tag_with(vec![tag("one-more", "")]).await,
        "TagException",
        "Too many tags",
    );
    assert_eq!(list_tags(&client, &key, None).await.0.len(), 50);

    // The model's constraints, with the position of the tag at fault.
    let long_key = "k".repeat(129);
    assert_error(
        tag_with(vec![tag("ok", ""), tag(&long_key, "")]).await,
        VALIDATION,
        &invalid(
            &format!("Value '{long_key}'"),
            "tags.2.member.tagKey",
            &at_most(128),
        ),
    );
    assert_error(
        tag_with(vec![tag("", "")]).await,
        VALIDATION,
        &invalid("Value ''", "tags.1.member.tagKey", &at_least(1)),
    );
    let long_value = "v".repeat(257);
    assert_error(
        tag_with(vec![tag("ok", &long_value)]).await,
        VALIDATION,
        &invalid(
            &format!("Value '{long_value}'"),
            "tags.1.member.tagValue",
            &at_most(256),
        ),
    );
    let body = json!({ "KeyId": key, "Tags": [{ "TagKey": "k" }] }).to_string();
    let (status, refused, _) = daemon.raw(Some("TrentService.TagResource"), &body);
    assert_eq!(status, 400);
    assert_eq!(refused["message"], missing("tags.1.member.tagValue"));
    assert_error(
        client.tag_resource().key_id(&key).send().await,
        VALIDATION,
        &missing("tags"),
    );
    assert_error(
        client.tag_resource().tags(tag("a", "b")).send().await,
        VALIDATION,
        &missing("keyId"),
    );
    assert_error(
        client.untag_resource().key_id(&key).send().await,
        VALIDATION,
        &missing("tagKeys"),
    );
    assert_error(
        client
            .untag_resource()
            .key_id(&key)
            .tag_keys("t00")
            .tag_keys(&long_key)
            .send()
            .await,
        VALIDATION,
        &invalid(
            &format!("Value '{long_key}'"),
            "tagKeys.2.member",
            &at_most(128),
        ),
    );
    let list = |limit: Option<i32>, marker: Option<&str>| {
        client
            .list_resource_tags()
            .key_id(&key)
            .set_limit(limit)
            .set_marker(marker.map(str::to_owned))
            .send()
    };
    assert_error(
        list(Some(0), None).await,
        VALIDATION,
        &invalid("Value '0'", "limit", &value_at_least(1)),
    );
    assert_error(
        list(Some(1001), None).await,
        VALIDATION,
        &invalid("Value '1001'", "limit", &value_at_most(1000)),
    );
    assert_error(
        list(None, Some("bogus")).await,
        "InvalidMarkerException",
        "Invalid marker: use the NextMarker of the previous response.",
    );
    assert_error(
        client.list_resource_tags().send().await,
        VALIDATION,
        &missing("keyId"),
    );

    // Keys by id or ARN only, and keys that exist.
    client
        .create_alias()
        .alias_name("alias/tagged")
        .target_key_id(&key)
        .send()
        .await
        .expect("create alias");
    let unknown = format!("Key '{}' does not exist", daemon.key_arn(UNKNOWN_ID));
    for (id, code, message) in [
        ("alias/tagged", "InvalidArnException", BY_ALIAS),
        (UNKNOWN_ID, "NotFoundException", unknown.as_str()),
    ] {
        let tagged = client.tag_resource().key_id(id).tags(tag("a", "b")).send();
        assert_error(tagged.await, code, message);
        let untagged = client.untag_resource().key_id(id).tag_keys("a").send();
        assert_error(untagged.await, code, message);
        let listed = client.list_resource_tags().key_id(id).send();
        assert_error(listed.await, code, message);
    }

    // A key pending deletion keeps its tags and can list them, but not change them.
    schedule_deletion(&client, &key).await;
    let pending = format!("{} is pending deletion.", daemon.key_arn(&key));
    assert_error(
        tag_with(vec![tag("t00", "x")]).await,
        "KMSInvalidStateException",
        &pending,
    );
    assert_error(
        client
            .untag_resource()
            .key_id(&key)
            .tag_keys("t00")
            .send()
            .await,
        "KMSInvalidStateException",
        &pending,
    );
    assert_eq!(list_tags(&client, &key, None).await.0.len(), 50);
}

#[tokio::test]
async fn key_policies_are_stored_and_returned_as_given() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let key = new_key(&client).await;

    let default: serde_json::Value = serde_json::from_str(&policy_of(&client, &key).await).unwrap();
    let statement = &default["Statement"][0];
    assert_eq!(
        statement["Principal"]["AWS"],
        format!("arn:aws:iam::{ACCOUNT}:root")
    );
    assert_eq!(statement["Action"], "kms:*");
    let named = client
        .get_key_policy()
        .key_id(daemon.key_arn(&key))
        .policy_name("default")
        .send()
        .await
        .expect("get by name");
    assert_eq!(
        named.policy(),
        Some(policy_of(&client, &key).await.as_str())
    );

    for limit in [None, Some(1), Some(1000)] {
        let listed = client
            .list_key_policies()
            .key_id(&key)
            .set_limit(limit)
            .send()
            .await
            .expect("list key policies");
        assert_eq!(listed.policy_names(), ["default"]);
        assert!(!listed.truncated());
        assert_eq!(listed.next_marker(), None);
    }

    // Kept byte for byte: spacing, order and line breaks.
    let text = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [ {\"Sid\": \"café\", \"Effect\": \"Allow\",\n  \"Principal\": {\"AWS\": \"arn:aws:iam::111122223333:root\"}, \"Action\": \"kms:*\", \"Resource\": \"*\"} ]\n}";
    client
        .put_key_policy()
        .key_id(&key)
        .policy(text)
        .bypass_policy_lockout_safety_check(true)
        .send()
        .await
        .expect("put key policy");
    assert_eq!(policy_of(&client, &key).await, text);
    client
        .put_key_policy()
        .key_id(daemon.key_arn(&key))
        .policy_name("default")
        .policy(key_policy("named"))
        .send()
        .await
        .expect("put by name and ARN");
    assert_eq!(policy_of(&client, &key).await, key_policy("named"));

    let given = key_policy("given");
    let created = client
        .create_key()
        .policy(&given)
        .send()
        .await
        .expect("create with policy");
    let with_policy = created.key_metadata().unwrap().key_id().to_owned();
    assert_eq!(policy_of(&client, &with_policy).await, given);

    // Metadata: disabled keys and keys pending deletion take new policies too.
    disable_key(&client, &key).await;
    let put = |text: &str| client.put_key_policy().key_id(&key).policy(text).send();
    put(&key_policy("disabled"))
        .await
        .expect("put on a disabled key");
    schedule_deletion(&client, &key).await;
    put(&key_policy("pending"))
        .await
        .expect("put on a key pending deletion");
    assert_eq!(policy_of(&client, &key).await, key_policy("pending"));
}

#[tokio::test]
async fn every_key_policy_rule_with_awss_error() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let key = new_key(&client).await;
    let before = policy_of(&client, &key).await;
    let put = |text: &str| client.put_key_policy().key_id(&key).policy(text).send();

    for bad in ["not a policy", "[1, 2]", "\"text\"", "{\"open\": "] {
        assert_error(
            put(bad).await,
            "MalformedPolicyDocumentException",
            MALFORMED,
        );
    }
    assert_error(
        put("").await,
        VALIDATION,
        &invalid("Value ''", "policy", &at_least(1)),
    );
    let long = format!("{{\"Sid\": \"{}\"}}", "x".repeat(131_062));
    assert_eq!(long.len(), 131_073);
    assert_error(
        put(&long).await,
        VALIDATION,
        &invalid(&format!("Value '{long}'"), "policy", &at_most(131_072)),
    );
    let euro = "{\"Sid\": \"€\"}";
    assert_error(
        put(euro).await,
        VALIDATION,
        &invalid(
            &format!("Value '{euro}'"),
            "policy",
            "Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+",
        ),
    );
    assert_error(
        client.put_key_policy().key_id(&key).send().await,
        VALIDATION,
        &missing("policy"),
    );
    assert_error(
        client.get_key_policy().send().await,
        VALIDATION,
        &missing("keyId"),
    );

    // Only `default` exists; other names are refused by shape or as unknown.
    let no_such = "No such policy exists";
    let get_named = |name: &str| {
        client
            .get_key_policy()
            .key_id(&key)
            .policy_name(name)
            .send()
    };
    let put_named = |name: &str| {
        client
            .put_key_policy()
            .key_id(&key)
            .policy_name(name)
            .policy("{}")
            .send()
    };
    assert_error(get_named("other").await, "NotFoundException", no_such);
    assert_error(put_named("Default").await, "NotFoundException", no_such);
    let bad_name = invalid(
        "Value 'not valid!'",
        "policyName",
        "Member must satisfy regular expression pattern: [\\w]+",
    );
    assert_error(get_named("not valid!").await, VALIDATION, &bad_name);
    assert_error(put_named("not valid!").await, VALIDATION, &bad_name);
    let long_name = "p".repeat(129);
    assert_error(
        get_named(&long_name).await,
        VALIDATION,
        &invalid(&format!("Value '{long_name}'"), "policyName", &at_most(128)),
    );

    // ListKeyPolicies' paging members.
    let list = |limit: Option<i32>, marker: Option<&str>| {
        client
            .list_key_policies()
            .key_id(&key)
            .set_limit(limit)
            .set_marker(marker.map(str::to_owned))
            .send()
    };
    assert_error(
        list(Some(0), None).await,
        VALIDATION,
        &invalid("Value '0'", "limit", &value_at_least(1)),
    );
    assert_error(
        list(None, Some("bogus")).await,
        "InvalidMarkerException",
        "Invalid marker: use the NextMarker of the previous response.",
    );

    // Keys by id or ARN only, and keys that exist.
    client
        .create_alias()
        .alias_name("alias/guarded")
        .target_key_id(&key)
        .send()
        .await
        .expect("create alias");
    let unknown = format!("Key '{}' does not exist", daemon.key_arn(UNKNOWN_ID));
    for (id, code, message) in [
        ("alias/guarded", "InvalidArnException", BY_ALIAS),
        (UNKNOWN_ID, "NotFoundException", unknown.as_str()),
    ] {
        let got = client.get_key_policy().key_id(id).send();
        assert_error(got.await, code, message);
        let put = client.put_key_policy().key_id(id).policy("{}").send();
        assert_error(put.await, code, message);
        let listed = client.list_key_policies().key_id(id).send();
        assert_error(listed.await, code, message);
    }
    assert_eq!(policy_of(&client, &key).await, before, "nothing changed");
}

#[tokio::test]
async fn tags_and_policies_survive_a_restart() {
    let mut daemon = Daemon::start();
    let client = daemon.client();
    let key = new_key(&client).await;
    tag_key(
        &client,
        &key,
        vec![tag("team", "payments"), tag("env", "dev")],
    )
    .await;
    tag_key(&client, &key, vec![tag("env", "prod"), tag("gone", "x")]).await;
    client
        .untag_resource()
        .key_id(&key)
        .tag_keys("gone")
        .send()
        .await
        .expect("untag");
    let text = key_policy("kept");
    client
        .put_key_policy()
        .key_id(&key)
        .policy(&text)
        .send()
        .await
        .expect("put key policy");

    daemon.restart();
    let client = daemon.client();
    let (tags, _) = list_tags(&client, &key, None).await;
    assert_eq!(tags, pairs(&[("env", "prod"), ("team", "payments")]));
    assert_eq!(policy_of(&client, &key).await, text.as_str());
}
