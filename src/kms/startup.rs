//! Start-up reconciliation of the sidecar against the token.

use std::collections::HashSet;

use super::model::{Key, MaterialState};
use super::{Kms, KmsError};

impl Kms {
    /// Loads the keys, finishes what a crash interrupted, and reports orphans on either side.
    pub(super) async fn reconcile(&self) -> Result<(), KmsError> {
        self.roll_back_unfinished().await?;
        let keys = self.blocking(|store| store.load_keys()).await?;
        let aliases = self.blocking(|store| store.aliases()).await?;
        let on_token: HashSet<_> = self.hsm.known_keys().into_iter().collect();
        let in_store: HashSet<_> = self
            .blocking(|store| store.material_ids())
            .await?
            .into_iter()
            .collect();
        for orphan in on_token.difference(&in_store) {
            tracing::warn!(material_id = %orphan, "token key object has no sidecar row; left in place");
        }
        for key in &keys {
            let live = key
                .materials
                .iter()
                .filter(|m| m.state == MaterialState::Enabled);
            for material in live.filter(|m| !on_token.contains(&m.id)) {
                tracing::error!(
                    key_id = %key.id, material_id = %material.id,
                    "key material is recorded but its token object is missing"
                );
            }
        }
        let mut keys = keys;
        for key in &mut keys {
            self.roll_back_unfinished_rotations(key).await?;
        }
        tracing::info!(keys = keys.len(), aliases = aliases.len(), "sidecar loaded");
        for key in keys {
            self.remember(key);
        }
        let mut map = self
            .aliases
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.extend(aliases);
        Ok(())
    }

    /// A rotation interrupted by a crash left a PENDING_GENERATION version that never
    /// became current: destroy its token object, if any, and forget it.
    async fn roll_back_unfinished_rotations(&self, key: &mut Key) -> Result<(), KmsError> {
        let unfinished: Vec<_> = key
            .materials
            .iter()
            .filter(|m| m.state == MaterialState::PendingGeneration)
            .map(|m| m.id)
            .collect();
        for id in unfinished {
            tracing::warn!(key_id = %key.id, material_id = %id, "rolling back an interrupted rotation");
            self.hsm.destroy_key(id).await.map_err(KmsError::internal)?;
            self.blocking(move |store| store.delete_material(id))
                .await?;
            key.materials.retain(|m| m.id != id);
        }
        Ok(())
    }

    /// A key still in the Creating state was never acknowledged: destroy whatever token
    /// object it got and drop its rows.
    async fn roll_back_unfinished(&self) -> Result<(), KmsError> {
        for unfinished in self.blocking(|store| store.unfinished_keys()).await? {
            tracing::warn!(
                key_id = %unfinished.key_id,
                "found a key interrupted during creation; rolling it back"
            );
            for material in &unfinished.materials {
                self.hsm
                    .destroy_key(*material)
                    .await
                    .map_err(KmsError::internal)?;
            }
            let key_id = unfinished.key_id;
            self.blocking(move |store| store.delete_unfinished(key_id))
                .await?;
        }
        Ok(())
    }
}
