//! hsmkms: a key management daemon that speaks the AWS KMS API and keeps every key inside a
//! PKCS#11 token. `api` speaks the protocol, `kms` holds the domain and its rules, `hsm` talks
//! to the token, `store` keeps the metadata sidecar.

pub mod api;
pub mod config;
pub mod hsm;
pub mod kms;
pub mod store;

use std::sync::Arc;

use config::Settings;
use hsm::Hsm;
use kms::{Identity, Kms, SystemClock};
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
}

/// Opens the sidecar and the token and builds the service.
pub async fn open(settings: &Settings) -> Result<Arc<Kms>, StartError> {
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
    let kms = Kms::start(hsm, store, identity, Arc::new(SystemClock)).await?;
    Ok(Arc::new(kms))
}
