//! Every operation of the foundation through the official AWS SDK for Rust, against a real
//! SoftHSM2 token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeyState, KeyUsageType, OriginType};
use common::{describe, encrypt, new_key, tag, Daemon, ACCOUNT};

#[tokio::test]
async fn create_and_describe_key_report_full_metadata() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let created = client
        .create_key()
        .description("orders")
        .tags(tag("team", "payments"))
        .send()
        .await
        .expect("create key");
    let meta = created.key_metadata().expect("metadata");
    let id = meta.key_id();
    assert_eq!(meta.arn(), Some(daemon.key_arn(id).as_str()));
    assert_eq!(meta.aws_account_id(), Some(ACCOUNT));
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
    assert_eq!(meta.key_usage(), Some(&KeyUsageType::EncryptDecrypt));
    assert_eq!(meta.origin(), Some(&OriginType::AwsKms));
    assert_eq!(meta.description(), Some("orders"));
    assert!(meta.enabled());
    assert!(meta.creation_date().is_some());

    for name in [id.to_owned(), daemon.key_arn(id)] {
        let d = describe(&client, &name).await;
        assert_eq!(d.key_id(), id);
        assert_eq!(d.key_spec().map(|s| s.as_str()), Some("SYMMETRIC_DEFAULT"));
        assert_eq!(d.key_manager().map(|m| m.as_str()), Some("CUSTOMER"));
        assert_eq!(d.multi_region(), Some(false));
        assert_eq!(d.encryption_algorithms().len(), 1);
        assert_eq!(d.creation_date(), meta.creation_date());
        assert!(d.current_key_material_id().is_some());
    }
}

#[tokio::test]
async fn encrypt_then_decrypt_round_trips_with_context() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let id = new_key(&client).await;
    for size in [1usize, 32, 4096] {
        let plaintext: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let encrypted = client
            .encrypt()
            .key_id(&id)
            .plaintext(Blob::new(plaintext.clone()))
            .encryption_context("purpose", "test")
            .encryption_context("tenant", "42")
            .send()
            .await
            .expect("encrypt");
        assert_eq!(encrypted.key_id(), Some(daemon.key_arn(&id).as_str()));
        assert_eq!(
            encrypted.encryption_algorithm().map(|a| a.as_str()),
            Some("SYMMETRIC_DEFAULT")
        );
        let blob = encrypted.ciphertext_blob().expect("blob").clone();
        // KeyId is optional for symmetric ciphertext; the context order does not matter.
        let decrypted = client
            .decrypt()
            .ciphertext_blob(blob.clone())
            .encryption_context("tenant", "42")
            .encryption_context("purpose", "test")
            .send()
            .await
            .expect("decrypt");
        assert_eq!(
            decrypted.plaintext().map(|p| p.as_ref()),
            Some(plaintext.as_slice())
        );
        assert_eq!(decrypted.key_id(), Some(daemon.key_arn(&id).as_str()));
        assert!(decrypted.key_material_id().is_some());
        let with_key = client
            .decrypt()
            .key_id(daemon.key_arn(&id))
            .ciphertext_blob(blob)
            .encryption_context("purpose", "test")
            .encryption_context("tenant", "42")
            .send()
            .await
            .expect("decrypt with key id");
        assert_eq!(
            with_key.plaintext().map(|p| p.as_ref()),
            Some(plaintext.as_slice())
        );
    }
}

#[tokio::test]
async fn two_encryptions_of_the_same_plaintext_differ() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let id = new_key(&client).await;
    let mut blobs = Vec::new();
    for _ in 0..2 {
        blobs.push(encrypt(&client, &id, "same").await);
    }
    assert_ne!(blobs[0], blobs[1], "each encryption draws a fresh IV");
}

#[tokio::test]
async fn re_encrypt_moves_ciphertext_to_another_key_and_context() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let (a, b) = (new_key(&client).await, new_key(&client).await);
    let blob = client
        .encrypt()
        .key_id(&a)
        .plaintext(Blob::new("move me"))
        .encryption_context("stage", "one")
        .send()
        .await
        .expect("encrypt")
        .ciphertext_blob
        .expect("blob");
    let moved = client
        .re_encrypt()
        .ciphertext_blob(blob)
        .source_encryption_context("stage", "one")
        .destination_key_id(&b)
        .destination_encryption_context("stage", "two")
        .send()
        .await
        .expect("re-encrypt");
    assert_eq!(moved.source_key_id(), Some(daemon.key_arn(&a).as_str()));
    assert_eq!(moved.key_id(), Some(daemon.key_arn(&b).as_str()));
    assert!(moved.source_key_material_id().is_some());
    assert!(moved.destination_key_material_id().is_some());
    let decrypted = client
        .decrypt()
        .key_id(&b)
        .ciphertext_blob(moved.ciphertext_blob.expect("blob"))
        .encryption_context("stage", "two")
        .send()
        .await
        .expect("decrypt under the new key");
    assert_eq!(
        decrypted.plaintext().map(|p| p.as_ref()),
        Some(&b"move me"[..])
    );
}

