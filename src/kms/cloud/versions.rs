//! Crypto key versions: create, get, list, enable and disable, destroy and restore, and the
//! scheduler's destruction of versions whose time came. Every state change follows
//! [`super::rules`].

use std::sync::Arc;

use uuid::Uuid;

use super::resources::{admitted, version_number};
use super::rules::{self, Outcome, VersionOp};
use super::{invalid, not_found, precondition, CryptoKey, Name, VersionNote};
use crate::kms::changes::Change;
use crate::kms::model::{Key, Material, MaterialState};
use crate::kms::{Caller, Kms, KmsError, Millis};

/// A version as the API shows it.
#[derive(Debug, Clone)]
pub struct VersionView {
    /// `<crypto key>/cryptoKeyVersions/N`.
    pub name: String,
    /// The version's material.
    pub material: Material,
    /// Its crypto key.
    pub crypto: CryptoKey,
    /// When it is to be destroyed (DESTROY_SCHEDULED only).
    pub destroy_at: Option<Millis>,
    /// Its import job and import failure, for imported versions.
    pub note: VersionNote,
}

impl Kms {
    /// The key, crypto key and material a version name means.
    pub(super) fn version(&self, name: &str) -> Result<(Arc<Key>, CryptoKey, Material), KmsError> {
        let parsed = Name::parse(name).filter(|n| n.version.is_some());
        let parsed = parsed.ok_or_else(|| invalid(format!("Invalid version name: {name}.")))?;
        let (key, crypto) = self.crypto_key(&parsed)?;
        let index = parsed.version.map_or(0, |n| n as usize) - 1;
        let material = key
            .materials
            .get(index)
            .filter(|m| m.state != MaterialState::PendingGeneration)
            .cloned()
            .ok_or_else(|| not_found(name))?;
        Ok((key, crypto, material))
    }

