//! Process faults: the daemon is killed with SIGKILL at random points while CreateKey,
//! RotateKeyOnDemand, imports and ScheduleKeyDeletion run concurrently, many times over,
//! and restarted each time. Nothing acknowledged is lost, no key half-exists, and every
//! ciphertext made before a kill still decrypts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{AlgorithmSpec, KeyState, WrappingKeySpec};
use aws_sdk_kms::Client;
use common::import::{import, material, wrap};
use common::{describe, try_decrypt, Daemon};

const ROUNDS: usize = 6;

/// What the daemon acknowledged: a key, what it must be in, and a ciphertext under it.
#[derive(Clone, Debug)]
struct Acked {
    key: String,
    state: KeyState,
    blob: Option<(Blob, Vec<u8>)>,
}

type Ledger = Arc<Mutex<Vec<Acked>>>;

async fn encrypt(client: &Client, key: &str, text: &[u8]) -> Option<Blob> {
    let out = client
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(text))
        .send()
        .await
        .ok()?;
    out.ciphertext_blob
}

async fn create(client: &Client) -> Option<String> {
    let out = client.create_key().send().await.ok()?;
    Some(out.key_metadata?.key_id)
}

/// CreateKey, then a ciphertext under it.
async fn creating(client: Client, ledger: Ledger) {
    loop {
        let Some(key) = create(&client).await else {
            return;
        };
        let text = key.as_bytes().to_vec();
        let blob = encrypt(&client, &key, &text).await.map(|b| (b, text));
        let done = blob.is_some();
        ledger.lock().unwrap().push(Acked {
            key,
            state: KeyState::Enabled,
            blob,
        });
        if !done {
            return;
        }
    }
}

/// A ciphertext under a key's first material, then RotateKeyOnDemand.
async fn rotating(client: Client, ledger: Ledger) {
    loop {
        let Some(key) = create(&client).await else {
            return;
        };
        let text = format!("before rotation {key}").into_bytes();
        let Some(blob) = encrypt(&client, &key, &text).await else {
            return;
        };
        ledger.lock().unwrap().push(Acked {
            key: key.clone(),
            state: KeyState::Enabled,
            blob: Some((blob, text)),
        });
        if client
            .rotate_key_on_demand()
            .key_id(&key)
            .send()
            .await
            .is_err()
        {
            return;
        }
    }
}

/// GetParametersForImport and ImportKeyMaterial into an EXTERNAL key.
async fn importing(client: Client, ledger: Ledger) {
    let (alg, spec) = (AlgorithmSpec::RsaesOaepSha1, WrappingKeySpec::Rsa2048);
    loop {
        let Ok(out) = client
            .create_key()
            .origin(aws_sdk_kms::types::OriginType::External)
            .send()
            .await
        else {
            return;
        };
        let key = out.key_metadata.expect("metadata").key_id;
        let Ok(p) = client
            .get_parameters_for_import()
            .key_id(&key)
            .wrapping_algorithm(alg.clone())
            .wrapping_key_spec(spec.clone())
            .send()
            .await
        else {
            return;
        };
        let public = p.public_key.expect("public key").into_inner();
        let token = p.import_token.expect("token");
        if import(&client, &key, &token, wrap(&alg, &public, &material()))
            .await
            .is_err()
        {
            return;
        }
        let text = format!("imported {key}").into_bytes();
        let blob = encrypt(&client, &key, &text).await.map(|b| (b, text));
        ledger.lock().unwrap().push(Acked {
            key,
            state: KeyState::Enabled,
            blob,
        });
    }
}

/// CreateKey, then ScheduleKeyDeletion.
async fn deleting(client: Client, ledger: Ledger) {
    loop {
        let Some(key) = create(&client).await else {
            return;
        };
        let scheduled = client
            .schedule_key_deletion()
            .key_id(&key)
            .pending_window_in_days(7)
            .send()
            .await;
        if scheduled.is_err() {
            return;
        }
        ledger.lock().unwrap().push(Acked {
            key,
            state: KeyState::PendingDeletion,
            blob: None,
        });
    }
}

/// Every acknowledged key is in its acknowledged state (a rotated key may have rotated
/// further), its ciphertext decrypts, and no key is Unavailable or unusable.
async fn check(client: &Client, ledger: &[Acked]) {
    for acked in ledger {
        let meta = describe(client, &acked.key).await;
        assert_eq!(meta.key_state(), Some(&acked.state), "{acked:?}");
        if let Some((blob, text)) = &acked.blob {
            let out = try_decrypt(client, blob.clone())
                .await
                .unwrap_or_else(|e| panic!("{acked:?}: {e:?}"));
            assert_eq!(out.plaintext().map(|p| p.as_ref()), Some(text.as_slice()));
        }
    }
    let keys = client
        .list_keys()
        .limit(1000)
        .send()
        .await
        .expect("list keys");
    for key in keys.keys() {
        let id = key.key_id().expect("id");
        let state = describe(client, id).await.key_state().cloned();
        assert!(
            matches!(
                state,
                Some(KeyState::Enabled | KeyState::PendingImport | KeyState::PendingDeletion)
            ),
            "key {id} is {state:?} after a crash"
        );
        if state == Some(KeyState::Enabled) {
            assert!(
                encrypt(client, id, b"usable").await.is_some(),
                "key {id} cannot encrypt"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_across_kills() {
    let mut daemon = Daemon::start();
    let ledger: Ledger = Arc::default();
    for _ in 0..ROUNDS {
        let client = daemon.client();
        let workers = [
            tokio::spawn(creating(client.clone(), ledger.clone())),
            tokio::spawn(rotating(client.clone(), ledger.clone())),
            tokio::spawn(importing(client.clone(), ledger.clone())),
            tokio::spawn(deleting(client.clone(), ledger.clone())),
        ];
        // A kill point between 20 and 400 ms into the round.
        let delay = 20 + (uuid::Uuid::new_v4().as_u128() % 380) as u64;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        daemon.kill();
        for worker in workers {
            worker.await.expect("worker");
        }
        daemon.start_again();
        let acked = ledger.lock().unwrap().clone();
        check(&daemon.client(), &acked).await;
    }
    assert!(
        ledger.lock().unwrap().len() >= ROUNDS,
        "the rounds did some work"
    );
}
