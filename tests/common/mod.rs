//! Test fixture: a real hsmkms process on 127.0.0.1:0 with its own SoftHSM2 token directory
//! and SQLite file, driven with the official AWS SDK for Rust or raw HTTP.
#![allow(dead_code)] // each test binary uses a different part of the fixture

pub mod import;

use std::collections::HashMap;
use std::fmt::Debug;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::SystemTime;

use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::operation::decrypt::{DecryptError, DecryptOutput};
use aws_sdk_kms::operation::encrypt::{EncryptError, EncryptOutput};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyMetadata, KeyState, OriginType, Tag};
use aws_sdk_kms::Client;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "111122223333";
pub const USER_PIN: &str = "test-user-pin";
/// An access key id and its secret.
pub type AccessKey = (&'static str, &'static str);
/// AWS's documented example pair: the dev user, an admin principal (IAM allows it all).
pub const DEV_KEY: AccessKey = (
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
);
/// The principal of `DEV_KEY`.
pub const DEV_PRINCIPAL: &str = "arn:aws:iam::111122223333:user/dev";
/// AWS's second documented example pair: an application with no IAM permissions, which
/// only key policies and grants can let in.
pub const APP_KEY: AccessKey = (
    "AKIAI44QH8DHBEXAMPLE",
    "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
);
/// The principal of `APP_KEY`.
pub const APP_PRINCIPAL: &str = "arn:aws:iam::111122223333:user/app";
/// The key of the one principal that may move a development clock.
pub const CLOCK_KEY: AccessKey = (
    "AKIACLOCKEXAMPLE0000",
    "clock/secret/for/tests/only/EXAMPLEKEY0",
);
/// The principal of `CLOCK_KEY` (`dev.clock_principal`), configured only with the clock.
pub const CLOCK_PRINCIPAL: &str = "arn:aws:iam::111122223333:user/clock";
/// The Cloud KMS bearer token of `DEV_PRINCIPAL` (an admin principal).
pub const CLOUD_TOKEN: &str = "test-cloud-token-dev";
/// The Cloud KMS bearer token of `APP_PRINCIPAL` (not an admin principal).
pub const CLOUD_APP_TOKEN: &str = "test-cloud-token-app";
const LABEL: &str = "hsmkms-test";
const SO_PIN: &str = "test-so-pin";
/// Set to `wrapped` (as `make test`'s second pass does), every test daemon makes new
/// keys in wrapped custody, on a token set up with a key-encryption key.
pub const CUSTODY_ENV: &str = "HSMKMS_TEST_CUSTODY";
const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A running daemon and the directory that holds its token and database.
pub struct Daemon {
    dir: tempfile::TempDir,
    child: Child,
    pub endpoint: String,
    /// The Cloud KMS REST API's base URL (`http://127.0.0.1:PORT`).
    pub cloud_endpoint: String,
    /// Extra environment for the daemon process (settings overrides).
    env: Vec<(String, String)>,
}

impl Daemon {
    /// A fresh token and database, and a daemon on them.
    pub fn start() -> Daemon {
        Daemon::start_with("")
    }

    /// Like `start`, with the development clock control on (`HsmKmsDev.AdvanceClock`),
    /// movable by `CLOCK_KEY` only. Needs the `dev-clock` feature, as `make test` builds.
    pub fn start_with_dev_clock() -> Daemon {
        if !cfg!(feature = "dev-clock") {
            panic!("this test needs the dev-clock feature: cargo test --features dev-clock (make test)");
        }
        Daemon::start_with(&format!(
            "[[credentials]]\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\nprincipal = \"{CLOCK_PRINCIPAL}\"\n\
             [dev]\nclock_control = true\nclock_principal = \"{CLOCK_PRINCIPAL}\"\n",
            CLOCK_KEY.0, CLOCK_KEY.1
        ))
    }

