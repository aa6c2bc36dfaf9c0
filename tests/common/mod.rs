//! Test fixture: a real hsmkms process on 127.0.0.1:0 with its own SoftHSM2 token directory
//! and SQLite file, driven with the official AWS SDK for Rust or raw HTTP.
#![allow(dead_code)] // each test binary uses a different part of the fixture

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::Client;

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "111122223333";
pub const USER_PIN: &str = "test-user-pin";
const LABEL: &str = "hsmkms-test";
const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A running daemon and the directory that holds its token and database.
pub struct Daemon {
    dir: tempfile::TempDir,
    child: Child,
    pub endpoint: String,
    /// Extra environment for the daemon process (settings overrides).
    env: Vec<(String, String)>,
}

impl Daemon {
    /// A fresh token and database, and a daemon on them.
    pub fn start() -> Daemon {
        Daemon::start_with("")
    }

    /// Like `start`, with the development clock control on (`HsmKmsDev.AdvanceClock`).
    pub fn start_with_dev_clock() -> Daemon {
        Daemon::start_with("[dev]\nclock_control = true\n")
    }

    fn start_with(extra_settings: &str) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        init_token(dir.path());
        let config = dir.path().join("hsmkms.toml");
        let mut settings = std::fs::read_to_string(&config).expect("config");
        settings.push_str(extra_settings);
        std::fs::write(&config, settings).expect("config");
        let (child, endpoint) = spawn(dir.path(), &[]);
        Daemon {
            dir,
            child,
            endpoint,
            env: Vec::new(),
        }
    }

    /// Sets an environment variable for the next start of the daemon.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.push((name.to_owned(), value.to_owned()));
    }

    /// Kills the daemon without warning (as a crash would) and starts it again on the same
    /// token and database.
    pub fn restart(&mut self) {
        self.kill();
        self.start_again();
    }

    /// Kills the daemon without warning.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the daemon again after `kill`.
    pub fn start_again(&mut self) {
        let (child, endpoint) = spawn(self.dir.path(), &self.env);
        self.child = child;
        self.endpoint = endpoint;
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("hsmkms.sqlite3")
    }

    pub fn softhsm_conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    /// Everything the daemon logged so far (all runs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// An SDK client for this daemon, signing with the dev credential, retries off so a
    /// test sees each answer as sent.
    pub fn client(&self) -> Client {
        let config = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new(
                "AKIAIOSFODNN7EXAMPLE",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                None,
                None,
                "test",
            ))
            .retry_config(RetryConfig::disabled())
            .build();
        Client::from_conf(config)
    }

    /// A raw POST with the given target and body: (status, parsed JSON body, headers text).
    pub fn raw(&self, target: Option<&str>, body: &str) -> (u16, serde_json::Value, String) {
        let addr = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).expect("connect");
        let target = target
            .map(|t| format!("X-Amz-Target: {t}\r\n"))
            .unwrap_or_default();
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.1\r\n{target}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let (head, body) = response.split_once("\r\n\r\n").expect("http response");
        let status = head[9..12].parse().expect("status");
        let json = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
        (status, json, head.to_lowercase())
    }

    /// Moves the daemon's development clock forward; it runs what fell due before answering.
    pub fn advance_clock(&self, seconds: i64) {
        let body = serde_json::json!({ "Seconds": seconds }).to_string();
        let (status, json, _) = self.raw(Some("HsmKmsDev.AdvanceClock"), &body);
        assert_eq!(status, 200, "advance clock: {json}");
    }

    pub fn key_arn(&self, key_id: &str) -> String {
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Creates a SoftHSM2 token, a PIN file and a daemon config under `dir`.
pub fn init_token(dir: &Path) {
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).expect("token dir");
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .expect("softhsm2.conf");
    let status = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args(["--init-token", "--free", "--label", LABEL])
        .args(["--so-pin", "test-so-pin", "--pin", USER_PIN])
        .stdout(Stdio::null())
        .status()
        .expect("softhsm2-util (install softhsm2)");
    assert!(status.success(), "softhsm2-util --init-token failed");
    std::fs::write(dir.join("user.pin"), USER_PIN).expect("pin file");
    std::fs::write(
        dir.join("hsmkms.toml"),
        format!(
            r#"
[server]
listen = "127.0.0.1:0"
[aws]
region = "{REGION}"
account_id = "{ACCOUNT}"
[hsm]
module = "{MODULE}"
token_label = "{LABEL}"
user_pin_file = "{pin}"
session_pool_size = 2
host_unwrap_fallback = true
[store]
path = "{db}"
"#,
            pin = dir.join("user.pin").display(),
            db = dir.join("hsmkms.sqlite3").display(),
        ),
    )
    .expect("config");
}

/// Starts the daemon and waits for its "listening on" line.
fn spawn(dir: &Path, env: &[(String, String)]) -> (Child, String) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("daemon.log"))
        .expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hsmkms"))
        .arg("--config")
        .arg(dir.join("hsmkms.toml"))
        .env("SOFTHSM2_CONF", dir.join("softhsm2.conf"))
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn hsmkms");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("read banner");
    // Keep reading so the daemon never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let endpoint = line
        .trim()
        .strip_prefix("hsmkms listening on ")
        .unwrap_or_else(|| {
            let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();
            panic!("daemon did not start: {line:?}\n{log}")
        })
        .to_owned();
    (child, endpoint)
}

/// The `__type` a failed SDK call reported.
pub fn error_code<E, R>(error: &aws_sdk_kms::error::SdkError<E, R>) -> String
where
    E: aws_sdk_kms::error::ProvideErrorMetadata,
{
    use aws_sdk_kms::error::ProvideErrorMetadata;
    error.code().unwrap_or("<none>").to_owned()
}

/// The message a failed SDK call reported.
pub fn error_message<E, R>(error: &aws_sdk_kms::error::SdkError<E, R>) -> String
where
    E: aws_sdk_kms::error::ProvideErrorMetadata,
{
    use aws_sdk_kms::error::ProvideErrorMetadata;
    error.message().unwrap_or("").to_owned()
}
