//! The AES-GCM encryption budget of a material version: counted durably across restarts,
//! refused with KMSInvalidStateException once spent, lifted by rotating the key; old
//! ciphertexts still decrypt. Run with a budget of 5 reserved 2 at a time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::primitives::Blob;
use common::{
    decrypt, encrypt, error_code, error_message, new_key, rotate_now, try_encrypt, Daemon,
};

#[tokio::test]
async fn a_spent_budget_refuses_encryption_until_rotation() {
    let mut daemon = Daemon::start_with_env(&[
        ("HSMKMS__HSM__GCM_ENCRYPTION_LIMIT", "5"),
        ("HSMKMS__HSM__GCM_RESERVATION_BLOCK", "2"),
    ]);
    let client = daemon.client();
    let key = new_key(&client).await;
    let other = new_key(&client).await;
    let first = encrypt(&client, &key, "one").await;
    encrypt(&client, &key, "two").await;
    client
        .generate_data_key()
        .key_id(&key)
        .number_of_bytes(32)
        .send()
        .await
        .expect("data key");

    // Three used, four reserved: a restart counts the whole reservation as used.
    daemon.restart();
    let client = daemon.client();
    encrypt(&client, &key, "four").await;
    let refused = try_encrypt(&client, &key, "five").await.expect_err("spent");
    assert_eq!(error_code(&refused), "KMSInvalidStateException");
    let message = error_message(&refused);
    assert!(
        message.contains("encryptions AES-GCM allows") && message.contains("RotateKeyOnDemand"),
        "{message}"
    );
    let reencrypt = client
        .re_encrypt()
        .ciphertext_blob(encrypt(&client, &other, "elsewhere").await)
        .destination_key_id(&key)
        .send()
        .await
        .expect_err("ReEncrypt into a spent material");
    assert_eq!(error_code(&reencrypt), "KMSInvalidStateException");
    assert_eq!(
        decrypt(&client, first.clone()).await,
        b"one",
        "old ciphertexts still decrypt"
    );
    encrypt(&client, &other, "another key has its own budget").await;

    rotate_now(&client, &key).await;
    let after = encrypt(&client, &key, "fresh material").await;
    assert_eq!(decrypt(&client, after).await, b"fresh material");
    assert_eq!(
        decrypt(&client, Blob::new(first.into_inner())).await,
        b"one"
    );
}
