//! hsmkms: a key management daemon that speaks the AWS KMS API and keeps every key inside a
//! PKCS#11 token. `api` speaks the protocol, `kms` holds the domain and its rules, `hsm` talks
//! to the token, `store` keeps the metadata sidecar.

pub mod api;
pub mod audit;
pub mod config;
pub mod hsm;
pub mod kms;
pub mod metrics;
pub mod store;

use std::sync::Arc;

use config::Settings;
use hsm::Hsm;
use kms::{Clock, Identity, Kms, Principals};
use store::Store;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad settings or an unreadable PIN.
    #[error(transparent)]
    Settings(#[from] config::SettingsError),
    /// The token could not be opened or logged in to.
    #[error("token: {0}")]
    Hsm(#[from] hsm::HsmError),
    /// The sidecar could not be opened or migrated.
    #[error("sidecar: {0}")]
    Store(#[from] store::StoreError),
    /// Start-up reconciliation failed.
    #[error("start-up: {0}")]
    Kms(#[from] kms::KmsError),
    /// The audit log could not be opened.
    #[error(transparent)]
    Audit(#[from] audit::AuditError),
}

/// The opened service: the domain and the audit log every request is recorded in.
pub struct Opened {
    /// The key management service.
    pub kms: Arc<Kms>,
    /// The audit log.
    pub audit: Arc<audit::AuditLog>,
    /// The scheduler's task, stopped at shutdown.
    pub scheduler: kms::scheduler::Running,
}

/// Opens the sidecar, the token and the audit log, and builds the service.
pub async fn open(settings: &Settings) -> Result<Opened, StartError> {
    let store = Store::open(&settings.store.path)?;
    let pin = settings.hsm.user_pin()?;
    let hsm_settings = settings.hsm.clone();
    let hsm = tokio::task::spawn_blocking(move || Hsm::open(&hsm_settings, pin))
        .await
        .map_err(|e| hsm::HsmError::new(hsm::Fault::Other, e.to_string()))??;
    let identity = Identity {
        region: settings.aws.region.clone(),
        account: settings.aws.account_id.clone(),
    };
    let configured = (settings.credentials.iter().map(|c| c.principal.as_str()))
        .chain(settings.aws.admin_principals.iter().map(String::as_str));
    let principals = Principals::new(&identity.account, configured);
    let sidecar = store.clone();
    hsm.set_wrapped_source(Arc::new(move |id| {
        sidecar.wrapped_material(id).map_err(|e| e.to_string())
    }));
    let clock = clock(settings, &hsm)?;
    let audit = Arc::new(open_audit(settings, &hsm).await?);
    let kms = Kms::start(
        hsm,
        store,
        identity,
        principals,
        Arc::new(clock),
        audit.clone(),
    )
    .await?;
    let kms = Arc::new(kms);
    let every = std::time::Duration::from_secs(settings.scheduler.interval_seconds);
    let scheduler = kms::scheduler::spawn(kms.clone(), every);
    Ok(Opened {
        kms,
        audit,
        scheduler,
    })
}

/// `hsmkms audit verify`: checks the chain in `path` (a directory of log files, from the
/// first record ever; or one file, from its first record) and its checkpoints against the
/// token's audit key.
pub async fn verify_audit(
    settings: &Settings,
    path: &std::path::Path,
) -> Result<Result<audit::Report, audit::Problem>, StartError> {
    let pin = settings.hsm.user_pin()?;
    let hsm_settings = settings.hsm.clone();
    let hsm = tokio::task::spawn_blocking(move || Hsm::open(&hsm_settings, pin))
        .await
        .map_err(|e| hsm::HsmError::new(hsm::Fault::Other, e.to_string()))??;
    let (files, from_genesis) = match path.is_dir() {
        true => (audit::files_in(path), true),
        false => (Ok(vec![path.to_path_buf()]), false),
    };
    let files = files.map_err(|e| audit::AuditError(format!("{}: {e}", path.display())))?;
    let runtime = tokio::runtime::Handle::current();
    let checked = tokio::task::spawn_blocking(move || {
        audit::verify(&files, from_genesis, |message, mac| {
            let key = hsm::SystemKey::AuditCheckpoint;
            runtime
                .block_on(hsm.verify_mac(key, message.to_vec(), mac.to_vec()))
                .map_err(|e| e.to_string())
        })
    })
    .await
    .map_err(|e| audit::AuditError(e.to_string()))?;
    Ok(checked)
}

/// The audit log, checkpointed by the token's audit key; off only on a development token.
async fn open_audit(settings: &Settings, hsm: &Hsm) -> Result<audit::AuditLog, StartError> {
    if !settings.audit.enabled {
        if !hsm.is_software_token() {
            return Err(config::SettingsError::Rejected(
                "audit.enabled = false is refused on a hardware token".into(),
            )
            .into());
        }
        tracing::warn!("THE AUDIT LOG IS OFF (audit.enabled = false): requests are not recorded. Development only.");
        return Ok(audit::AuditLog::disabled());
    }
    let options = audit::Options {
        dir: settings.audit_dir(),
        rotate_bytes: settings.audit.rotate_bytes,
        checkpoint_every: std::time::Duration::from_secs(settings.audit.checkpoint_seconds),
        commit_delay: std::time::Duration::from_micros(settings.audit.commit_delay_micros),
    };
    tracing::info!(dir = %options.dir.display(), "audit log");
    let (hsm, runtime) = (hsm.clone(), tokio::runtime::Handle::current());
    let signer: audit::Signer = Box::new(move |message| {
        runtime
            .block_on(hsm.mac(hsm::SystemKey::AuditCheckpoint, message))
            .map_err(|e| e.to_string())
    });
    let log = tokio::task::spawn_blocking(move || audit::AuditLog::open(options, signer))
        .await
        .map_err(|e| audit::AuditError(e.to_string()))??;
    Ok(log)
}

/// The system clock: this build has no movable one (settings refuse `dev.clock_control`).
#[cfg(not(feature = "dev-clock"))]
fn clock(_settings: &Settings, _hsm: &Hsm) -> Result<Clock, StartError> {
    Ok(Clock::system())
}

/// The system clock, or a movable one for development, which is refused unless the token
/// is SoftHSM2: no hardware token ever runs with a movable clock.
#[cfg(feature = "dev-clock")]
fn clock(settings: &Settings, hsm: &Hsm) -> Result<Clock, StartError> {
    if !settings.dev.clock_control {
        return Ok(Clock::system());
    }
    if !hsm.is_software_token() {
        return Err(config::SettingsError::Rejected(
            "dev.clock_control is refused on a hardware token".into(),
        )
        .into());
    }
    tracing::warn!(
        offset_seconds = settings.dev.clock_offset_seconds,
        "DEVELOPMENT CLOCK CONTROL IS ON: HsmKmsDev.AdvanceClock can move time forward, \
         which deletes keys and rotates material early. Never use this in production."
    );
    Ok(Clock::controllable(settings.dev.clock_offset_seconds))
}