#[tokio::test]
async fn generate_data_key_returns_a_key_that_decrypts_back() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let id = new_key(&client).await;
    for (spec, len) in [
        (Some(DataKeySpec::Aes256), 32),
        (Some(DataKeySpec::Aes128), 16),
        (None, 7),
    ] {
        let request = client
            .generate_data_key()
            .key_id(&id)
            .encryption_context("k", "v");
        let request = match spec {
            Some(spec) => request.key_spec(spec),
            None => request.number_of_bytes(len as i32),
        };
        let out = request.send().await.expect("generate data key");
        let plaintext = out.plaintext().expect("plaintext").as_ref().to_vec();
        assert_eq!(plaintext.len(), len);
        assert_eq!(out.key_id(), Some(daemon.key_arn(&id).as_str()));
        assert!(out.key_material_id().is_some());
        let decrypted = client
            .decrypt()
            .ciphertext_blob(out.ciphertext_blob.expect("blob"))
            .encryption_context("k", "v")
            .send()
            .await
            .expect("decrypt data key");
        assert_eq!(
            decrypted.plaintext().map(|p| p.as_ref().to_vec()),
            Some(plaintext)
        );
    }
    let without = client
        .generate_data_key_without_plaintext()
        .key_id(&id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .expect("without plaintext");
    let decrypted = client
        .decrypt()
        .ciphertext_blob(without.ciphertext_blob.expect("blob"))
        .send()
        .await
        .expect("decrypt");
    assert_eq!(decrypted.plaintext().map(|p| p.as_ref().len()), Some(32));
}

#[tokio::test]
async fn generate_random_returns_the_requested_length() {
    let daemon = Daemon::start();
    let client = daemon.client();
    for n in [1, 32, 1024] {
        let out = client
            .generate_random()
            .number_of_bytes(n)
            .send()
            .await
            .expect("random");
        assert_eq!(out.plaintext().map(|p| p.as_ref().len()), Some(n as usize));
    }
    let a = client
        .generate_random()
        .number_of_bytes(32)
        .send()
        .await
        .expect("random");
    let b = client
        .generate_random()
        .number_of_bytes(32)
        .send()
        .await
        .expect("random");
    assert_ne!(a.plaintext(), b.plaintext());
}

#[tokio::test]
async fn list_keys_pages_through_every_key_once() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(new_key(&client).await);
    }
    created.sort();
    let mut seen = Vec::new();
    let mut marker = None;
    loop {
        let page = client
            .list_keys()
            .limit(2)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("list keys");
        for entry in page.keys() {
            let id = entry.key_id().expect("key id").to_owned();
            assert_eq!(entry.key_arn(), Some(daemon.key_arn(&id).as_str()));
            seen.push(id);
        }
        assert_eq!(page.truncated(), page.next_marker().is_some());
        match page.next_marker() {
            Some(next) => marker = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, created);
    let all = client.list_keys().send().await.expect("list keys");
    assert_eq!(all.keys().len(), 5);
    assert!(!all.truncated());
}

#[tokio::test]
async fn aws_cli_round_trip_when_installed() {
    let Ok(version) = std::process::Command::new("aws").arg("--version").output() else {
        eprintln!("aws CLI not installed; the SDK tests cover the same operations");
        return;
    };
    assert!(version.status.success());
    let daemon = Daemon::start();
    let aws = |args: &[&str]| {
        let out = std::process::Command::new("aws")
            .args(args)
            .args(["--endpoint-url", &daemon.endpoint, "--output", "text"])
            .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
            .env(
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            )
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .output()
            .expect("run aws");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .trim()
            .to_owned()
    };
    let key = aws(&["kms", "create-key", "--query", "KeyMetadata.KeyId"]);
    let plain = daemon.dir().join("plain.txt");
    std::fs::write(&plain, "hello from the CLI").expect("write");
    let blob_b64 = aws(&[
        "kms",
        "encrypt",
        "--key-id",
        &key,
        "--plaintext",
        &format!("fileb://{}", plain.display()),
        "--query",
        "CiphertextBlob",
    ]);
    let blob = daemon.dir().join("blob.bin");
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob_b64)
        .expect("base64");
    std::fs::write(&blob, bytes).expect("write");
    let plain_b64 = aws(&[
        "kms",
        "decrypt",
        "--ciphertext-blob",
        &format!("fileb://{}", blob.display()),
        "--query",
        "Plaintext",
    ]);
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(plain_b64)
        .expect("base64");
    assert_eq!(decoded, b"hello from the CLI");
}