    fn start_with(extra_settings: &str) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        init_token(dir.path());
        let config = dir.path().join("hsmkms.toml");
        let mut settings = std::fs::read_to_string(&config).expect("config");
        settings.push_str(extra_settings);
        std::fs::write(&config, settings).expect("config");
        let (child, endpoint, cloud_endpoint) = spawn(dir.path(), &[]);
        Daemon {
            dir,
            child,
            endpoint,
            cloud_endpoint,
            env: Vec::new(),
        }
    }

    /// A fresh daemon running with the settings overrides `env` (HSMKMS__... variables).
    pub fn start_with_env(env: &[(&str, &str)]) -> Daemon {
        let mut daemon = Daemon::start();
        for (name, value) in env {
            daemon.set_env(name, value);
        }
        daemon.restart();
        daemon
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

    /// Stops the daemon as an operator would (SIGTERM) and waits for it to exit.
    pub fn stop(&mut self) {
        self.terminate();
        self.wait_for_exit();
    }

    /// Sends SIGTERM and returns at once.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill -TERM");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the daemon to exit, which it must do successfully.
    pub fn wait_for_exit(&mut self) {
        let exited = self.child.wait().expect("wait");
        assert!(
            exited.success(),
            "the daemon exited with {exited}\n{}",
            self.log()
        );
    }

    /// Runs `hsmkms <args>` on this daemon's settings and token; its exit code and stdout.
    pub fn tool(&self, args: &[&str]) -> (i32, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_hsmkms"))
            .arg("--config")
            .arg(self.dir.path().join("hsmkms.toml"))
            .args(args)
            .env("SOFTHSM2_CONF", self.softhsm_conf())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run hsmkms");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
    }

    /// The directory of the audit log (the default, beside the sidecar).
    pub fn audit_dir(&self) -> PathBuf {
        self.dir.path().join("audit")
    }

    /// Every line of the audit log so far, oldest file first.
    pub fn audit_lines(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.audit_dir())
            .expect("audit dir")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        let text: Vec<String> = files
            .iter()
            .map(|f| std::fs::read_to_string(f).expect("audit file"))
            .collect();
        text.iter()
            .flat_map(|t| t.lines())
            .map(str::to_owned)
            .collect()
    }

    /// Starts the daemon again after `kill`.
    pub fn start_again(&mut self) {
        let (child, endpoint, cloud_endpoint) = spawn(self.dir.path(), &self.env);
        self.child = child;
        self.endpoint = endpoint;
        self.cloud_endpoint = cloud_endpoint;
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
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

    /// An SDK client for this daemon, signing with the dev (admin) credential, retries off
    /// so a test sees each answer as sent.
    pub fn client(&self) -> Client {
        self.client_as(DEV_KEY)
    }

    /// An SDK client signing with `key`.
    pub fn client_as(&self, key: AccessKey) -> Client {
        let config = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new(key.0, key.1, None, None, "test"))
            .retry_config(RetryConfig::disabled())
            .build();
        Client::from_conf(config)
    }

    /// A raw POST with the given target and body, signed with the dev access key:
    /// (status, parsed JSON body, headers text).
    pub fn raw(&self, target: Option<&str>, body: &str) -> (u16, serde_json::Value, String) {
        self.raw_as(DEV_KEY, target, body)
    }

    /// `raw`, signed with `key`.
    pub fn raw_as(
        &self,
        key: AccessKey,
        target: Option<&str>,
        body: &str,
    ) -> (u16, serde_json::Value, String) {
        let host = self.endpoint.trim_start_matches("http://");
        let request = signed_request(
            host,
            target,
            body,
            key,
            SystemTime::now(),
            "Connection: close\r\n",
        );
        self.send(&request)
    }

    /// Sends raw request text on a new connection and reads the whole answer.
    pub fn send(&self, request: &str) -> (u16, serde_json::Value, String) {
        exchange(self.endpoint.trim_start_matches("http://"), request)
    }

    /// A Cloud KMS REST call as the admin principal: (status, parsed JSON body).
    pub fn cloud(&self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        self.cloud_as(Some(CLOUD_TOKEN), method, path, body)
    }

    /// A Cloud KMS REST call with `token` as its bearer token (none: no Authorization).
    pub fn cloud_as(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: &str,
    ) -> (u16, serde_json::Value) {
        let addr = self.cloud_endpoint.trim_start_matches("http://");
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let (status, json, _) = exchange(addr, &request);
        (status, json)
    }

    /// Moves the daemon's development clock forward; it runs what fell due before answering.
    pub fn advance_clock(&self, seconds: i64) {
        let body = serde_json::json!({ "Seconds": seconds }).to_string();
        let (status, json, _) = self.raw_as(CLOCK_KEY, Some("HsmKmsDev.AdvanceClock"), &body);
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

/// Sends raw request text to `addr` on a new connection and reads the whole answer:
/// (status, parsed JSON body, headers text in lower case).
pub fn exchange(addr: &str, request: &str) -> (u16, serde_json::Value, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("http response");
    let status = head[9..12].parse().expect("status");
    let json = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    (status, json, head.to_lowercase())
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
        .args(["--so-pin", SO_PIN, "--pin", USER_PIN])
        .stdout(Stdio::null())
        .status()
        .expect("softhsm2-util (install softhsm2)");
    assert!(status.success(), "softhsm2-util --init-token failed");
    std::fs::write(dir.join("user.pin"), USER_PIN).expect("pin file");
    std::fs::write(dir.join("so.pin"), SO_PIN).expect("pin file");
    std::fs::write(
        dir.join("hsmkms.toml"),
        format!(
            r#"
[server]
listen = "127.0.0.1:0"
[aws]
region = "{REGION}"
account_id = "{ACCOUNT}"
admin_principals = ["{DEV_PRINCIPAL}"]
[[credentials]]
access_key_id = "{dev_id}"
secret_access_key = "{dev_secret}"
principal = "{DEV_PRINCIPAL}"
[[credentials]]
access_key_id = "{app_id}"
secret_access_key = "{app_secret}"
principal = "{APP_PRINCIPAL}"
[hsm]
module = "{MODULE}"
token_label = "{LABEL}"
user_pin_file = "{pin}"
session_pool_size = 2
host_unwrap_fallback = true
[store]
path = "{db}"
[cloud_kms]
listen = "127.0.0.1:0"
[[cloud_kms.tokens]]
principal = "{DEV_PRINCIPAL}"
token = "{CLOUD_TOKEN}"
[[cloud_kms.tokens]]
principal = "{APP_PRINCIPAL}"
token = "{CLOUD_APP_TOKEN}"
"#,
            pin = dir.join("user.pin").display(),
            db = dir.join("hsmkms.sqlite3").display(),
            dev_id = DEV_KEY.0,
            dev_secret = DEV_KEY.1,
            app_id = APP_KEY.0,
            app_secret = APP_KEY.1,
        ),
    )
    .expect("config");
    if std::env::var(CUSTODY_ENV).is_ok_and(|mode| mode == "wrapped") {
        use_wrapped_custody(dir);
    }
}

/// Makes the token's key-encryption key and sets `hsm.custody = "wrapped"` in the config
/// `init_token` wrote under `dir`.
pub fn use_wrapped_custody(dir: &Path) {
    create_kek(dir);
    let config = dir.join("hsmkms.toml");
    let settings = std::fs::read_to_string(&config).expect("config");
    let settings = settings.replacen("[hsm]\n", "[hsm]\ncustody = \"wrapped\"\n", 1);
    std::fs::write(&config, settings).expect("config");
}

/// `hsmkms token create-kek` on the token under `dir`, logged in as its security officer.
pub fn create_kek(dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hsmkms"))
        .arg("--config")
        .arg(dir.join("hsmkms.toml"))
        .args(["token", "create-kek", "--so-pin-file"])
        .arg(dir.join("so.pin"))
        .env("SOFTHSM2_CONF", dir.join("softhsm2.conf"))
        .stdin(Stdio::null())
        .output()
        .expect("run hsmkms token create-kek");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "create-kek failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The daemon `program` on the settings and token under `dir`, logging to `log`, its
/// banner on a pipe.
pub fn daemon_command(program: &std::ffi::OsStr, dir: &Path, log: std::fs::File) -> Command {
    let mut command = Command::new(program);
    command
        .arg("--config")
        .arg(dir.join("hsmkms.toml"))
        .env("SOFTHSM2_CONF", dir.join("softhsm2.conf"))
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    command
}

/// Starts the daemon and waits for its banner: the AWS API's "listening on" line, then
/// the Cloud KMS API's, up to the "try:" line. Returns both base URLs.
fn spawn(dir: &Path, env: &[(String, String)]) -> (Child, String, String) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("daemon.log"))
        .expect("log file");
    let mut child = daemon_command(env!("CARGO_BIN_EXE_hsmkms").as_ref(), dir, log)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .spawn()
        .expect("spawn hsmkms");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let (mut endpoint, mut cloud) = (None, String::new());
    loop {
        let mut line = String::new();
        let read = stdout.read_line(&mut line).expect("read banner");
        let line = line.trim();
        if let Some(url) = line.strip_prefix("hsmkms listening on ") {
            endpoint = Some(url.to_owned());
        } else if let Some(url) = line.strip_prefix("cloud kms listening on ") {
            cloud = url.to_owned();
        } else if read == 0 || line.starts_with("try:") || endpoint.is_none() {
            break;
        }
    }
    // Keep reading so the daemon never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let endpoint = endpoint.unwrap_or_else(|| {
        let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();
        panic!("daemon did not start\n{log}")
    });
    (child, endpoint, cloud)
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

