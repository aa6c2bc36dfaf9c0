//! Load benchmark through the full HTTP path: the release daemon on its own SoftHSM2 token,
//! and a load generator in this process on the same machine.
//!
//! Two clients are measured: a lean one that SigV4-signs each request with `aws-sigv4` and
//! sends it over keep-alive connections (the targets are measured with it), and the
//! official AWS SDK for Rust, whose client side costs more CPU per call than the daemon.
//!
//! `cargo bench --bench encrypt` (or `make bench`). Optional environment:
//! BENCH_SECONDS (per phase, default 5), BENCH_CONCURRENCY (default 16),
//! HSMKMS__HSM__SESSION_POOL_SIZE (the daemon's token sessions, default 2 here).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

#[path = "../tests/common/mod.rs"]
mod common;

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_kms::primitives::Blob;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One keep-alive connection that signs every request, as an SDK does.
struct RawClient {
    stream: BufReader<TcpStream>,
    host: String,
    body: String,
}

impl RawClient {
    async fn connect(endpoint: &str, key_id: &str) -> RawClient {
        let host = endpoint.trim_start_matches("http://").to_owned();
        let stream = TcpStream::connect(&host).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let body = serde_json::json!({ "KeyId": key_id, "Plaintext": "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=" })
            .to_string();
        RawClient {
            stream: BufReader::new(stream),
            host,
            body,
        }
    }

    /// Signs and sends one Encrypt of 32 bytes and reads the whole response.
    async fn encrypt(&mut self) {
        let target = Some("TrentService.Encrypt");
        let request = common::signed_request(
            &self.host,
            target,
            &self.body,
            common::DEV_KEY,
            SystemTime::now(),
            "",
        );
        self.stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .expect("write");
        self.read_response().await;
    }

    async fn read_response(&mut self) {
        let mut length = 0usize;
        let mut line = String::new();
        self.stream.read_line(&mut line).await.expect("status line");
        assert!(
            line.starts_with("HTTP/1.1 200"),
            "unexpected response: {line}"
        );
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.expect("header");
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().expect("content-length");
            }
        }
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).await.expect("body");
    }
}

/// Runs `concurrency` loops of `call` for `seconds` and prints throughput and latency.
async fn phase<C, F, Fut>(label: &str, concurrency: usize, seconds: u64, make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = C>,
    C: Caller + Send + 'static,
{
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut callers = Vec::new();
    for _ in 0..concurrency {
        callers.push(make().await);
    }
    let started = Instant::now();
    let tasks: Vec<_> = callers
        .into_iter()
        .map(|mut caller| {
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    caller.call().await;
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("worker"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct =
        |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1e3;
    println!(
        "{label:<10} Encrypt 32 B  concurrency {concurrency:>2}: {:>7.0} ops/s  p50 {:.3} ms  p99 {:.3} ms",
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
    );
}

/// Something that makes one Encrypt call.
trait Caller {
    fn call(&mut self) -> impl Future<Output = ()> + Send;
}

impl Caller for RawClient {
    async fn call(&mut self) {
        self.encrypt().await;
    }
}

struct SdkCaller(aws_sdk_kms::Client, String);

impl Caller for SdkCaller {
    async fn call(&mut self) {
        self.0
            .encrypt()
            .key_id(&self.1)
            .plaintext(Blob::new(vec![7u8; 32]))
            .send()
            .await
            .expect("encrypt");
    }
}

fn main() {
    if std::env::var_os("HSMKMS__HSM__SESSION_POOL_SIZE").is_none() {
        std::env::set_var("HSMKMS__HSM__SESSION_POOL_SIZE", "2");
    }
    let seconds = env_number("BENCH_SECONDS", 5);
    let concurrency = env_number("BENCH_CONCURRENCY", 16) as usize;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let daemon = common::Daemon::start();
        let client = daemon.client();
        let key = client.create_key().send().await.expect("create key");
        let key = key.key_metadata().expect("metadata").key_id().to_owned();
        let (endpoint, key) = (daemon.endpoint.clone(), key);
        let raw = || RawClient::connect(&endpoint, &key);
        let sdk = || async { SdkCaller(client.clone(), key.clone()) };
        phase("warm-up", concurrency, 1, raw).await;
        phase("signed", 1, seconds, raw).await;
        phase("signed", concurrency, seconds, raw).await;
        phase("AWS SDK", 1, seconds, sdk).await;
        phase("AWS SDK", concurrency, seconds, sdk).await;
    });
}
