//! The token goes away under load and comes back. The daemon runs on a PKCS#11 shim built
//! here (tests/fixtures/pkcs11-fault-shim) in front of SoftHSM2: while its control file
//! exists the token answers CKR_TOKEN_NOT_PRESENT and CKR_DEVICE_REMOVED, and the first
//! call to see that closes every real session, as a removal does. Key operations must fail
//! fast with a retryable error, readiness must drop, and service must resume by itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::Client;
use common::{
    decrypt, encrypt, error_code, error_message, get, new_key, sample, try_decrypt, try_encrypt,
    Daemon,
};

const SHIM_SOURCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/pkcs11-fault-shim/shim.c"
);
/// Far above how long a refused call may take: a call that waited for a session instead
/// of failing at once would show.
const ACQUIRE_TIMEOUT_MS: &str = "60000";
/// How long a call refused while the token is gone may take, on a loaded machine.
const FAST: Duration = Duration::from_secs(3);
/// How long anything awaited here may take before the test gives up.
const BOUND: Duration = Duration::from_secs(30);

/// Compiles the shim into `dir`.
fn build_shim(dir: &Path) -> PathBuf {
    let library = dir.join("libpkcs11-fault-shim.so");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&library)
        .arg(SHIM_SOURCE)
        .args(["-ldl", "-lpthread"])
        .status()
        .expect("cc (install a C compiler: build-essential)");
    assert!(status.success(), "cannot build the PKCS#11 shim");
    library
}

/// Waits until `check` holds, polling, for at most `BOUND`.
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + BOUND;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {BOUND:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A refused call as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    status: u16,
    code: String,
    message: String,
}

fn refusal<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> Refusal {
    Refusal {
        status: error.raw_response().map_or(0, |r| r.status().as_u16()),
        code: error_code(error),
        message: error_message(error),
    }
}

/// The refusal every key operation gets while the token is gone: HTTP 500 (a fault, which
/// SDKs retry) and DependencyTimeoutException.
fn gone() -> Refusal {
    Refusal {
        status: 500,
        code: "DependencyTimeoutException".into(),
        message: "The token is unavailable; retry.".into(),
    }
}

/// Every answer the load saw: when each call was sent, and how failed ones failed and how
/// long they took.
#[derive(Default)]
struct Tally {
    ok: Vec<Instant>,
    refused: Vec<(Instant, Refusal, Duration)>,
}

/// Encrypt, then Decrypt of the result, in a loop until `stop`, each answer recorded.
async fn load(client: Client, key: String, tally: Arc<Mutex<Tally>>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let sent = Instant::now();
        let answer = match try_encrypt(&client, &key, "under load").await {
            Ok(out) => {
                let blob = out.ciphertext_blob.expect("CiphertextBlob");
                try_decrypt(&client, blob)
                    .await
                    .map(|_| ())
                    .map_err(|e| refusal(&e))
            }
            Err(e) => Err(refusal(&e)),
        };
        let mut tally = tally.lock().unwrap();
        match answer {
            Ok(()) => tally.ok.push(Instant::now()),
            Err(refused) => tally.refused.push((sent, refused, sent.elapsed())),
        }
    }
}

/// `/readyz` on `daemon`: its status and body.
fn readiness(daemon: &Daemon) -> (u16, String) {
    let (status, _, body) = get(api(daemon), "/readyz");
    (status, body)
}

fn metrics(daemon: &Daemon) -> String {
    get(api(daemon), "/metrics").2
}

fn api(daemon: &Daemon) -> &str {
    daemon.endpoint.trim_start_matches("http://")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_operations_fail_fast_while_the_token_is_gone_and_resume_when_it_returns() {
    let shim_dir = tempfile::tempdir().expect("tempdir");
    let shim = build_shim(shim_dir.path());
    let control = shim_dir.path().join("token-gone");
    let daemon = Daemon::start_with_env(&[
        ("HSMKMS__HSM__MODULE", shim.to_str().unwrap()),
        ("PKCS11_FAULT_SHIM_CONTROL", control.to_str().unwrap()),
        ("HSMKMS__HSM__RECOVERY_INTERVAL_MS", "50"),
        ("HSMKMS__HSM__ACQUIRE_TIMEOUT_MS", ACQUIRE_TIMEOUT_MS),
    ]);
    let client = daemon.client();
    let key = new_key(&client).await;
    let mut before = Vec::new();
    for i in 0..5 {
        before.push((i, encrypt(&client, &key, format!("before {i}")).await));
    }

    // Four callers on two sessions: some always wait for a session.
    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let loaders: Vec<_> = (0..4)
        .map(|_| {
            let (client, key) = (daemon.client(), key.clone());
            tokio::spawn(load(client, key, tally.clone(), stop.clone()))
        })
        .collect();
    let served = |since: Instant| {
        let tally = tally.clone();
        move || {
            let n = tally
                .lock()
                .unwrap()
                .ok
                .iter()
                .filter(|t| **t > since)
                .count();
            std::future::ready(n >= 20)
        }
    };
    until("the load is served", served(Instant::now())).await;

    // The token goes away.
    std::fs::write(&control, b"").expect("control file");
    let lost = Instant::now();
    until("readiness drops", || {
        std::future::ready(readiness(&daemon).0 == 503)
    })
    .await;
    let (_, body) = readiness(&daemon);
    assert!(body.contains(r#""token":"failing""#), "{body}");
    assert_eq!(sample(&metrics(&daemon), "hsmkms_token_available"), 0.0);
    for (_, blob) in &before {
        let started = Instant::now();
        let refused = try_decrypt(&client, blob.clone()).await.unwrap_err();
        assert_eq!(refusal(&refused), gone());
        assert!(
            started.elapsed() < FAST,
            "a Decrypt took {:?}",
            started.elapsed()
        );
        let started = Instant::now();
        let refused = try_encrypt(&client, &key, "while gone").await.unwrap_err();
        assert_eq!(refusal(&refused), gone());
        assert!(
            started.elapsed() < FAST,
            "an Encrypt took {:?}",
            started.elapsed()
        );
    }
    let refused_while_gone = |tally: &Tally| tally.refused.iter().filter(|r| r.0 > lost).count();
    until("the load is refused", || {
        std::future::ready(refused_while_gone(&tally.lock().unwrap()) >= 20)
    })
    .await;

    // It comes back: nothing is restarted.
    std::fs::remove_file(&control).expect("remove control file");
    let back = Instant::now();
    until("the load is served again", served(back)).await;
    until("readiness returns", || {
        std::future::ready(readiness(&daemon).0 == 200)
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for loader in loaders {
        loader.await.expect("load task");
    }
    let m = metrics(&daemon);
    assert_eq!(sample(&m, "hsmkms_token_available"), 1.0);
    assert_eq!(sample(&m, "hsmkms_token_recoveries_total"), 1.0);
    assert!(
        sample(
            &m,
            r#"hsmkms_requests_total{operation="Encrypt",outcome="DependencyTimeoutException"}"#
        ) >= 5.0
    );
    for (i, blob) in before {
        assert_eq!(
            decrypt(&client, blob).await,
            format!("before {i}").as_bytes()
        );
    }
    encrypt(&client, &key, "after").await;

    // Every refusal the load saw was the retryable one, and none waited for a session.
    let tally = tally.lock().unwrap();
    assert!(
        tally.refused.iter().all(|r| r.0 > lost - FAST),
        "refusals before the token went away"
    );
    for (_, refused, took) in &tally.refused {
        assert_eq!(refused, &gone());
        assert!(*took < FAST, "a refused call took {took:?}");
    }
}