/// One day, in seconds (for the development clock and deletion dates).
pub const DAY: i64 = 86_400;
/// A well-formed key id that no daemon has issued.
pub const UNKNOWN_ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
/// The `__type` of a refused request's shape or value.
pub const VALIDATION: &str = "ValidationException";

/// Asserts that an SDK call failed with HTTP 400, `code` and `message` (empty: no message
/// sent); returns the error for further checks.
#[track_caller]
pub fn assert_error<T: Debug, E: ProvideErrorMetadata + Debug>(
    result: Result<T, SdkError<E, HttpResponse>>,
    code: &str,
    message: &str,
) -> SdkError<E, HttpResponse> {
    let error = match result {
        Ok(output) => panic!("expected {code} ({message}), got success: {output:?}"),
        Err(e) => e,
    };
    assert_eq!(
        (error_code(&error).as_str(), error_message(&error).as_str()),
        (code, message),
        "{error:?}"
    );
    let status = error.raw_response().map(|r| r.status().as_u16());
    assert_eq!(status, Some(400), "{code}: HTTP status");
    error
}

/// AWS's ValidationException message for one member. `value` is `Value` (value not shown),
/// `Value null` or `Value '<v>'`; `constraint` is one of the `Member must ...` phrases below.
pub fn invalid(value: &str, member: &str, constraint: &str) -> String {
    format!(
        "1 validation error detected: {value} at '{member}' failed to satisfy constraint: {constraint}"
    )
}

