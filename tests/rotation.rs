//! Rotation through the AWS SDK: on demand and on schedule (development clock), new
//! encryptions use the new material, every old ciphertext still decrypts, across a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{IncludeKeyMaterial, RotationType};
use aws_sdk_kms::Client;
use common::{
    assert_error, current_material, disable_key, enable_key, error_code, external_key, invalid,
    new_key, value_at_least, value_at_most, Daemon, DAY, VALIDATION,
};

/// Encrypts `text` under `key` with the context v=`text`; the blob and the material that
/// decrypts it.
async fn encrypt(client: &Client, key: &str, text: &str) -> (Blob, String) {
    let out = client
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(text))
        .encryption_context("v", text)
        .send()
        .await
        .expect("encrypt");
    let blob = out.ciphertext_blob.expect("blob");
    let material = client
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("v", text)
        .send()
        .await
        .expect("decrypt")
        .key_material_id
        .expect("material id");
    (blob, material)
}

#[tokio::test]
async fn rotation_keeps_every_ciphertext_decryptable() {
    let mut daemon = Daemon::start_with_dev_clock();
    let client = daemon.client();
    let key = new_key(&client).await;
    let first = current_material(&client, &key).await;
    let mut made = vec![("one", encrypt(&client, &key, "one").await)];
    assert_eq!(made[0].1 .1, first);

    client
        .rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .expect("rotate on demand");
    let second = current_material(&client, &key).await;
    assert_ne!(second, first);
    made.push(("two", encrypt(&client, &key, "two").await));
    assert_eq!(made[1].1 .1, second, "new encryptions use the new material");

    client
        .enable_key_rotation()
        .key_id(&key)
        .rotation_period_in_days(90)
        .send()
        .await
        .expect("enable rotation");
    let status = client
        .get_key_rotation_status()
        .key_id(&key)
        .send()
        .await
        .expect("status");
    assert!(status.key_rotation_enabled());
    assert_eq!(status.rotation_period_in_days(), Some(90));
    assert!(status.next_rotation_date().is_some());
    daemon.advance_clock(90 * DAY + 1);
    let third = current_material(&client, &key).await;
    assert!(
        third != second && third != first,
        "the scheduled rotation happened"
    );
    made.push(("three", encrypt(&client, &key, "three").await));

    let rotations = client
        .list_key_rotations()
        .key_id(&key)
        .send()
        .await
        .expect("list");
    let kinds: Vec<_> = rotations
        .rotations()
        .iter()
        .map(|r| r.rotation_type().cloned())
        .collect();
    assert_eq!(
        kinds,
        vec![Some(RotationType::OnDemand), Some(RotationType::Automatic)]
    );
    let all = client
        .list_key_rotations()
        .key_id(&key)
        .include_key_material(IncludeKeyMaterial::AllKeyMaterial)
        .limit(1)
        .send()
        .await
        .expect("list all");
    assert_eq!(all.rotations().len(), 1);
    assert!(all.truncated());

    daemon.restart();
    let client = daemon.client();
    for (text, (blob, material)) in made {
        let out = client
            .decrypt()
            .ciphertext_blob(blob)
            .encryption_context("v", text)
            .send()
            .await
            .expect("old ciphertext decrypts after rotation and restart");
        assert_eq!(out.plaintext().map(|p| p.as_ref()), Some(text.as_bytes()));
        assert_eq!(out.key_material_id(), Some(material.as_str()));
    }

    client
        .disable_key_rotation()
        .key_id(&key)
        .send()
        .await
        .expect("disable rotation");
    let status = client
        .get_key_rotation_status()
        .key_id(&key)
        .send()
        .await
        .expect("status");
    assert!(!status.key_rotation_enabled());
    assert!(status.next_rotation_date().is_none());
}

#[tokio::test]
async fn a_disabled_key_is_not_rotated_until_enabled() {
    let daemon = Daemon::start_with_dev_clock();
    let client = daemon.client();
    let key = new_key(&client).await;
    let first = current_material(&client, &key).await;
    client
        .enable_key_rotation()
        .key_id(&key)
        .send()
        .await
        .expect("enable rotation");
    disable_key(&client, &key).await;
    daemon.advance_clock(366 * DAY);
    assert_eq!(current_material(&client, &key).await, first);
    let refused = client
        .rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&refused), "DisabledException");
    enable_key(&client, &key).await;
    daemon.advance_clock(1);
    assert_ne!(current_material(&client, &key).await, first);
}

#[tokio::test]
async fn rotation_errors() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let key = new_key(&client).await;
    for (days, bound) in [(89, value_at_least(90)), (2561, value_at_most(2560))] {
        let refused = client
            .enable_key_rotation()
            .key_id(&key)
            .rotation_period_in_days(days)
            .send()
            .await;
        let message = invalid(&format!("Value '{days}'"), "rotationPeriodInDays", &bound);
        assert_error(refused, VALIDATION, &message);
    }
    let external = external_key(&client).await;
    let arn = daemon.key_arn(&external);
    assert_error(
        client.enable_key_rotation().key_id(&external).send().await,
        "UnsupportedOperationException",
        &format!("{arn} origin is EXTERNAL which is not valid for this operation."),
    );
    assert_error(
        client.rotate_key_on_demand().key_id(&external).send().await,
        "KMSInvalidStateException",
        &format!("{arn} is pending import."),
    );
}
