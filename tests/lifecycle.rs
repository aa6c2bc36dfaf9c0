//! Key states through the AWS SDK: enable, disable, scheduled deletion and its cancellation,
//! deletion when the date passes (with the development clock), descriptions, EXTERNAL keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::types::{KeyState, OriginType};
use aws_sdk_kms::Client;
use common::{
    assert_error, decrypt, describe, disable_key, enable_key, encrypt, error_code, error_message,
    invalid, key_state, new_key, now_seconds, schedule_deletion, try_decrypt, try_encrypt,
    value_at_least, value_at_most, Daemon, DAY, VALIDATION,
};

/// The state of `key` and whether it is enabled.
async fn state(client: &Client, key: &str) -> (KeyState, bool) {
    let meta = describe(client, key).await;
    (meta.key_state().expect("state").clone(), meta.enabled())
}

#[tokio::test]
async fn disable_and_enable() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let key = new_key(&client).await;
    let blob = encrypt(&client, &key, "kept").await;
    disable_key(&client, &key).await;
    assert_eq!(state(&client, &key).await, (KeyState::Disabled, false));
    assert_error(
        try_encrypt(&client, &key, "x").await,
        "DisabledException",
        &format!("{} is disabled.", daemon.key_arn(&key)),
    );
    let refused = try_decrypt(&client, blob.clone()).await.unwrap_err();
    assert_eq!(error_code(&refused), "DisabledException");
    // Disabling twice is allowed, as in AWS KMS.
    disable_key(&client, &key).await;
    enable_key(&client, &key).await;
    assert_eq!(state(&client, &key).await, (KeyState::Enabled, true));
    assert_eq!(decrypt(&client, blob).await, b"kept");
}

#[tokio::test]
async fn schedule_and_cancel_deletion() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let key = new_key(&client).await;
    let arn = daemon.key_arn(&key);
    let blob = encrypt(&client, &key, "survives").await;
    let before = now_seconds();
    let scheduled = client
        .schedule_key_deletion()
        .key_id(&key)
        .send()
        .await
        .expect("schedule");
    assert_eq!(scheduled.key_id(), Some(arn.as_str()));
    assert_eq!(scheduled.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(scheduled.pending_window_in_days(), Some(30));
    let deletion = scheduled.deletion_date().expect("deletion date").secs();
    assert!(
        (before + 30 * DAY..=before + 30 * DAY + 60).contains(&deletion),
        "{deletion}"
    );

    let meta = describe(&client, &key).await;
    assert_eq!(meta.key_state(), Some(&KeyState::PendingDeletion));
    assert!(!meta.enabled());
    assert_eq!(meta.deletion_date().map(|d| d.secs()), Some(deletion));
    assert_eq!(meta.pending_deletion_window_in_days(), Some(30));

    let pending = format!("{arn} is pending deletion.");
    assert_error(
        try_encrypt(&client, &key, "x").await,
        "KMSInvalidStateException",
        &pending,
    );
    assert_error(
        client.schedule_key_deletion().key_id(&key).send().await,
        "KMSInvalidStateException",
        &pending,
    );

    let cancelled = client
        .cancel_key_deletion()
        .key_id(&key)
        .send()
        .await
        .expect("cancel");
    assert_eq!(cancelled.key_id(), Some(arn.as_str()));
    assert_eq!(state(&client, &key).await, (KeyState::Disabled, false));
    assert!(describe(&client, &key).await.deletion_date().is_none());
    assert_error(
        client.cancel_key_deletion().key_id(&key).send().await,
        "KMSInvalidStateException",
        &format!("{arn} is not pending deletion."),
    );

    enable_key(&client, &key).await;
    assert_eq!(decrypt(&client, blob).await, b"survives");
}

