//! `make bench`: the release daemon on its own SoftHSM2 token, a load generator in this
//! process on the same machine, and the same operations straight through cryptoki, so every
//! report prints daemon and raw figures from one run.
//!
//! The load generator signs every request with SigV4 as the SDKs do, keeps its connections
//! alive, and checks every answer: a Decrypt must return the right plaintext, and a non-2xx
//! answer is counted as an error by type, never as throughput. For each operation and
//! concurrency it reports ops/s, p50/p90/p99/max, errors, and the daemon's CPU time per
//! operation (from /proc) and its RSS.
//!
//! Environment: BENCH_SECONDS (per phase, default 3), BENCH_CONCURRENCY (comma-separated,
//! default 1,8,64,256), BENCH_OPS (comma-separated operation names, default all),
//! BENCH_KEYS (when set, also measures Encrypt p50 and idle RSS with that many keys),
//! HSMKMS__HSM__SESSION_POOL_SIZE (the daemon's token sessions, default 2 here),
//! HSMKMS_TEST_CUSTODY=wrapped (the daemon makes keys in wrapped custody; with BENCH_KEYS
//! the run also reports the first use of a key after a restart, an unwrap, against later
//! ones).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark fails loudly

mod client;
#[path = "../../tests/common/mod.rs"]
mod common;
mod ops;
mod raw;
mod report;

use std::time::{Duration, Instant};

use client::SignedClient;
use ops::Op;
use report::{Measured, ProcessStats};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Runs `concurrency` connections, each making `op` calls back to back for `seconds`.
async fn phase(endpoint: &str, op: &Op, concurrency: usize, seconds: u64, pid: u32) -> Measured {
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        clients.push(SignedClient::connect(endpoint).await);
    }
    let before = ProcessStats::read(pid);
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut measured = Measured::default();
                while Instant::now() < until {
                    let t = Instant::now();
                    let answer = client.call(op.target, &op.body).await;
                    measured.record(t.elapsed(), op.check(answer));
                }
                measured
            })
        })
        .collect();
    let mut all = Measured::default();
    for task in tasks {
        all.merge(task.await.expect("worker"));
    }
    all.elapsed = started.elapsed();
    all.cpu = ProcessStats::read(pid).cpu_since(&before);
    all.rss_kib = ProcessStats::read(pid).rss_kib;
    all
}

fn main() {
    if std::env::var_os("HSMKMS__HSM__SESSION_POOL_SIZE").is_none() {
        std::env::set_var("HSMKMS__HSM__SESSION_POOL_SIZE", "2");
    }
    let seconds = env_number("BENCH_SECONDS", 3);
    let levels: Vec<usize> = env_list("BENCH_CONCURRENCY", "1,8,64,256")
        .iter()
        .filter_map(|c| c.parse().ok())
        .collect();
    let wanted = env_list("BENCH_OPS", "");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut daemon = common::Daemon::start();
        report::machine(&daemon);
        let ops = ops::prepare(&daemon.client()).await;
        let ops: Vec<Op> = ops
            .into_iter()
            .filter(|op| wanted.is_empty() || wanted.iter().any(|w| w == op.name))
            .collect();
        println!("{}", report::HEADER);
        let endpoint = daemon.endpoint.clone();
        phase(&endpoint, &ops[0], 8, 1, daemon.pid()).await; // warm-up
        let mut encrypt_64 = None;
        for op in &ops {
            for &concurrency in &levels {
                let m = phase(&endpoint, op, concurrency, seconds, daemon.pid()).await;
                if op.name == "Encrypt32" && concurrency == 64 {
                    encrypt_64 = Some(m.ops_per_second());
                }
                println!("{}", report::line("daemon", op.name, concurrency, &m));
            }
        }
        raw::run(&daemon, seconds);
        if let Some(count) = std::env::var("BENCH_KEYS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            let keys = key_count(&daemon, &ops, count, seconds).await;
            first_use(&mut daemon, &keys).await;
        }
        if let (Some(with_audit), Some(op)) =
            (encrypt_64, ops.iter().find(|op| op.name == "Encrypt32"))
        {
            daemon.set_env("HSMKMS__AUDIT__ENABLED", "false");
            daemon.restart();
            let m = phase(&daemon.endpoint, op, 64, seconds, daemon.pid()).await;
            println!("{}", report::line("no audit", op.name, 64, &m));
            println!(
                "audit on / audit off, Encrypt 32 B at concurrency 64: {:.0}%",
                100.0 * with_audit / m.ops_per_second()
            );
        }
    });
}

/// Encrypt p50 with `count` keys in the service (against the run above with a handful), and
/// the daemon's RSS when idle with them.
async fn key_count(daemon: &common::Daemon, ops: &[Op], count: usize, seconds: u64) -> Vec<String> {
    let Some(op) = ops.iter().find(|op| op.name == "Encrypt32") else {
        return Vec::new();
    };
    let client = daemon.client();
    let started = Instant::now();
    let mut keys = Vec::with_capacity(count);
    while keys.len() < count {
        let made = client.create_key().send().await.expect("create key");
        keys.push(made.key_metadata().expect("metadata").key_id().to_owned());
    }
    println!(
        "CreateKey x{count} one at a time: {:.0} keys/s",
        count as f64 / started.elapsed().as_secs_f64()
    );
    let idle = ProcessStats::read(daemon.pid());
    println!("idle RSS with {count} more keys: {} KiB", idle.rss_kib);
    for concurrency in [1, 64] {
        let m = phase(&daemon.endpoint, op, concurrency, seconds, daemon.pid()).await;
        println!(
            "{}",
            report::line(&format!("{count} keys"), op.name, concurrency, &m)
        );
    }
    keys
}

/// Mean Encrypt latency over up to 1,000 `keys`, one at a time, on their first use after a
/// restart (wrapped custody: an unwrap each) and on their second.
async fn first_use(daemon: &mut common::Daemon, keys: &[String]) {
    let keys = &keys[..keys.len().min(1000)];
    if keys.is_empty() {
        return;
    }
    daemon.restart();
    let mut client = SignedClient::connect(&daemon.endpoint).await;
    for round in ["first use", "second use"] {
        let started = Instant::now();
        for key in keys {
            let body = serde_json::json!({ "KeyId": key, "Plaintext": "AAAAAAAAAAAAAAAAAAAAAA==" });
            let answer = client.call("TrentService.Encrypt", &body.to_string()).await;
            assert_eq!(answer.status, 200, "encrypt");
        }
        let mean = started.elapsed().as_secs_f64() * 1e3 / keys.len() as f64;
        println!(
            "Encrypt 16 B, {round} of {} keys after a restart: {mean:.3} ms each",
            keys.len()
        );
    }
}
