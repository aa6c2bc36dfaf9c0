//! EnableKey, DisableKey, ScheduleKeyDeletion, CancelKeyDeletion, UpdateKeyDescription,
//! and the deletion itself when the date passes.

use std::sync::{Arc, PoisonError};

use super::changes::{Change, DELETED};
use super::clock::days;
use super::model::{Key, MaterialState, Origin};
use super::rules::{KeyState, Op};
use super::{Kms, KmsError, Millis};

impl Kms {
    /// EnableKey.
    pub async fn enable_key(&self, key_id: &str) -> Result<(), KmsError> {
        self.set_state(key_id, Op::EnableKey, KeyState::Enabled)
            .await
    }

    /// DisableKey.
    pub async fn disable_key(&self, key_id: &str) -> Result<(), KmsError> {
        self.set_state(key_id, Op::DisableKey, KeyState::Disabled)
            .await
    }

    async fn set_state(&self, key_id: &str, op: Op, state: KeyState) -> Result<(), KmsError> {
        let key = self
            .update_key(key_id, op, |key| {
                key.state = state;
                Ok(())
            })
            .await?;
        tracing::info!(key_id = %key.id, state = state.as_str(), "key state changed");
        Ok(())
    }

    /// ScheduleKeyDeletion: the key is destroyed `window_days` from now.
    pub async fn schedule_key_deletion(
        &self,
        key_id: &str,
        window_days: i64,
    ) -> Result<Arc<Key>, KmsError> {
        let deletion_date = self.clock.now().saturating_add(days(window_days));
        let key = self
            .update_key(key_id, Op::ScheduleKeyDeletion, |key| {
                key.state = KeyState::PendingDeletion;
                key.deletion_date = Some(deletion_date);
                key.pending_window_days = Some(window_days);
                Ok(())
            })
            .await?;
        tracing::info!(key_id = %key.id, deletion_date, "key deletion scheduled");
        Ok(key)
    }

    /// CancelKeyDeletion: the key comes back Disabled, as in AWS KMS; an EXTERNAL key whose
    /// material was deleted or expired meanwhile has nothing to enable and waits in
    /// PendingImport.
    pub async fn cancel_key_deletion(&self, key_id: &str) -> Result<Arc<Key>, KmsError> {
        let key = self
            .update_key(key_id, Op::CancelKeyDeletion, |key| {
                let usable = key
                    .current_material
                    .and_then(|id| key.material(id))
                    .is_some_and(|m| m.state == MaterialState::Enabled);
                key.state = if usable || key.origin != Origin::External {
                    KeyState::Disabled
                } else {
                    KeyState::PendingImport
                };
                key.deletion_date = None;
                key.pending_window_days = None;
                Ok(())
            })
            .await?;
        tracing::info!(key_id = %key.id, "key deletion cancelled");
        Ok(key)
    }

    /// UpdateKeyDescription.
    pub async fn update_key_description(
        &self,
        key_id: &str,
        description: String,
    ) -> Result<(), KmsError> {
        self.update_key(key_id, Op::UpdateKeyDescription, |key| {
            key.description = description;
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Destroys every key whose deletion date has passed: token objects first, then the
    /// sidecar keeps a tombstone. A failure leaves the key pending, to be retried.
    pub(super) async fn delete_due_keys(&self, now: Millis) {
        let due: Vec<Arc<Key>> = {
            let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
            keys.values()
                .filter(|k| k.state == KeyState::PendingDeletion)
                .filter(|k| k.deletion_date.is_some_and(|d| d <= now))
                .cloned()
                .collect()
        };
        for key in due {
            if let Err(e) = self.delete_key(&key, now).await {
                tracing::error!(key_id = %key.id, error = %e, "key deletion failed; will retry");
            }
        }
    }

    async fn delete_key(&self, key: &Key, now: Millis) -> Result<(), KmsError> {
        let _writing = self.writes.lock().await;
        // A CancelKeyDeletion may have come in since the key was picked.
        let still_due = self.key(key.id).is_some_and(|k| {
            k.state == KeyState::PendingDeletion && k.deletion_date.is_some_and(|d| d <= now)
        });
        if !still_due {
            return Ok(());
        }
        let live = key
            .materials
            .iter()
            .filter(|m| m.state != MaterialState::Destroyed);
        for material in live {
            self.hsm
                .destroy_key(material.id)
                .await
                .map_err(|e| KmsError::from_hsm(e, &self.arn(key)))?;
        }
        let id = key.id;
        self.blocking(move |store| store.tombstone_key(id)).await?;
        self.keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        self.drop_aliases_of(id);
        tracing::info!(key_id = %id, "key deleted: token objects destroyed");
        self.record_change(Change {
            what: "KeyDeleted",
            key_id: id,
            subject: None,
            from: KeyState::PendingDeletion.as_str(),
            to: DELETED,
            trigger: "scheduler: the deletion date passed",
        })
        .await;
        Ok(())
    }
}