/// AWS's ValidationException message for a required `member` left out.
pub fn missing(member: &str) -> String {
    invalid("Value null", member, &not_null())
}

/// Constraint: the member is required.
pub fn not_null() -> String {
    "Member must not be null".to_owned()
}

/// Constraint: a string or list member of at most `max` characters or items.
pub fn at_most(max: usize) -> String {
    format!("Member must have length less than or equal to {max}")
}

/// Constraint: a string or list member of at least `min` characters or items.
pub fn at_least(min: usize) -> String {
    format!("Member must have length greater than or equal to {min}")
}

/// Constraint: a number member of at least `min`.
pub fn value_at_least(min: i64) -> String {
    format!("Member must have value greater than or equal to {min}")
}

/// Constraint: a number member of at most `max`.
pub fn value_at_most(max: i64) -> String {
    format!("Member must have value less than or equal to {max}")
}

/// Creates a symmetric key with the defaults; its key id.
pub async fn new_key(client: &Client) -> String {
    let created = client.create_key().send().await.expect("CreateKey");
    created
        .key_metadata()
        .expect("metadata")
        .key_id()
        .to_owned()
}

/// Creates an EXTERNAL key (PendingImport, no material yet); its key id.
pub async fn external_key(client: &Client) -> String {
    let created = client
        .create_key()
        .origin(OriginType::External)
        .send()
        .await
        .expect("CreateKey EXTERNAL");
    created
        .key_metadata()
        .expect("metadata")
        .key_id()
        .to_owned()
}

