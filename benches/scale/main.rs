//! `make bench-scale`: start-up time and memory of the release daemon with many keys.
//!
//! For each count in BENCH_KEYS (comma-separated, default 1000000), a fresh SoftHSM2 token
//! and sidecar are made as the tests make them; the sidecar is filled in one transaction
//! with that many synthetic keys as CreateKey records them (Enabled, SYMMETRIC_DEFAULT,
//! ENCRYPT_DECRYPT, AWS_KMS, the default key policy, a short description), each with one
//! ENABLED material version in WRAPPED custody (a dummy 40-byte wrapped blob: such a
//! material has no token object, so start-up makes no token call for it). Then the daemon
//! is started on it and the report gives the time from spawning it to its "listening"
//! banner, and its VmRSS (and peak VmHWM) from /proc once idle. An empty sidecar is
//! measured first, so the report also gives the memory each key adds. Last, a real key is
//! made through the API (with HSMKMS_TEST_CUSTODY=wrapped, in wrapped custody) and the
//! median of 500 Encrypt calls on it, one at a time after one warm-up, is reported.
//!
//! Environment: BENCH_KEYS (counts, default 1000000), BENCH_IDLE_SECONDS (how long the
//! daemon idles before its memory is read, default 3), BENCH_DAEMON (another hsmkms binary
//! to start instead of this build's, to compare builds).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark fails loudly

#[path = "../../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use hsmkms::kms::Identity;
use uuid::Uuid;

/// When the synthetic keys were made (epoch milliseconds), one millisecond apart.
const CREATED_AT: i64 = 1_767_225_600_000;
/// The key-encryption key the dummy wrapped blobs name.
const KEK_ID: &str = "00000000-0000-4000-8000-00000000cafe";

fn main() {
    let counts: Vec<usize> = std::env::var("BENCH_KEYS")
        .unwrap_or_else(|_| "1000000".to_owned())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let idle = Duration::from_secs(
        std::env::var("BENCH_IDLE_SECONDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3),
    );
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model()
    );
    println!(
        "{:>9}  {:>8}  {:>11}  {:>8}  {:>8}  {:>13}  {:>14}",
        "keys", "fill s", "banner s", "RSS MiB", "HWM MiB", "RSS B/key", "Encrypt p50 ms"
    );
    let empty = measure(0, idle);
    println!("{}", empty.line(None));
    for count in counts.into_iter().filter(|&c| c > 0) {
        let measured = measure(count, idle);
        println!("{}", measured.line(Some(&empty)));
    }
}

struct Measured {
    keys: usize,
    fill: Duration,
    banner: Duration,
    rss_kib: u64,
    hwm_kib: u64,
    encrypt_p50: Duration,
}

impl Measured {
    fn line(&self, empty: Option<&Measured>) -> String {
        let per_key = match empty {
            Some(e) if self.keys > 0 => {
                let bytes = (self.rss_kib.saturating_sub(e.rss_kib)) * 1024;
                format!("{:.0}", bytes as f64 / self.keys as f64)
            }
            _ => "-".to_owned(),
        };
        format!(
            "{:>9}  {:>8.2}  {:>11.3}  {:>8.1}  {:>8.1}  {:>13}  {:>14.3}",
            self.keys,
            self.fill.as_secs_f64(),
            self.banner.as_secs_f64(),
            self.rss_kib as f64 / 1024.0,
            self.hwm_kib as f64 / 1024.0,
            per_key,
            self.encrypt_p50.as_secs_f64() * 1e3
        )
    }
}

/// A fresh token and sidecar with `count` keys, and the daemon started on them.
fn measure(count: usize, idle: Duration) -> Measured {
    let dir = tempfile::tempdir().expect("tempdir");
    common::init_token(dir.path());
    let db = dir.path().join("hsmkms.sqlite3");
    let started = Instant::now();
    fill(&db, count);
    let fill = started.elapsed();
    let (mut child, banner, endpoint) = start(dir.path());
    std::thread::sleep(idle);
    let (rss_kib, hwm_kib) = memory(child.id());
    let encrypt_p50 = encrypt_p50(&endpoint);
    let _ = child.kill();
    let _ = child.wait();
    if std::env::var_os("BENCH_SHOW_LOG").is_some() {
        let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default();
        eprintln!("{log}");
    }
    Measured {
        keys: count,
        fill,
        banner,
        rss_kib,
        hwm_kib,
        encrypt_p50,
    }
}