    pub(super) fn version_view(
        &self,
        key: &Key,
        crypto: &CryptoKey,
        material: &Material,
    ) -> VersionView {
        let number = version_number(key, material.id).unwrap_or(0);
        VersionView {
            name: format!("{}/cryptoKeyVersions/{number}", crypto.name),
            material: material.clone(),
            crypto: crypto.clone(),
            destroy_at: self.cloud_index().destroy_at.get(&material.id).copied(),
            note: self
                .cloud_index()
                .notes
                .get(&material.id)
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// GetCryptoKeyVersion.
    pub fn get_version(&self, caller: &Caller, name: &str) -> Result<VersionView, KmsError> {
        admitted(caller)?;
        let (key, crypto, material) = self.version(name)?;
        Ok(self.version_view(&key, &crypto, &material))
    }

    /// ListCryptoKeyVersions, in version order, optionally only those in `state`.
    pub fn list_versions(
        &self,
        caller: &Caller,
        parent: &str,
        state: Option<&str>,
    ) -> Result<Vec<VersionView>, KmsError> {
        let view = self.get_crypto_key(caller, parent)?;
        let shown = view
            .key
            .materials
            .iter()
            .filter(|m| m.state != MaterialState::PendingGeneration)
            .filter(|m| state.is_none_or(|s| s == rules::state_name(m.state)));
        Ok(shown
            .map(|m| self.version_view(&view.key, &view.crypto, m))
            .collect())
    }

    /// CreateCryptoKeyVersion: new material generated in the token. It becomes primary
    /// only if the key has none.
    pub async fn create_version(
        &self,
        caller: &Caller,
        parent: &str,
    ) -> Result<VersionView, KmsError> {
        let view = self.get_crypto_key(caller, parent)?;
        if view.crypto.import_only {
            return Err(precondition(format!(
                "{parent} is importOnly: its versions are imported."
            )));
        }
        let _writing = self.writes.lock().await;
        let key = self.key(view.key.id).ok_or_else(|| not_found(parent))?;
        let material = (self.generate_version(&key, None, &view.crypto.name)).await?;
        let mut next = Key::clone(&key);
        next.materials.push(material.clone());
        if next.current_material.is_none() {
            next.current_material = Some(material.id);
        }
        let saved = self.save(next).await?;
        tracing::info!(key_id = %key.id, material_id = %material.id, "crypto key version created");
        Ok(self.version_view(&saved, &view.crypto, &material))
    }

    /// UpdateCryptoKeyVersion of `state` (ENABLED or DISABLED).
    pub async fn set_version_state(
        &self,
        caller: &Caller,
        name: &str,
        enabled: bool,
    ) -> Result<VersionView, KmsError> {
        let op = match enabled {
            true => VersionOp::Enable,
            false => VersionOp::Disable,
        };
        self.change_version(caller, name, op).await
    }

    /// DestroyCryptoKeyVersion: DESTROY_SCHEDULED until the key's destroy duration passes.
    pub async fn destroy_version(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<VersionView, KmsError> {
        self.change_version(caller, name, VersionOp::Destroy).await
    }

    /// RestoreCryptoKeyVersion: back to DISABLED, its destruction cancelled.
    pub async fn restore_version(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<VersionView, KmsError> {
        self.change_version(caller, name, VersionOp::Restore).await
    }

    async fn change_version(
        &self,
        caller: &Caller,
        name: &str,
        op: VersionOp,
    ) -> Result<VersionView, KmsError> {
        admitted(caller)?;
        let _writing = self.writes.lock().await;
        let (key, crypto, material) = self.version(name)?;
        let to = match rules::outcome(op, material.state) {
            Outcome::Refused => return Err(refused(name, op, material.state)),
            Outcome::Same => return Ok(self.version_view(&key, &crypto, &material)),
            Outcome::To(state) => state,
        };
        let destroy_at = match to {
            MaterialState::DestroyScheduled => {
                Some(self.clock.now().saturating_add(crypto.destroy_scheduled_ms))
            }
            _ => None,
        };
        self.blocking(move |s| s.set_destroy_at(material.id, destroy_at))
            .await?;
        self.set_destroy_index(material.id, destroy_at);
        let saved = self.save(with_state(&key, material.id, to)).await?;
        let material = saved
            .material(material.id)
            .cloned()
            .ok_or_else(|| not_found(name))?;
        tracing::info!(key_id = %key.id, material_id = %material.id, state = rules::state_name(to), "crypto key version changed");
        Ok(self.version_view(&saved, &crypto, &material))
    }

    /// Records a version's note durably, then in memory.
    pub(super) async fn save_note(
        &self,
        material_id: Uuid,
        note: VersionNote,
    ) -> Result<(), KmsError> {
        let kept = note.clone();
        self.blocking(move |s| s.save_version_note(material_id, &kept))
            .await?;
        self.cloud_index_mut().notes.insert(material_id, note);
        Ok(())
    }

    fn set_destroy_index(&self, material: Uuid, at: Option<Millis>) {
        let mut index = self.cloud_index_mut();
        match at {
            Some(at) => index.destroy_at.insert(material, at),
            None => index.destroy_at.remove(&material),
        };
    }

    /// Destroys the token objects of versions whose destroy time passed: DESTROYED keeps
    /// the version's metadata only.
    pub(super) async fn destroy_due_versions(&self, now: Millis) {
        let due: Vec<Uuid> = self
            .cloud_index()
            .destroy_at
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| *id)
            .collect();
        for material_id in due {
            if let Err(e) = self.destroy_scheduled(material_id).await {
                tracing::error!(%material_id, error = %e, "cannot destroy a key version; will retry");
            }
        }
    }

    async fn destroy_scheduled(&self, material_id: Uuid) -> Result<(), KmsError> {
        let _writing = self.writes.lock().await;
        let key = {
            let keys = self
                .keys
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            keys.values()
                .find(|k| k.material(material_id).is_some())
                .cloned()
        };
        let Some(key) = key else {
            self.set_destroy_index(material_id, None);
            return Ok(());
        };
        self.hsm
            .destroy_key(material_id)
            .await
            .map_err(|e| KmsError::from_hsm(e, &self.arn(&key)))?;
        self.save(with_state(&key, material_id, MaterialState::Destroyed))
            .await?;
        self.blocking(move |s| s.set_destroy_at(material_id, None))
            .await?;
        self.set_destroy_index(material_id, None);
        let mut note = self
            .cloud_index()
            .notes
            .get(&material_id)
            .cloned()
            .unwrap_or_default();
        note.destroyed_at = Some(self.clock.now());
        self.save_note(material_id, note).await?;
        tracing::info!(key_id = %key.id, %material_id, "crypto key version destroyed");
        self.record_change(Change {
            what: "KeyVersionDestroyed",
            key_id: key.id,
            subject: Some(material_id),
            from: rules::state_name(MaterialState::DestroyScheduled),
            to: rules::state_name(MaterialState::Destroyed),
            trigger: "scheduler: the version's destroy time passed",
        })
        .await;
        Ok(())
    }
}

fn with_state(key: &Key, material: Uuid, state: MaterialState) -> Key {
    let mut next = key.clone();
    for m in next.materials.iter_mut().filter(|m| m.id == material) {
        m.state = state;
    }
    next
}

/// FAILED_PRECONDITION naming the version's state, as Cloud KMS words it.
pub(super) fn refused(name: &str, op: VersionOp, state: MaterialState) -> KmsError {
    let state = rules::state_name(state);
    let message = match op {
        VersionOp::Use | VersionOp::PublicKey => {
            format!("{name} is not enabled, current state is: {state}.")
        }
        VersionOp::Restore => {
            format!("{name} is not scheduled for destruction, current state is: {state}.")
        }
        _ => format!("{name} cannot be changed in state {state}."),
    };
    precondition(message)
}
