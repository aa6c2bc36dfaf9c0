//! The daemon's own HMAC keys in the token: one authenticates import tokens, one signs
//! audit-log checkpoints. Created on first start, sensitive and never extractable.

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::session::Session;
use uuid::Uuid;

use super::vetting::{self, Kind};
use super::{templates, Fault, Hsm, HsmError, Inner};

/// A token-resident HMAC-SHA256 key of the daemon's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemKey {
    /// Authenticates the import tokens GetParametersForImport hands out.
    ImportToken,
    /// Signs the audit log's checkpoints.
    AuditCheckpoint,
    /// Binds each wrapped blob in the sidecar to its material id (wrapped custody).
    WrappedBinding,
}

impl SystemKey {
    const ALL: [SystemKey; 3] = [
        SystemKey::ImportToken,
        SystemKey::AuditCheckpoint,
        SystemKey::WrappedBinding,
    ];

    /// Its CKA_ID.
    pub(super) fn id(self) -> Uuid {
        match self {
            SystemKey::ImportToken => Uuid::from_u128(0x6873_6d6b_6d73_4000_8000_0000_0000_0001),
            SystemKey::AuditCheckpoint => {
                Uuid::from_u128(0x6873_6d6b_6d73_4000_8000_0000_0000_0002)
            }
            SystemKey::WrappedBinding => Uuid::from_u128(0x6873_6d6b_6d73_4000_8000_0000_0000_0003),
        }
    }

    /// Its CKA_LABEL.
    pub fn label(self) -> &'static str {
        match self {
            SystemKey::ImportToken => "hsmkms-system/import-token-mac",
            SystemKey::AuditCheckpoint => "hsmkms-system/audit-checkpoint-mac",
            SystemKey::WrappedBinding => "hsmkms-system/wrapped-binding-mac",
        }
    }
}

impl Hsm {
    /// HMAC-SHA256 of `data` under `key`.
    pub async fn mac(&self, key: SystemKey, data: Vec<u8>) -> Result<Vec<u8>, HsmError> {
        self.call(move |inner, session| {
            inner.with_handle(session, key.id(), Kind::System, |handle| {
                session.sign(&Mechanism::Sha256Hmac, handle, &data)
            })
        })
        .await
    }

    /// Whether `mac` is the HMAC-SHA256 of `data` under `key`.
    pub async fn verify_mac(
        &self,
        key: SystemKey,
        data: Vec<u8>,
        mac: Vec<u8>,
    ) -> Result<bool, HsmError> {
        self.call(move |inner, session| {
            inner.with_handle(session, key.id(), Kind::System, |handle| {
                verified(session.verify(&Mechanism::Sha256Hmac, handle, &data, &mac))
            })
        })
        .await
    }
}

impl Inner {
    /// Creates each system key the first time the daemon runs on a token, and refuses to
    /// start when one is duplicated or fails vetting: a planted key would sign checkpoints
    /// and import tokens someone else can forge.
    pub(super) fn ensure_system_keys(&self, session: &Session) -> Result<(), HsmError> {
        for key in SystemKey::ALL {
            let id = key.id();
            match session.find_objects(&templates::by_id(id))?.as_slice() {
                [] => {
                    let template = templates::system_mac_key(id, key.label(), self.restrict);
                    session.generate_key(&Mechanism::GenericSecretKeyGen, &template)?;
                    tracing::info!(key = key.label(), "created a system key in the token");
                }
                [handle] => {
                    if let Err(why) = vetting::vet(session, *handle, Kind::System)? {
                        return Err(refused(key, &why));
                    }
                }
                _ => return Err(refused(key, "several objects carry its CKA_ID")),
            }
            self.handle(session, id, Kind::System)?;
        }
        Ok(())
    }
}

/// A verification's answer: a wrong MAC is `false`, not an error.
pub(super) fn verified(result: Result<(), CkError>) -> Result<bool, CkError> {
    match result {
        Ok(()) => Ok(true),
        Err(CkError::Pkcs11(RvError::SignatureInvalid | RvError::SignatureLenRange, _)) => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

fn refused(key: SystemKey, why: &str) -> HsmError {
    HsmError::new(
        Fault::Other,
        format!("system key {} is not trustworthy: {why}", key.label()),
    )
}
