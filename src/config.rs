//! Layered settings: a TOML file, then `HSMKMS__SECTION__KEY` environment variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::kms::clock::MAX_ADVANCE_SECONDS;

/// Everything the daemon needs to start.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Where to listen.
    pub server: ServerSettings,
    /// The region and account that appear in key ARNs.
    pub aws: AwsSettings,
    /// Access keys that AWS tools may sign with.
    #[serde(default)]
    pub credentials: Vec<Credential>,
    /// The PKCS#11 token that holds every key.
    pub hsm: HsmSettings,
    /// The sidecar metadata database.
    pub store: StoreSettings,
    /// Background work: deletions and rotations when due.
    #[serde(default)]
    pub scheduler: SchedulerSettings,
    /// Development-only switches; all off by default.
    #[serde(default)]
    pub dev: DevSettings,
    /// The audit log; on by default.
    #[serde(default)]
    pub audit: AuditSettings,
    /// The Google Cloud KMS REST API; off unless it has a listen address.
    #[serde(default)]
    pub cloud_kms: CloudKmsSettings,
}

/// The second front door: the Cloud KMS v1 REST surface on its own address.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CloudKmsSettings {
    /// Where to serve it; absent, it is off.
    pub listen: Option<SocketAddr>,
    /// Bearer tokens and the principals they act as.
    #[serde(default)]
    pub tokens: Vec<BearerToken>,
}

/// A static bearer token for the Cloud KMS API. The token is kept out of `Debug` output.
#[derive(Clone, Deserialize)]
pub struct BearerToken {
    /// The principal ARN it acts as (the same principals the AWS API uses).
    pub principal: String,
    /// The token inline; only for the documented dev token.
    pub token: Option<String>,
    /// Name of an environment variable holding the token.
    pub token_env: Option<String>,
    /// Path of a file holding the token (trailing newline ignored).
    pub token_file: Option<PathBuf>,
}

impl BearerToken {
    /// The token, from the environment, a file, or inline, in that order.
    pub fn secret(&self) -> Result<Zeroizing<String>, SettingsError> {
        read_secret(
            self.token_env.as_deref(),
            self.token_file.as_deref(),
            self.token.as_deref(),
        )
        .ok_or_else(|| {
            SettingsError::Secret(format!(
                "no bearer token for {}: set token_env or token_file",
                self.principal
            ))
        })?
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerToken")
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

/// Where and how the audit log is written.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AuditSettings {
    /// Off only on a development (SoftHSM2) token; the daemon says so at start-up.
    pub enabled: bool,
    /// Directory of the log files; default `audit/` beside the sidecar file.
    pub path: Option<PathBuf>,
    /// A file past this many bytes is checkpointed and closed, and the next one opened.
    pub rotate_bytes: u64,
    /// Seconds between checkpoints while records are written.
    pub checkpoint_seconds: u64,
    /// Under load (more than one record waiting), how many microseconds a write waits
    /// for more records to share its fsync. 0 writes at once.
    pub commit_delay_micros: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            enabled: true,
            path: None,
            rotate_bytes: 64 * 1024 * 1024,
            checkpoint_seconds: 60,
            commit_delay_micros: 200,
        }
    }
}

impl Settings {
    /// The audit log's directory.
    pub fn audit_dir(&self) -> PathBuf {
        match &self.audit.path {
            Some(path) => path.clone(),
            None => self
                .store
                .path
                .parent()
                .unwrap_or(Path::new("."))
                .join("audit"),
        }
    }
}

/// How often due work is looked for.
#[derive(Debug, Clone, Deserialize)]
pub struct SchedulerSettings {
    /// Seconds between runs of the scheduler.
    pub interval_seconds: u64,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        SchedulerSettings {
            interval_seconds: 30,
        }
    }
}

/// Development-only switches. The daemon refuses them unless the token is SoftHSM2 and
/// the build has the `dev-clock` feature.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DevSettings {
    /// Lets `HsmKmsDev.AdvanceClock` move the service's clock forward.
    pub clock_control: bool,
    /// Starts the clock this many seconds ahead (needs `clock_control`), at most ten years.
    pub clock_offset_seconds: i64,
    /// The only principal that may move the clock: a configured credential's principal
    /// that is not an admin principal (needs `clock_control`, which needs it).
    pub clock_principal: Option<String>,
}

