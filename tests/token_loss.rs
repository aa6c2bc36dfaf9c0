//! The token goes away under load and comes back, or is reset under load. The daemon runs
//! on a PKCS#11 shim built here (tests/fixtures/pkcs11-fault-shim) in front of SoftHSM2:
//! while its control file exists the token answers CKR_TOKEN_NOT_PRESENT and
//! CKR_DEVICE_REMOVED, and the first call to see the file closes every real session, as a
//! removal or a reset does. While it is gone, key operations must fail fast with a
//! retryable error and readiness must drop, and service must resume by itself; a reset must
//! not reach clients at all.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
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

/// A daemon on the shim, with the settings overrides `env`; the shim's directory and the
/// path of its control file.
fn start_on_shim(env: &[(&str, &str)]) -> (Daemon, tempfile::TempDir, PathBuf) {
    let shim_dir = tempfile::tempdir().expect("tempdir");
    let shim = build_shim(shim_dir.path());
    let control = shim_dir.path().join("control");
    let mut all = vec![
        ("HSMKMS__HSM__MODULE", shim.to_str().unwrap()),
        ("PKCS11_FAULT_SHIM_CONTROL", control.to_str().unwrap()),
    ];
    all.extend_from_slice(env);
    (Daemon::start_with_env(&all), shim_dir, control)
}

/// Puts `content` at `control` in one step (the shim reads a half-written file as gone).
fn set_control(control: &Path, content: &str) {
    let staged = control.with_extension("staged");
    std::fs::write(&staged, content).expect("write control file");
    std::fs::rename(&staged, control).expect("rename control file");
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

/// Callers that Encrypt and Decrypt until stopped: four on the fixture's two sessions, so
/// some always wait for one.
struct Load {
    tally: Arc<Mutex<Tally>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(daemon: &Daemon, key: &str) -> Load {
        let tally = Arc::new(Mutex::new(Tally::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..4)
            .map(|_| {
                let (client, key) = (daemon.client(), key.to_owned());
                tokio::spawn(load(client, key, tally.clone(), stop.clone()))
            })
            .collect();
        Load { tally, stop, tasks }
    }

    /// A check that twenty calls sent after `since` were served.
    fn served_since(&self, since: Instant) -> impl FnMut() -> std::future::Ready<bool> {
        let tally = self.tally.clone();
        move || {
            let served = tally
                .lock()
                .unwrap()
                .ok
                .iter()
                .filter(|t| **t > since)
                .count();
            std::future::ready(served >= 20)
        }
    }

    /// Stops the callers; what they saw.
    async fn stop(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("load task");
        }
        std::mem::take(&mut *self.tally.lock().unwrap())
    }
}

/// A new key and five ciphertexts made under it, with their plaintexts' numbers.
async fn key_and_ciphertexts(client: &Client) -> (String, Vec<(usize, Blob)>) {
    let key = new_key(client).await;
    let mut made = Vec::new();
    for i in 0..5 {
        made.push((i, encrypt(client, &key, format!("before {i}")).await));
    }
    (key, made)
}

/// Checkpoint records in the daemon's audit files.
fn checkpoints(daemon: &Daemon) -> usize {
    let mut count = 0;
    for file in std::fs::read_dir(daemon.audit_dir())
        .expect("audit dir")
        .flatten()
    {
        let text = std::fs::read_to_string(file.path()).unwrap_or_default();
        count += text.matches(r#""type":"checkpoint""#).count();
    }
    count
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
    let (daemon, _shim, control) = start_on_shim(&[
        ("HSMKMS__HSM__RECOVERY_INTERVAL_MS", "50"),
        ("HSMKMS__HSM__ACQUIRE_TIMEOUT_MS", ACQUIRE_TIMEOUT_MS),
    ]);
    let client = daemon.client();
    let (key, before) = key_and_ciphertexts(&client).await;
    let load = Load::start(&daemon, &key);
    until("the load is served", load.served_since(Instant::now())).await;

    // The token goes away.
    set_control(&control, "gone");
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
        std::future::ready(refused_while_gone(&load.tally.lock().unwrap()) >= 20)
    })
    .await;

    // It comes back: nothing is restarted.
    std::fs::remove_file(&control).expect("remove control file");
    let back = Instant::now();
    until("the load is served again", load.served_since(back)).await;
    until("readiness returns", || {
        std::future::ready(readiness(&daemon).0 == 200)
    })
    .await;
    let tally = load.stop().await;
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
    assert!(
        tally.refused.iter().all(|r| r.0 > lost - FAST),
        "refusals before the token went away"
    );
    for (_, refused, took) in &tally.refused {
        assert_eq!(refused, &gone());
        assert!(*took < FAST, "a refused call took {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_reset_under_load_is_not_seen_by_clients() {
    let (daemon, _shim, control) = start_on_shim(&[("HSMKMS__AUDIT__CHECKPOINT_SECONDS", "1")]);
    let client = daemon.client();
    let (key, before) = key_and_ciphertexts(&client).await;
    let load = Load::start(&daemon, &key);
    until("the load is served", load.served_since(Instant::now())).await;

    // Every session closes and the login with them; each call that meets a closed session
    // or the lost login gets a new one and runs again.
    let signed = checkpoints(&daemon);
    set_control(&control, "reset");
    until(
        "the load is served after the reset",
        load.served_since(Instant::now()),
    )
    .await;
    std::fs::remove_file(&control).expect("remove control file");
    until("a checkpoint is signed after the reset", || {
        std::future::ready(checkpoints(&daemon) > signed)
    })
    .await;
    let tally = load.stop().await;
    let refused: Vec<_> = tally.refused.iter().map(|r| &r.1).collect();
    assert!(refused.is_empty(), "calls refused: {refused:?}");
    let log = daemon.log();
    assert!(log.contains("token session lost; opening another"), "{log}");
    assert!(log.contains("token login lost; logging in again"), "{log}");
    assert!(!log.contains("cannot write an audit checkpoint"), "{log}");
    assert_eq!(readiness(&daemon).0, 200);
    let m = metrics(&daemon);
    assert_eq!(sample(&m, "hsmkms_token_available"), 1.0);
    assert_eq!(sample(&m, "hsmkms_token_recoveries_total"), 0.0);
    for (i, blob) in before {
        assert_eq!(
            decrypt(&client, blob).await,
            format!("before {i}").as_bytes()
        );
    }
}