/// DescribeKey of `key` (id, ARN or alias); its metadata.
pub async fn describe(client: &Client, key: &str) -> KeyMetadata {
    let described = client
        .describe_key()
        .key_id(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeKey {key}: {e:?}"));
    described.key_metadata().expect("metadata").clone()
}

/// The state DescribeKey reports for `key`.
pub async fn key_state(client: &Client, key: &str) -> KeyState {
    describe(client, key)
        .await
        .key_state()
        .expect("KeyState")
        .clone()
}

/// The id of the material `key` encrypts with now.
pub async fn current_material(client: &Client, key: &str) -> String {
    describe(client, key)
        .await
        .current_key_material_id()
        .expect("CurrentKeyMaterialId")
        .to_owned()
}

/// Sends DisableKey for `key`; it must succeed.
/// RotateKeyOnDemand, which must succeed.
pub async fn rotate_now(client: &Client, key: &str) {
    client
        .rotate_key_on_demand()
        .key_id(key)
        .send()
        .await
        .expect("rotate");
}

pub async fn disable_key(client: &Client, key: &str) {
    client
        .disable_key()
        .key_id(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DisableKey {key}: {e:?}"));
}

/// Sends EnableKey for `key`; it must succeed.
pub async fn enable_key(client: &Client, key: &str) {
    client
        .enable_key()
        .key_id(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("EnableKey {key}: {e:?}"));
}

/// Schedules the deletion of `key` in 7 days, the shortest window; it must succeed.
pub async fn schedule_deletion(client: &Client, key: &str) {
    client
        .schedule_key_deletion()
        .key_id(key)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ScheduleKeyDeletion {key}: {e:?}"));
}

/// Sends Encrypt of `plaintext` under `key`, without encryption context.
pub async fn try_encrypt(
    client: &Client,
    key: &str,
    plaintext: impl Into<Vec<u8>>,
) -> Result<EncryptOutput, SdkError<EncryptError, HttpResponse>> {
    client
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(plaintext))
        .send()
        .await
}

/// The ciphertext of `plaintext` under `key`, without encryption context.
pub async fn encrypt(client: &Client, key: &str, plaintext: impl Into<Vec<u8>>) -> Blob {
    try_encrypt(client, key, plaintext)
        .await
        .expect("Encrypt")
        .ciphertext_blob
        .expect("CiphertextBlob")
}

/// Sends Decrypt of `blob`, without key id or encryption context.
pub async fn try_decrypt(
    client: &Client,
    blob: Blob,
) -> Result<DecryptOutput, SdkError<DecryptError, HttpResponse>> {
    client.decrypt().ciphertext_blob(blob).send().await
}

/// The plaintext of `blob` (made without encryption context).
pub async fn decrypt(client: &Client, blob: Blob) -> Vec<u8> {
    let out = try_decrypt(client, blob).await.expect("Decrypt");
    out.plaintext().expect("Plaintext").as_ref().to_vec()
}

/// An encryption context from (key, value) pairs.
pub fn context(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A tag `key` = `value`.
pub fn tag(key: &str, value: &str) -> Tag {
    Tag::builder()
        .tag_key(key)
        .tag_value(value)
        .build()
        .expect("tag")
}

/// The system clock, in seconds since the epoch.
pub fn now_seconds() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    i64::try_from(since.as_secs()).expect("seconds")
}

/// Opens the daemon's token in this process and logs in as the user. Sets `SOFTHSM2_CONF`,
/// which a PKCS#11 module reads once per process: for a binary that holds a single test.
pub fn open_token(daemon: &Daemon) -> (Pkcs11, Session) {
    std::env::set_var("SOFTHSM2_CONF", daemon.softhsm_conf());
    let ctx = Pkcs11::new(MODULE).expect("load module");
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .expect("initialize");
    let slot = ctx.get_slots_with_token().expect("slots")[0];
    let session = ctx.open_rw_session(slot).expect("session");
    session
        .login(UserType::User, Some(&AuthPin::from(USER_PIN)))
        .expect("login");
    (ctx, session)
}

/// The sidecar database and its write-ahead log, as bytes on disk (stop the daemon first).
pub fn sidecar_bytes(daemon: &Daemon) -> Vec<u8> {
    let mut bytes = std::fs::read(daemon.db_path()).expect("db");
    bytes.extend(std::fs::read(daemon.db_path().with_extension("sqlite3-wal")).unwrap_or_default());
    bytes
}

/// Whether `needle` occurs anywhere in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Fixture for the listener's settings: the generated config puts `[server]` first, and TOML
/// forbids repeating a table, so server settings go into that table rather than after it.
impl Daemon {
    /// A fresh token and database, and a daemon with `lines` (TOML `key = value` lines)
    /// added to its `[server]` table.
    pub fn start_with_server_settings(lines: &str) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        init_token(dir.path());
        add_server_settings(dir.path(), lines);
        let (child, endpoint, cloud_endpoint) = spawn(dir.path(), &[]);
        Daemon {
            dir,
            child,
            endpoint,
            cloud_endpoint,
            env: Vec::new(),
        }
    }
}