/// HTTP listener settings.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    /// Socket address; plain HTTP is allowed on loopback only unless configured.
    pub listen: SocketAddr,
    /// HTTPS instead of plain HTTP when present.
    #[serde(default)]
    pub tls: Option<TlsSettings>,
    /// Allows plain HTTP on an address other than loopback, where anyone on the network
    /// could read and alter requests; off unless set explicitly.
    #[serde(default)]
    pub allow_plaintext: bool,
    /// Connections served at once; one more gets HTTP 503 and is closed, so memory and file
    /// descriptors stay bounded under a flood.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Seconds a client has for the TLS handshake, for a request's headers (counted from
    /// the connection's start after any handshake, or from the first byte of a later
    /// request), and again for its body; bounds slow clients that would otherwise hold a
    /// connection.
    #[serde(default = "default_header_timeout_seconds")]
    pub header_timeout_seconds: u64,
    /// Seconds a kept-alive connection may wait for its next request before it is closed.
    #[serde(default = "default_idle_timeout_seconds")]
    pub idle_timeout_seconds: u64,
    /// Where `/metrics`, `/healthz` and `/readyz` are served, plain HTTP, when they should
    /// not share the API's address; unset, the API's listener serves them.
    #[serde(default)]
    pub ops_listen: Option<SocketAddr>,
    /// Seconds that requests in flight at SIGTERM or SIGINT have to finish before the
    /// daemon closes the audit log and the token anyway.
    #[serde(default = "default_shutdown_grace_seconds")]
    pub shutdown_grace_seconds: u64,
}

fn default_shutdown_grace_seconds() -> u64 {
    30
}

fn default_max_connections() -> usize {
    1024
}

fn default_header_timeout_seconds() -> u64 {
    10
}

fn default_idle_timeout_seconds() -> u64 {
    60
}

/// TLS for the listener: PEM files read once at start-up.
#[derive(Debug, Clone, Deserialize)]
pub struct TlsSettings {
    /// The server's certificate chain, leaf first.
    pub certificate: PathBuf,
    /// The private key of the leaf certificate (PKCS#8, PKCS#1 or SEC1).
    pub private_key: PathBuf,
    /// CA certificates that client certificates must chain to; when set, every client must
    /// present one (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

/// Identity of this KMS "region".
#[derive(Debug, Clone, Deserialize)]
pub struct AwsSettings {
    /// Region name used in ARNs, e.g. `us-east-1`.
    pub region: String,
    /// Twelve-digit account id used in ARNs.
    pub account_id: String,
    /// Principals the account's IAM side allows every KMS action: they may create and list
    /// keys, and the default key policy (account root) lets them use every key.
    #[serde(default)]
    pub admin_principals: Vec<String>,
}

/// One access key. The secret is kept out of `Debug` output.
#[derive(Clone, Deserialize)]
pub struct Credential {
    /// The access key id clients sign with.
    pub access_key_id: String,
    /// The secret inline; only for the documented dev pair.
    pub secret_access_key: Option<String>,
    /// Name of an environment variable holding the secret.
    pub secret_access_key_env: Option<String>,
    /// Path of a file holding the secret (trailing newline ignored).
    pub secret_access_key_file: Option<PathBuf>,
    /// The IAM-style principal ARN this key acts as, `arn:aws:iam::<account>:...`.
    pub principal: String,
}

impl Credential {
    /// The secret, from the environment, a file, or inline, in that order.
    pub fn secret(&self) -> Result<Zeroizing<String>, SettingsError> {
        let name = &self.access_key_id;
        read_secret(
            self.secret_access_key_env.as_deref(),
            self.secret_access_key_file.as_deref(),
            self.secret_access_key.as_deref(),
        )
        .ok_or_else(|| {
            SettingsError::Secret(format!(
                "no secret for access key {name}: set secret_access_key_env or secret_access_key_file"
            ))
        })?
    }

