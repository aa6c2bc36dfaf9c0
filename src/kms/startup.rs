//! Start-up reconciliation of the sidecar against the token, and the intent rows that make
//! it possible: a token object is recorded before it is made, so a crash leaves nothing
//! that start-up cannot find and undo.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use uuid::Uuid;

use super::model::{Custody, Key, Material, MaterialState, RotationType};
use super::{Kms, KmsError, Millis};
use crate::hsm::Origin;

/// A material version whose token object is about to be made.
pub(super) fn pending_material(id: Uuid, rotation: Option<RotationType>, now: Millis) -> Material {
    Material {
        id,
        state: MaterialState::PendingGeneration,
        custody: Custody::TokenObject,
        created_at: now,
        rotation_type: rotation,
        import: None,
    }
}

/// Whether `material` should have a token object under its id.
fn has_token_object(material: &Material) -> bool {
    // Wrapped material's blob stays in the sidecar: it has no token object to find or vet.
    material.state.holds_material() && material.custody != Custody::Wrapped
}

/// Whether a material in `state` was left halfway by a crash, for start-up to roll back.
fn interrupted(state: MaterialState) -> bool {
    matches!(
        state,
        MaterialState::PendingGeneration | MaterialState::PendingImport
    )
}

impl Kms {
    /// Loads the keys, finishes what a crash interrupted, and reports orphans on either side.
    pub(super) async fn reconcile(&self) -> Result<(), KmsError> {
        self.roll_back_unfinished().await?;
        let mut policies = HashSet::from([self.default_policy.clone()]);
        let mut keys = self
            .blocking(move |store| store.load_keys(&mut policies))
            .await?;
        let aliases = self.blocking(|store| store.aliases()).await?;
        let mut on_token: HashMap<_, _> = self.hsm.known_keys().into_iter().collect();
        // A token object no loaded material names is an orphan, unless a row of a key not
        // loaded (a tombstone) names it: only those few are looked up.
        let mut unmatched: HashSet<Uuid> = on_token.keys().copied().collect();
        if !unmatched.is_empty() {
            for material in keys.values().flat_map(|k| &k.materials) {
                unmatched.remove(&material.id);
            }
        }
        let unmatched: Vec<Uuid> = unmatched.into_iter().collect();
        let orphans = self
            .blocking(move |store| store.unknown_materials(&unmatched))
            .await?;
        for orphan in &orphans {
            tracing::warn!(material_id = %orphan, "token key object has no sidecar row; left in place");
        }
        for key in keys.values() {
            self.refuse_foreign_objects(key, &mut on_token);
            let live = key.materials.iter().filter(|m| has_token_object(m));
            for material in live.filter(|m| !on_token.contains_key(&m.id)) {
                tracing::error!(
                    key_id = %key.id, material_id = %material.id,
                    "key material is recorded but its token object is missing"
                );
            }
        }
        let unfinished: Vec<Uuid> = (keys.values())
            .filter(|k| k.materials.iter().any(|m| interrupted(m.state)))
            .map(|k| k.id)
            .collect();
        for id in unfinished {
            if let Some(key) = keys.get_mut(&id) {
                let key = Arc::make_mut(key);
                self.roll_back_unfinished_rotations(key).await?;
                self.roll_back_unfinished_imports(key).await?;
            }
        }
        tracing::info!(keys = keys.len(), aliases = aliases.len(), "sidecar loaded");
        self.keys
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .append(&mut keys);
        let mut map = self
            .aliases
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.extend(aliases);
        Ok(())
    }

    /// A generated material must be a token-generated object and an imported one an
    /// unwrapped one (CKA_LOCAL): an object made otherwise under the same CKA_ID is not
    /// the material the sidecar recorded, and is not used.
    fn refuse_foreign_objects(&self, key: &Key, on_token: &mut HashMap<Uuid, Origin>) {
        for material in key.materials.iter().filter(|m| has_token_object(m)) {
            let expected = match material.import {
                Some(_) => Origin::Unwrapped,
                None => Origin::Generated,
            };
            let Some(found) = on_token.get(&material.id).copied() else {
                continue;
            };
            if found != expected {
                tracing::error!(
                    key_id = %key.id, material_id = %material.id, ?found, ?expected,
                    "the token object under this material id was not made the way the sidecar records; not used"
                );
                self.hsm.refuse(material.id);
                on_token.remove(&material.id);
            }
        }
    }

    /// Records `material` of `key` in the sidecar only (the cached key does not show it)
    /// before its token object exists. Call with the write lock held.
    pub(super) async fn record_pending_material(
        &self,
        key: &Key,
        material: Material,
    ) -> Result<(), KmsError> {
        let mut pending = key.clone();
        pending.materials.push(material);
        self.blocking(move |store| store.save_key(&pending)).await
    }

    /// Drops the row of a pending material whose token object was never made or is gone
    /// again; a failure is logged, and start-up removes the row.
    pub(super) async fn forget_pending_material(&self, id: Uuid) {
        if let Err(e) = self.blocking(move |store| store.delete_material(id)).await {
            tracing::error!(material_id = %id, error = %e, "cannot drop a pending key material row");
        }
    }

    /// An import interrupted by a crash may have left a token object under a PENDING_IMPORT
    /// version before its check value was compared: destroy it, vetted or not (the import
    /// was never acknowledged, and the caller imports again).
    async fn roll_back_unfinished_imports(&self, key: &Key) -> Result<(), KmsError> {
        let unfinished = key
            .materials
            .iter()
            .filter(|m| m.state == MaterialState::PendingImport);
        for material in unfinished {
            let destroyed = self
                .hsm
                .destroy_key(material.id)
                .await
                .map_err(KmsError::internal)?;
            if destroyed > 0 {
                tracing::warn!(key_id = %key.id, material_id = %material.id, "rolled back an interrupted import");
            }
        }
        Ok(())
    }

    /// A rotation or an import interrupted by a crash left a PENDING_GENERATION version
    /// that never became usable: destroy its token object, if any, and forget it.
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