/// The median latency of Encrypt (16 bytes), one request at a time, on a key made now.
fn encrypt_p50(endpoint: &str) -> Duration {
    let host = endpoint.trim_start_matches("http://");
    let call = |target: &str, body: &str| {
        let request = common::signed_request(
            host,
            Some(target),
            body,
            common::DEV_KEY,
            std::time::SystemTime::now(),
            "Connection: close\r\n",
        );
        let (status, answer, _) = common::exchange(host, &request);
        assert_eq!(status, 200, "{target}: {answer}");
        answer
    };
    let made = call("TrentService.CreateKey", "{}");
    let key = made["KeyMetadata"]["KeyId"].as_str().expect("key id");
    let body = serde_json::json!({ "KeyId": key, "Plaintext": "AAAAAAAAAAAAAAAAAAAAAA==" });
    let body = body.to_string();
    call("TrentService.Encrypt", &body);
    let mut times: Vec<Duration> = (0..500)
        .map(|_| {
            let started = Instant::now();
            call("TrentService.Encrypt", &body);
            started.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// Makes the schema as the daemon does, then writes `count` keys in one transaction.
fn fill(db: &Path, count: usize) {
    drop(hsmkms::store::Store::open(db).expect("open the sidecar"));
    let identity = Identity {
        region: common::REGION.to_owned(),
        account: common::ACCOUNT.to_owned(),
    };
    let policy = hsmkms::kms::default_policy(&identity);
    let mut conn = rusqlite::Connection::open(db).expect("open the sidecar");
    // A scratch file: nothing to recover if the fill is interrupted.
    conn.pragma_update(None, "journal_mode", "OFF")
        .expect("pragma");
    conn.pragma_update(None, "synchronous", "OFF")
        .expect("pragma");
    conn.pragma_update(None, "cache_size", -262_144)
        .expect("pragma");
    let tx = conn.transaction().expect("transaction");
    {
        let mut key = tx
            .prepare(
                "INSERT INTO keys (key_id, created_at, description, key_usage, key_spec, origin,
                                   key_state, policy, current_material_id)
                 VALUES (?1, ?2, ?3, 'ENCRYPT_DECRYPT', 'SYMMETRIC_DEFAULT', 'AWS_KMS',
                         'Enabled', ?4, ?5)",
            )
            .expect("prepare");
        let mut material = tx
            .prepare(
                "INSERT INTO key_materials (material_id, key_id, state, custody,
                                            wrapped_material, wrapping_key_id, created_at)
                 VALUES (?1, ?2, 'ENABLED', 'WRAPPED', ?3, ?4, ?5)",
            )
            .expect("prepare");
        let blob = [0x5a_u8; 40];
        for i in 0..count {
            let (key_id, material_id) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
            let created_at = CREATED_AT + i as i64;
            let description = format!("scale key {i}");
            key.execute(rusqlite::params![
                key_id,
                created_at,
                description,
                policy,
                material_id
            ])
            .expect("insert key");
            material
                .execute(rusqlite::params![
                    material_id,
                    key_id,
                    &blob[..],
                    KEK_ID,
                    created_at
                ])
                .expect("insert material");
        }
    }
    tx.commit().expect("commit");
}

/// Spawns the daemon on the token and sidecar in `dir`; the time to its banner, and its
/// endpoint.
#[allow(clippy::zombie_processes)] // the caller kills and waits it; a panic ends the run
fn start(dir: &Path) -> (Child, Duration, String) {
    let log = std::fs::File::create(dir.join("daemon.log")).expect("log file");
    let started = Instant::now();
    let daemon =
        std::env::var_os("BENCH_DAEMON").unwrap_or_else(|| env!("CARGO_BIN_EXE_hsmkms").into());
    let mut child = common::daemon_command(&daemon, dir, log)
        .spawn()
        .expect("spawn hsmkms");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    loop {
        line.clear();
        if stdout.read_line(&mut line).expect("read banner") == 0 {
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();
            panic!("the daemon exited before its banner\n{log}");
        }
        if let Some(endpoint) = line.strip_prefix("hsmkms listening on ") {
            let endpoint = endpoint.trim().to_owned();
            let banner = started.elapsed();
            // Keep reading so the daemon never writes into a closed pipe.
            std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
            return (child, banner, endpoint);
        }
    }
}

/// VmRSS and VmHWM of `pid`, in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned())
}