    /// The account id in the principal ARN.
    pub fn account(&self) -> Option<&str> {
        let account = self
            .principal
            .strip_prefix("arn:aws:iam::")?
            .split(':')
            .next()?;
        (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
    }
}

/// A secret from an environment variable, else a file, else an inline value; `None` when
/// none is configured.
fn read_secret(
    env: Option<&str>,
    file: Option<&Path>,
    inline: Option<&str>,
) -> Option<Result<Zeroizing<String>, SettingsError>> {
    if let Some(value) = env.and_then(|var| std::env::var(var).ok()) {
        return Some(Ok(Zeroizing::new(value)));
    }
    if let Some(path) = file {
        return Some(read_secret_file(path));
    }
    inline.map(|value| Ok(Zeroizing::new(value.to_owned())))
}

/// A secret kept in a file (trailing newline ignored), such as the security officer's PIN.
pub fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, SettingsError> {
    std::fs::read_to_string(path)
        .map(|text| Zeroizing::new(text.trim_end_matches(['\r', '\n']).to_owned()))
        .map_err(|e| SettingsError::Secret(format!("{}: {e}", path.display())))
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("access_key_id", &self.access_key_id)
            .field("principal", &self.principal)
            .finish_non_exhaustive()
    }
}

/// PKCS#11 token settings.
#[derive(Debug, Clone, Deserialize)]
pub struct HsmSettings {
    /// Path of the vendor's PKCS#11 module.
    pub module: PathBuf,
    /// Token label to use (slot numbers move when hardware is replugged).
    pub token_label: Option<String>,
    /// Token serial number, an alternative to the label.
    pub token_serial: Option<String>,
    /// Name of an environment variable holding the user PIN.
    pub user_pin_env: Option<String>,
    /// Path of a file holding the user PIN (trailing newline ignored).
    pub user_pin_file: Option<PathBuf>,
    /// How many PKCS#11 sessions run operations at once.
    #[serde(default = "default_pool_size")]
    pub session_pool_size: usize,
    /// Lets imports wrapped with RSA-OAEP SHA-256 work on a token without that mechanism:
    /// raw RSA in the token, OAEP decoding in the daemon. Off by default; such material is
    /// recorded as host-unwrapped.
    #[serde(default)]
    pub host_unwrap_fallback: bool,
    /// How long a request may wait for a free session (DependencyTimeoutException after).
    #[serde(default = "default_acquire_timeout_ms")]
    pub acquire_timeout_ms: u64,
    /// How many calls may wait for a session at once; past it a request is answered
    /// ThrottlingException at once instead of queueing.
    #[serde(default = "default_max_waiters")]
    pub max_waiters: usize,
    /// AES-GCM encryptions one material version may do (random IVs): at most, and by
    /// default, 2^32. Past it Encrypt refuses until the key is rotated.
    #[serde(default = "default_gcm_encryption_limit")]
    pub gcm_encryption_limit: u64,
    /// Encryptions reserved per durable sidecar write; a restart forfeits what is left of
    /// the last block.
    #[serde(default = "default_gcm_reservation_block")]
    pub gcm_reservation_block: u64,
    /// While the token is gone (calls fail at once with DependencyTimeoutException), how
    /// often it is probed to see whether it is back.
    #[serde(default = "default_recovery_interval_ms")]
    pub recovery_interval_ms: u64,
    /// Where new symmetric keys' material lives: `token_object` (a persistent token object
    /// per material) or `wrapped` (wrapped under the token's key-encryption key in the
    /// sidecar). Existing keys keep the custody they were made in.
    #[serde(default)]
    pub custody: CustodyMode,
    /// CKA_LABEL of the key-encryption key `hsmkms token create-kek` makes.
    #[serde(default = "default_kek_label")]
    pub kek_label: String,
    /// Wrapped custody: how many unwrapped session objects the token holds at once.
    #[serde(default = "default_wrapped_cache_size")]
    pub wrapped_cache_size: usize,
    /// Wrapped custody: how long an unwrapped session object may sit unused.
    #[serde(default = "default_wrapped_cache_idle_seconds")]
    pub wrapped_cache_idle_seconds: u64,
}

/// Where new symmetric keys' material lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustodyMode {
    /// One persistent token object per material version.
    #[default]
    TokenObject,
    /// Wrapped under the token's key-encryption key, unwrapped into session objects.
    Wrapped,
}

fn default_kek_label() -> String {
    "hsmkms-system/kek".to_owned()
}

fn default_wrapped_cache_size() -> usize {
    10_000
}

fn default_wrapped_cache_idle_seconds() -> u64 {
    300
}

fn default_recovery_interval_ms() -> u64 {
    1_000
}

fn default_max_waiters() -> usize {
    256
}

fn default_gcm_encryption_limit() -> u64 {
    1 << 32
}

fn default_gcm_reservation_block() -> u64 {
    1 << 16
}

