//! The two custody modes side by side, as an operator switches between them: keys keep the
//! custody they were made in, ciphertexts survive restarts in both, a deleted wrapped key's
//! blob leaves the sidecar, and a blob moved to another key's row is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::Client;
use common::{current_material, use_wrapped_custody, Daemon};

/// The custody column and blob length of material `id`, read from the sidecar (the daemon
/// is stopped: it holds the file exclusively).
fn custody_of(daemon: &Daemon, id: &str) -> (String, Option<usize>) {
    let db = rusqlite::Connection::open(daemon.db_path()).expect("open sidecar");
    db.query_row(
        "SELECT custody, length(wrapped_material) FROM key_materials WHERE material_id = ?1",
        [id],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .expect("material row")
}

async fn encrypt(client: &Client, key: &str, text: &[u8]) -> Vec<u8> {
    let out = (client.encrypt().key_id(key).plaintext(Blob::new(text)))
        .encryption_context("purpose", "custody")
        .send()
        .await
        .expect("encrypt");
    out.ciphertext_blob().expect("blob").as_ref().to_vec()
}

async fn decrypt(client: &Client, blob: &[u8]) -> Vec<u8> {
    let out = (client.decrypt().ciphertext_blob(Blob::new(blob)))
        .encryption_context("purpose", "custody")
        .send()
        .await
        .expect("decrypt");
    out.plaintext().expect("plaintext").as_ref().to_vec()
}

async fn assert_decrypts(client: &Client, blob: &[u8], text: &[u8]) {
    assert_eq!(decrypt(client, blob).await, text);
}

async fn new_key(client: &Client) -> String {
    common::new_key(client).await
}

#[tokio::test]
async fn keys_keep_their_custody_across_mode_switches_and_restarts() {
    let mut daemon = Daemon::start();
    let client = daemon.client();
    let token_key = new_key(&client).await;
    let token_material = current_material(&client, &token_key).await;
    let sealed_by_token_key = encrypt(&client, &token_key, b"made in token_object mode").await;

    // The deployment switches to wrapped custody.
    use_wrapped_custody(daemon.dir());
    daemon.restart();
    let client = daemon.client();
    let wrapped_key = new_key(&client).await;
    let wrapped_material = current_material(&client, &wrapped_key).await;
    let sealed_by_wrapped_key = encrypt(&client, &wrapped_key, b"made in wrapped mode").await;
    assert_decrypts(&client, &sealed_by_token_key, b"made in token_object mode").await;
    let data_key = (client.generate_data_key().key_id(&wrapped_key))
        .number_of_bytes(32)
        .send()
        .await
        .expect("data key");
    let data_key_blob = data_key.ciphertext_blob().expect("blob").as_ref().to_vec();
    let reencrypted = (client
        .re_encrypt()
        .ciphertext_blob(Blob::new(sealed_by_token_key.clone())))
    .source_encryption_context("purpose", "custody")
    .destination_key_id(&wrapped_key)
    .destination_encryption_context("purpose", "custody")
    .send()
    .await
    .expect("re-encrypt from a token-object key to a wrapped key");
    let reencrypted = reencrypted
        .ciphertext_blob()
        .expect("blob")
        .as_ref()
        .to_vec();

    // A crash and a restart: both keys still decrypt what they made.
    daemon.restart();
    let client = daemon.client();
    assert_decrypts(&client, &sealed_by_wrapped_key, b"made in wrapped mode").await;
    assert_decrypts(&client, &reencrypted, b"made in token_object mode").await;
    let plain = (client.decrypt().ciphertext_blob(Blob::new(data_key_blob)))
        .send()
        .await
        .expect("decrypt data key");
    assert_eq!(
        plain.plaintext().expect("plaintext").as_ref(),
        data_key.plaintext().expect("plaintext").as_ref()
    );

    // A rotation keeps the key's custody: the new material is wrapped too.
    (client.rotate_key_on_demand().key_id(&wrapped_key))
        .send()
        .await
        .expect("rotate");
    let rotated_material = current_material(&client, &wrapped_key).await;
    let sealed_after_rotation = encrypt(&client, &wrapped_key, b"after rotation").await;

    // Back to token_object custody: the wrapped key keeps working, new keys are token objects.
    daemon.set_env("HSMKMS__HSM__CUSTODY", "token_object");
    daemon.restart();
    let client = daemon.client();
    assert_decrypts(&client, &sealed_by_wrapped_key, b"made in wrapped mode").await;
    assert_decrypts(&client, &sealed_after_rotation, b"after rotation").await;
    let later_key = new_key(&client).await;
    let later_material = current_material(&client, &later_key).await;
    daemon.kill();

    assert_eq!(
        custody_of(&daemon, &token_material),
        ("TOKEN_OBJECT".into(), None)
    );
    assert_eq!(
        custody_of(&daemon, &later_material),
        ("TOKEN_OBJECT".into(), None)
    );
    // AES-256 under RFC 5649: 32 bytes of material and 8 of integrity check.
    for material in [&wrapped_material, &rotated_material] {
        assert_eq!(custody_of(&daemon, material), ("WRAPPED".into(), Some(40)));
    }
}

#[tokio::test]
async fn a_deleted_wrapped_key_leaves_no_blob_and_a_moved_blob_is_refused() {
    let mut daemon = Daemon::start_with_dev_clock();
    use_wrapped_custody(daemon.dir());
    daemon.restart();
    let client = daemon.client();
    let doomed = new_key(&client).await;
    let doomed_material = current_material(&client, &doomed).await;
    let victim = new_key(&client).await;
    let victim_material = current_material(&client, &victim).await;
    let other = new_key(&client).await;
    let other_material = current_material(&client, &other).await;
    let sealed = encrypt(&client, &victim, b"only the victim key opens this").await;
    (client.schedule_key_deletion().key_id(&doomed))
        .pending_window_in_days(7)
        .send()
        .await
        .expect("schedule deletion");
    daemon.advance_clock(8 * 24 * 3600);
    daemon.kill();
    assert_eq!(
        custody_of(&daemon, &doomed_material),
        ("WRAPPED".into(), None)
    );

    // Someone with write access to the sidecar puts another key's blob in the victim's row.
    {
        let db = rusqlite::Connection::open(daemon.db_path()).expect("open sidecar");
        db.execute(
            "UPDATE key_materials SET
                 wrapped_material = (SELECT wrapped_material FROM key_materials WHERE material_id = ?2),
                 wrapped_binding = (SELECT wrapped_binding FROM key_materials WHERE material_id = ?2)
             WHERE material_id = ?1",
            [&victim_material, &other_material],
        )
        .expect("swap blob");
    }
    daemon.start_again();
    let client = daemon.client();
    let refused = (client
        .encrypt()
        .key_id(&victim)
        .plaintext(Blob::new(&b"x"[..])))
    .send()
    .await
    .expect_err("a moved blob must not serve as the victim key's material");
    let refused = format!("{:?}", refused.into_service_error());
    assert!(
        refused.contains("KmsInvalidStateException") && refused.contains("is unavailable"),
        "{refused}"
    );
    let refused = (client.decrypt().ciphertext_blob(Blob::new(sealed)))
        .encryption_context("purpose", "custody")
        .send()
        .await;
    assert!(refused.is_err(), "decrypt with a moved blob must fail");
    assert!(
        daemon.log().contains("not bound to its material id"),
        "the refusal is logged"
    );
    // The key whose blob it really is still works.
    encrypt(&client, &other, b"still fine").await;
}
