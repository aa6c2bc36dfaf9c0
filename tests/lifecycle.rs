//! Key states through the AWS SDK: enable, disable, scheduled deletion and its cancellation,
//! deletion when the date passes (with the development clock), descriptions, EXTERNAL keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyState, OriginType};
use aws_sdk_kms::Client;
use common::{error_code, error_message, Daemon};

const DAY: i64 = 86_400;

async fn new_key(client: &Client) -> String {
    let created = client.create_key().send().await.expect("create key");
    created
        .key_metadata()
        .expect("metadata")
        .key_id()
        .to_owned()
}

async fn encrypt(client: &Client, key: &str, text: &str) -> Blob {
    client
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(text))
        .send()
        .await
        .expect("encrypt")
        .ciphertext_blob
        .expect("blob")
}

async fn decrypt(client: &Client, blob: Blob) -> Vec<u8> {
    let out = client
        .decrypt()
        .ciphertext_blob(blob)
        .send()
        .await
        .expect("decrypt");
    out.plaintext().expect("plaintext").as_ref().to_vec()
}

async fn state(client: &Client, key: &str) -> (KeyState, bool) {
    let described = client
        .describe_key()
        .key_id(key)
        .send()
        .await
        .expect("describe");
    let meta = described.key_metadata().expect("metadata");
    (meta.key_state().expect("state").clone(), meta.enabled())
}

#[tokio::test]
async fn disable_and_enable() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let key = new_key(&client).await;
    let blob = encrypt(&client, &key, "kept").await;
    client
        .disable_key()
        .key_id(&key)
        .send()
        .await
        .expect("disable");
    assert_eq!(state(&client, &key).await, (KeyState::Disabled, false));
    let refused = client
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&refused), "DisabledException");
    assert_eq!(
        error_message(&refused),
        format!("{} is disabled.", daemon.key_arn(&key))
    );
    let refused = client
        .decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&refused), "DisabledException");
    // Disabling twice is allowed, as in AWS KMS.
    client
        .disable_key()
        .key_id(&key)
        .send()
        .await
        .expect("disable again");
    client
        .enable_key()
        .key_id(&key)
        .send()
        .await
        .expect("enable");
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
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64;
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

    let described = client
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .expect("describe");
    let meta = described.key_metadata().expect("metadata");
    assert_eq!(meta.key_state(), Some(&KeyState::PendingDeletion));
    assert!(!meta.enabled());
    assert_eq!(meta.deletion_date().map(|d| d.secs()), Some(deletion));
    assert_eq!(meta.pending_deletion_window_in_days(), Some(30));

    let pending = format!("{arn} is pending deletion.");
    let refused = client
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (error_code(&refused), error_message(&refused)),
        ("KMSInvalidStateException".into(), pending.clone())
    );
    let again = client
        .schedule_key_deletion()
        .key_id(&key)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (error_code(&again), error_message(&again)),
        ("KMSInvalidStateException".into(), pending)
    );

    let cancelled = client
        .cancel_key_deletion()
        .key_id(&key)
        .send()
        .await
        .expect("cancel");
    assert_eq!(cancelled.key_id(), Some(arn.as_str()));
    assert_eq!(state(&client, &key).await, (KeyState::Disabled, false));
    let described = client
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .expect("describe");
    assert!(described
        .key_metadata()
        .and_then(|m| m.deletion_date())
        .is_none());
    let twice = client
        .cancel_key_deletion()
        .key_id(&key)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&twice), "KMSInvalidStateException");
    assert_eq!(
        error_message(&twice),
        format!("{arn} is not pending deletion.")
    );

    client
        .enable_key()
        .key_id(&key)
        .send()
        .await
        .expect("enable");
    assert_eq!(decrypt(&client, blob).await, b"survives");
}

#[tokio::test]
async fn deletion_window_is_checked() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let key = new_key(&client).await;
    for (days, message) in [
        (6, "PendingWindowInDays must be between 7 and 30".to_owned()),
        (31, "PendingWindowInDays must be between 7 and 30".to_owned()),
        (0, "1 validation error detected: Value '0' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value greater than or equal to 1".to_owned()),
        (366, "1 validation error detected: Value '366' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value less than or equal to 365".to_owned()),
    ] {
        let e = client
            .schedule_key_deletion()
            .key_id(&key)
            .pending_window_in_days(days)
            .send()
            .await
            .unwrap_err();
        assert_eq!((error_code(&e), error_message(&e)), ("ValidationException".into(), message));
    }
    let alias_refused = client
        .schedule_key_deletion()
        .key_id("alias/anything")
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&alias_refused), "InvalidArnException");
    assert_eq!(state(&client, &key).await.0, KeyState::Enabled);
}

#[tokio::test]
async fn a_key_is_destroyed_when_its_deletion_date_passes() {
    let daemon = Daemon::start_with_dev_clock();
    let client = daemon.client();
    let key = new_key(&client).await;
    let blob = encrypt(&client, &key, "soon gone").await;
    client
        .schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("schedule");
    daemon.advance_clock(7 * DAY - 60);
    assert_eq!(state(&client, &key).await.0, KeyState::PendingDeletion);
    daemon.advance_clock(61);
    let gone = client.describe_key().key_id(&key).send().await.unwrap_err();
    assert_eq!(error_code(&gone), "NotFoundException");
    assert_eq!(
        error_message(&gone),
        format!("Key '{}' does not exist", daemon.key_arn(&key))
    );
    let lost = client
        .decrypt()
        .ciphertext_blob(blob)
        .send()
        .await
        .unwrap_err();
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
    client
        .schedule_key_deletion()
        .key_id(&doomed)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("schedule");
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
    assert_eq!(state(&client, &kept).await.0, KeyState::Enabled);
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
    let described = daemon
        .client()
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .expect("describe");
    assert_eq!(
        described.key_metadata().and_then(|m| m.description()),
        Some("renamed")
    );
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
    let refused = client
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&refused), "KMSInvalidStateException");
    assert_eq!(
        error_message(&refused),
        format!("{} is pending import.", daemon.key_arn(key))
    );
    let refused = client.enable_key().key_id(key).send().await.unwrap_err();
    assert_eq!(
        error_message(&refused),
        format!("{} is pending import.", daemon.key_arn(key))
    );
}