fn default_pool_size() -> usize {
    4
}

fn default_acquire_timeout_ms() -> u64 {
    5_000
}

/// Sidecar database settings.
#[derive(Debug, Clone, Deserialize)]
pub struct StoreSettings {
    /// SQLite file path; created with mode 0600 when missing.
    pub path: PathBuf,
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file or environment could not be parsed into settings.
    #[error("invalid settings: {0}")]
    Invalid(#[from] config::ConfigError),
    /// The settings are well-formed but unusable.
    #[error("invalid settings: {0}")]
    Rejected(String),
    /// A PIN or secret key could not be read.
    #[error("cannot read a secret: {0}")]
    Secret(String),
}

impl Settings {
    /// Reads `file`, then overrides from `HSMKMS__SECTION__KEY` variables.
    pub fn load(file: &Path) -> Result<Self, SettingsError> {
        let settings: Settings = config::Config::builder()
            .add_source(config::File::from(file))
            .add_source(config::Environment::with_prefix("HSMKMS").separator("__"))
            .build()?
            .try_deserialize()?;
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> Result<(), SettingsError> {
        let account = &self.aws.account_id;
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SettingsError::Rejected(format!(
                "aws.account_id must be 12 digits, got {account:?}"
            )));
        }
        for credential in &self.credentials {
            if credential.account().is_none() {
                return Err(SettingsError::Rejected(format!(
                    "credentials: principal {:?} of {} is not arn:aws:iam::<12-digit account>:...",
                    credential.principal, credential.access_key_id
                )));
            }
        }
        if self.hsm.token_label.is_none() && self.hsm.token_serial.is_none() {
            return Err(SettingsError::Rejected(
                "set hsm.token_label or hsm.token_serial".into(),
            ));
        }
        self.dev.check(self)?;
        if self.scheduler.interval_seconds == 0 {
            return Err(SettingsError::Rejected(
                "scheduler.interval_seconds must be at least 1".into(),
            ));
        }
        if self.audit.checkpoint_seconds == 0 || self.audit.rotate_bytes == 0 {
            return Err(SettingsError::Rejected(
                "audit.checkpoint_seconds and audit.rotate_bytes must be at least 1".into(),
            ));
        }
        if self.hsm.recovery_interval_ms == 0 {
            return Err(SettingsError::Rejected(
                "hsm.recovery_interval_ms must be at least 1".into(),
            ));
        }
        if self.hsm.session_pool_size == 0 {
            return Err(SettingsError::Rejected(
                "hsm.session_pool_size must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

impl DevSettings {
    fn check(&self, settings: &Settings) -> Result<(), SettingsError> {
        let rejected = |m: &str| Err(SettingsError::Rejected(m.to_owned()));
        if !self.clock_control {
            if self.clock_offset_seconds != 0 || self.clock_principal.is_some() {
                return rejected(
                    "dev.clock_offset_seconds and dev.clock_principal need dev.clock_control",
                );
            }
            return Ok(());
        }
        if !cfg!(feature = "dev-clock") {
            return rejected(
                "dev.clock_control needs a build with the dev-clock feature (cargo build --features dev-clock)",
            );
        }
        if !(0..=MAX_ADVANCE_SECONDS).contains(&self.clock_offset_seconds) {
            return rejected(&format!(
                "dev.clock_offset_seconds must be between 0 and {MAX_ADVANCE_SECONDS}"
            ));
        }
        let Some(principal) = &self.clock_principal else {
            return rejected("dev.clock_control needs dev.clock_principal");
        };
        if !settings
            .credentials
            .iter()
            .any(|c| &c.principal == principal)
        {
            return rejected(
                "dev.clock_principal must be the principal of a [[credentials]] entry",
            );
        }
        if settings.aws.admin_principals.contains(principal) {
            return rejected("dev.clock_principal must not be an admin principal");
        }
        Ok(())
    }
}

impl HsmSettings {
    /// Reads the user PIN from the environment variable or file named in settings.
    pub fn user_pin(&self) -> Result<Zeroizing<String>, SettingsError> {
        read_secret(
            self.user_pin_env.as_deref(),
            self.user_pin_file.as_deref(),
            None,
        )
        .ok_or_else(|| {
            SettingsError::Secret(
                "set hsm.user_pin_env (and that variable) or hsm.user_pin_file".into(),
            )
        })?
    }
}
