//! Past saturation the daemon sheds: with every token session busy and the wait queue full,
//! a request is answered ThrottlingException at once instead of queueing. Run with one
//! session and no waiting room, while an RSA-4096 wrapping key holds that session.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::types::{AlgorithmSpec, WrappingKeySpec};
use common::{encrypt, error_code, error_message, external_key, new_key, try_encrypt, Daemon};

#[tokio::test]
async fn a_full_queue_sheds_with_throttling() {
    let daemon = Daemon::start_with_env(&[
        ("HSMKMS__HSM__SESSION_POOL_SIZE", "1"),
        ("HSMKMS__HSM__MAX_WAITERS", "0"),
    ]);
    let client = daemon.client();
    let key = new_key(&client).await;
    let imported = external_key(&client).await;
    let generation = {
        let client = client.clone();
        // Retried while an Encrypt holds the session at the moment it asks for one.
        tokio::spawn(async move {
            loop {
                let answer = client
                    .get_parameters_for_import()
                    .key_id(&imported)
                    .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
                    .wrapping_key_spec(WrappingKeySpec::Rsa4096)
                    .send()
                    .await;
                match answer {
                    Err(e) if error_code(&e) == "ThrottlingException" => continue,
                    other => return other,
                }
            }
        })
    };
    let mut throttled = None;
    while !generation.is_finished() && throttled.is_none() {
        if let Err(e) = try_encrypt(&client, &key, "while the session is busy").await {
            throttled = Some(e);
        }
    }
    let throttled = throttled.expect("an Encrypt while the only session generates a key pair");
    assert_eq!(error_code(&throttled), "ThrottlingException");
    assert_eq!(error_message(&throttled), "Rate exceeded");
    generation
        .await
        .expect("task")
        .expect("GetParametersForImport");
    encrypt(&client, &key, "served again once the session is free").await;
}