/// Adds `lines` to the `[server]` table of the config that `init_token` wrote under `dir`.
pub fn add_server_settings(dir: &Path, lines: &str) {
    let config = dir.join("hsmkms.toml");
    let settings = std::fs::read_to_string(&config).expect("config");
    assert!(
        settings.contains("[server]\n"),
        "no [server] table: {settings}"
    );
    let settings = settings.replacen("[server]\n", &format!("[server]\n{lines}\n"), 1);
    std::fs::write(&config, settings).expect("config");
}

/// Starts the daemon on a fresh token with `lines` added to `[server]` and `env` set,
/// expecting it to refuse to start: its exit status and its log.
pub fn start_refused(lines: &str, env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    init_token(dir.path());
    add_server_settings(dir.path(), lines);
    let log = std::fs::File::create(dir.path().join("daemon.log")).expect("log file");
    let mut child = daemon_command(env!("CARGO_BIN_EXE_hsmkms").as_ref(), dir.path(), log)
        .envs(env.iter().copied())
        .spawn()
        .expect("spawn hsmkms");
    // The first line is the banner if the daemon started, or nothing once it has exited.
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut banner = String::new();
    stdout.read_line(&mut banner).expect("read stdout");
    if !banner.is_empty() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the daemon started: {banner}");
    }
    let status = child.wait().expect("wait");
    let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default();
    (status, log)
}

/// A valid key policy that keeps the account's IAM side (the admin principals) in charge
/// of the key; `sid` tells versions apart.
pub fn key_policy(sid: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{sid}","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    )
}

/// The text of a `POST /` to `host` signed with SigV4 as an SDK signs it, at `time`, with
/// `extra` header lines (each ending in CRLF) added after signing.
pub fn signed_request(
    host: &str,
    target: Option<&str>,
    body: &str,
    key: AccessKey,
    time: SystemTime,
    extra: &str,
) -> String {
    let mut headers = vec![
        ("host", host),
        ("content-type", "application/x-amz-json-1.1"),
    ];
    headers.extend(target.map(|t| ("x-amz-target", t)));
    signed_with_headers(&headers, body, key, time, extra)
}

/// The text of a `POST /` carrying and signing exactly `headers` (the first must be
/// `host`), at `time`, with `extra` header lines added after signing.
pub fn signed_with_headers(
    headers: &[(&str, &str)],
    body: &str,
    key: AccessKey,
    time: SystemTime,
    extra: &str,
) -> String {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4::SigningParams;
    let identity = Credentials::new(key.0, key.1, None, None, "test").into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("kms")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    let host = headers[0].1;
    let signable = SignableRequest::new(
        "POST",
        format!("http://{host}/"),
        headers.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .expect("signable");
    let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
    let mut request = String::from("POST / HTTP/1.1\r\n");
    for (name, value) in headers.iter().copied().chain(instructions.headers()) {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!(
        "content-length: {}\r\n{extra}\r\n{body}",
        body.len()
    ));
    request
}

impl Daemon {
    /// An SDK client for this daemon signing with `credentials` (which may carry a session
    /// token) in `region`, retries off.
    pub fn client_with(&self, credentials: Credentials, region: &str) -> Client {
        let config = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(credentials)
            .retry_config(RetryConfig::disabled())
            .build();
        Client::from_conf(config)
    }
}

/// `GET path` on `address` (host:port): status, content type and body.
pub fn get(address: &str, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(address).expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("http response");
    let status = head[9..12].parse().expect("status");
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

/// The value of the sample `name` (with its labels, as printed) in `metrics`.
pub fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {name} in\n{metrics}"))
        .parse()
        .expect("number")
}
