//! What was acknowledged survives a crash: keys and ciphertexts made before the daemon is
//! killed still work after it starts again on the same token and database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::primitives::Blob;
use common::{describe, Daemon};

#[tokio::test]
async fn ciphertext_made_before_a_crash_decrypts_after_restart() {
    let mut daemon = Daemon::start();
    let client = daemon.client();
    let mut keys = Vec::new();
    let mut blobs = Vec::new();
    for i in 0..3 {
        let key = client
            .create_key()
            .description(format!("key {i}"))
            .send()
            .await
            .expect("create");
        let id = key.key_metadata().expect("metadata").key_id().to_owned();
        let blob = client
            .encrypt()
            .key_id(&id)
            .plaintext(Blob::new(format!("secret {i}")))
            .encryption_context("n", i.to_string())
            .send()
            .await
            .expect("encrypt")
            .ciphertext_blob
            .expect("blob");
        keys.push(id);
        blobs.push(blob);
    }

    daemon.restart();
    let client = daemon.client();
    for (i, (id, blob)) in keys.iter().zip(blobs).enumerate() {
        assert_eq!(
            describe(&client, id).await.description(),
            Some(format!("key {i}").as_str())
        );
        let decrypted = client
            .decrypt()
            .ciphertext_blob(blob)
            .encryption_context("n", i.to_string())
            .send()
            .await
            .expect("decrypt after restart");
        assert_eq!(
            decrypted.plaintext().map(|p| p.as_ref()),
            Some(format!("secret {i}").as_bytes())
        );
        assert_eq!(decrypted.key_id(), Some(daemon.key_arn(id).as_str()));
    }
    let listed = client.list_keys().send().await.expect("list");
    assert_eq!(listed.keys().len(), 3);
    assert!(
        !daemon.log().contains("rolling it back"),
        "nothing acknowledged was undone"
    );
}

#[tokio::test]
async fn a_second_daemon_on_the_same_database_refuses_to_start() {
    let daemon = Daemon::start();
    daemon.client().create_key().send().await.expect("create");
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_hsmkms"))
        .arg("--config")
        .arg(daemon.dir().join("hsmkms.toml"))
        .env("SOFTHSM2_CONF", daemon.softhsm_conf())
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run a second daemon");
    assert!(
        !second.status.success(),
        "two writers on one sidecar would diverge"
    );
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("sidecar"), "{stderr}");
}
