//! Key rotation: a new material version in the token becomes current; every older version
//! stays enabled, so every old ciphertext still decrypts.

use std::sync::{Arc, PoisonError};

use uuid::Uuid;

use super::changes::Change;
use super::clock::days;
use super::model::{Key, Material, MaterialState, Origin, Rotation, RotationType};
use super::paging::{page, Page};
use super::rules::{KeyState, Op};
use super::{ErrorKind, Kms, KmsError, Millis};

/// Rotation period when EnableKeyRotation names none.
pub const DEFAULT_PERIOD_DAYS: i64 = 365;
/// On-demand rotations allowed per key, as in AWS KMS.
const MAX_ON_DEMAND: usize = 25;

/// One entry of ListKeyRotations.
#[derive(Debug, Clone)]
pub struct RotationEntry {
    /// The material version.
    pub material: Material,
    /// Whether it is the version new encryptions use.
    pub current: bool,
}

impl Kms {
    /// EnableKeyRotation: rotate every `period_days`, the first time one period from now.
    pub async fn enable_key_rotation(
        &self,
        key_id: &str,
        period_days: i64,
    ) -> Result<(), KmsError> {
        let next_at = self.clock.now().saturating_add(days(period_days));
        self.update_key(key_id, Op::EnableKeyRotation, |key| {
            key.rotation = Rotation {
                enabled: true,
                period_days: Some(period_days),
                next_at: Some(next_at),
            };
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// DisableKeyRotation.
    pub async fn disable_key_rotation(&self, key_id: &str) -> Result<(), KmsError> {
        self.update_key(key_id, Op::DisableKeyRotation, |key| {
            key.rotation = Rotation::default();
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// GetKeyRotationStatus.
    pub fn key_rotation_status(&self, key_id: &str) -> Result<Arc<Key>, KmsError> {
        let key = self.checked_by_id(key_id, Op::GetKeyRotationStatus)?;
        Ok(key)
    }

    /// RotateKeyOnDemand.
    pub async fn rotate_key_on_demand(&self, key_id: &str) -> Result<Arc<Key>, KmsError> {
        let _writing = self.writes.lock().await;
        let key = self.checked_by_id(key_id, Op::RotateKeyOnDemand)?;
        if key.origin == Origin::External {
            return self.rotate_to_pending_import(&key).await;
        }
        let on_demand = key
            .materials
            .iter()
            .filter(|m| m.rotation_type == Some(RotationType::OnDemand))
            .count();
        if on_demand >= MAX_ON_DEMAND {
            return Err(KmsError::new(
                ErrorKind::LimitExceeded,
                format!(
                    "The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: {}",
                    self.arn(&key)
                ),
            ));
        }
        self.rotate(&key, RotationType::OnDemand).await
    }

    /// On-demand rotation of an EXTERNAL key: the material imported as NEW_KEY_MATERIAL
    /// becomes current. Call with the write lock held.
    async fn rotate_to_pending_import(&self, key: &Key) -> Result<Arc<Key>, KmsError> {
        let Some(pending) = key
            .materials
            .iter()
            .find(|m| m.state == MaterialState::PendingRotation)
            .map(|m| m.id)
        else {
            return Err(KmsError::new(
                ErrorKind::InvalidState,
                format!(
                    "No available key material pending rotation for the key: {}.",
                    self.arn(key)
                ),
            ));
        };
        let mut next = key.clone();
        for m in next.materials.iter_mut().filter(|m| m.id == pending) {
            m.state = MaterialState::Enabled;
            m.rotation_type = Some(RotationType::OnDemand);
        }
        next.current_material = Some(pending);
        let rotated = self.save(next).await?;
        tracing::info!(key_id = %key.id, material_id = %pending, "key rotated to imported material");
        Ok(rotated)
    }

    /// ListKeyRotations; with `all_material` the key's first material is listed too.
    pub fn list_key_rotations(
        &self,
        key_id: &str,
        all_material: bool,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<(Arc<Key>, Page<RotationEntry>), KmsError> {
        let key = self.checked_by_id(key_id, Op::ListKeyRotations)?;
        let entries = key
            .materials
            .iter()
            .filter(|m| m.state == MaterialState::Enabled)
            .filter(|m| all_material || m.rotation_type.is_some())
            .map(|m| {
                let sort_key = format!("{:020}/{}", m.created_at, m.id);
                let entry = RotationEntry {
                    material: m.clone(),
                    current: key.current_material == Some(m.id),
                };
                (sort_key, entry)
            })
            .collect::<Vec<_>>();
        Ok((key.clone(), page(entries, limit, marker)?))
    }

    /// Makes a new material version current. Crash-safe like CreateKey: the version is
    /// recorded as PENDING_GENERATION before its token object exists, and start-up removes
    /// versions left in that state. Call with the write lock held.
    async fn rotate(&self, key: &Key, kind: RotationType) -> Result<Arc<Key>, KmsError> {
        let material = (self.generate_version(key, Some(kind), &self.arn(key))).await?;
        let now = material.created_at;
        let mut next = key.clone();
        next.materials.push(material.clone());
        next.current_material = Some(material.id);
        if kind == RotationType::Automatic {
            let period = next.rotation.period_days.unwrap_or(DEFAULT_PERIOD_DAYS);
            next.rotation.next_at = Some(now.saturating_add(days(period)));
        }
        let rotated = self.save(next).await?;
        tracing::info!(key_id = %key.id, material_id = %material.id, kind = kind.as_str(), "key rotated");
        Ok(rotated)
    }

    /// Rotates every enabled key whose automatic rotation is due. A disabled key waits: it
    /// rotates at the first run after it is enabled again.
    pub(super) async fn rotate_due_keys(&self, now: Millis) {
        let due: Vec<Uuid> = {
            let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
            keys.values()
                .filter(|k| k.state == KeyState::Enabled && k.rotation.enabled)
                .filter(|k| k.rotation.next_at.is_some_and(|at| at <= now))
                .map(|k| k.id)
                .collect()
        };
        for id in due {
            let _writing = self.writes.lock().await;
            // The key may have been disabled or rotated since it was picked.
            let Some(key) = self.key(id).filter(|k| {
                k.state == KeyState::Enabled && k.rotation.next_at.is_some_and(|at| at <= now)
            }) else {
                continue;
            };
            match self.rotate(&key, RotationType::Automatic).await {
                Ok(rotated) => {
                    self.record_change(Change {
                        what: "KeyRotated",
                        key_id: id,
                        subject: rotated.current_material,
                        from: key.state.as_str(),
                        to: rotated.state.as_str(),
                        trigger: "scheduler: the rotation period elapsed",
                    })
                    .await
                }
                Err(e) => {
                    tracing::error!(key_id = %id, error = %e, "automatic rotation failed; will retry")
                }
            }
        }
    }
}