#[tokio::test]
async fn deletion_window_is_checked() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let key = new_key(&client).await;
    let between = "PendingWindowInDays must be between 7 and 30";
    let member = "pendingWindowInDays";
    for (days, message) in [
        (6, between.to_owned()),
        (31, between.to_owned()),
        (0, invalid("Value '0'", member, &value_at_least(1))),
        (366, invalid("Value '366'", member, &value_at_most(365))),
    ] {
        let refused = client
            .schedule_key_deletion()
            .key_id(&key)
            .pending_window_in_days(days)
            .send()
            .await;
        assert_error(refused, VALIDATION, &message);
    }
    let alias_refused = client
        .schedule_key_deletion()
        .key_id("alias/anything")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&alias_refused), "InvalidArnException");
    assert_eq!(key_state(&client, &key).await, KeyState::Enabled);
}

#[tokio::test]
async fn a_key_is_destroyed_when_its_deletion_date_passes() {
    let daemon = Daemon::start_with_dev_clock();
    let client = daemon.client();
    let key = new_key(&client).await;
    let blob = encrypt(&client, &key, "soon gone").await;
    schedule_deletion(&client, &key).await;
    daemon.advance_clock(7 * DAY - 60);
    assert_eq!(key_state(&client, &key).await, KeyState::PendingDeletion);
    daemon.advance_clock(61);
    assert_error(
        client.describe_key().key_id(&key).send().await,
        "NotFoundException",
        &format!("Key '{}' does not exist", daemon.key_arn(&key)),
    );
    let lost = try_decrypt(&client, blob).await.unwrap_err();
    assert_eq!(error_code(&lost), "InvalidCiphertextException");
    assert!(client
        .list_keys()
        .send()
        .await
        .expect("list")
        .keys()
        .is_empty());
    assert!(daemon
        .log()
        .contains("key deleted: token objects destroyed"));
}

#[tokio::test]
async fn a_deletion_due_while_the_daemon_was_down_happens_at_start_up() {
    let mut daemon = Daemon::start_with_dev_clock();
    let client = daemon.client();
    let (doomed, kept) = (new_key(&client).await, new_key(&client).await);
    schedule_deletion(&client, &doomed).await;
    daemon.kill();
    daemon.set_env("HSMKMS__DEV__CLOCK_OFFSET_SECONDS", &(8 * DAY).to_string());
    daemon.start_again();
    let client = daemon.client();
    let gone = client
        .describe_key()
        .key_id(&doomed)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&gone), "NotFoundException");
    assert_eq!(key_state(&client, &kept).await, KeyState::Enabled);
}

#[tokio::test]
async fn the_system_clock_cannot_be_moved() {
    let daemon = Daemon::start();
    let (status, body, _) = daemon.raw(Some("HsmKmsDev.AdvanceClock"), r#"{"Seconds": 1}"#);
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "UnknownOperationException");
}

#[tokio::test]
async fn update_key_description_is_durable() {
    let mut daemon = Daemon::start();
    let client = daemon.client();
    let key = new_key(&client).await;
    client
        .update_key_description()
        .key_id(&key)
        .description("renamed")
        .send()
        .await
        .expect("update description");
    daemon.restart();
    let described = describe(&daemon.client(), &key).await;
    assert_eq!(described.description(), Some("renamed"));
}

#[tokio::test]
async fn an_external_key_waits_for_its_material() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let created = client
        .create_key()
        .origin(OriginType::External)
        .send()
        .await
        .expect("create");
    let meta = created.key_metadata().expect("metadata");
    assert_eq!(meta.origin(), Some(&OriginType::External));
    assert_eq!(meta.key_state(), Some(&KeyState::PendingImport));
    assert!(!meta.enabled());
    assert!(meta.current_key_material_id().is_none());
    let key = meta.key_id();
    let pending = format!("{} is pending import.", daemon.key_arn(key));
    assert_error(
        try_encrypt(&client, key, "x").await,
        "KMSInvalidStateException",
        &pending,
    );
    let refused = client.enable_key().key_id(key).send().await.unwrap_err();
    assert_eq!(error_message(&refused), pending);
}
