//! Which custody new material gets, making material in it, and letting go of unwrapped
//! copies a key may no longer use. A key keeps the custody it was made in: its new
//! versions follow its first one, whatever the deployment's default is now.

use uuid::Uuid;

use super::model::{Custody, Key, Material, MaterialState, RotationType};
use super::rules::KeyState;
use super::startup::pending_material;
use super::{asym, Kms, KmsError};
use crate::hsm::{HsmError, WrappedBlob};

impl Kms {
    /// The custody of `key`'s next material: its first material's, or for a new key the
    /// deployment's default. Only AES material is wrapped; key pairs and HMAC keys stay
    /// token objects.
    pub(super) fn custody_for(&self, key: &Key) -> Custody {
        if asym::material(key.spec) != asym::Material::Aes {
            return Custody::TokenObject;
        }
        match key.materials.first() {
            Some(first) => first.custody,
            None if self.hsm.wraps_new_keys() => Custody::Wrapped,
            None => Custody::TokenObject,
        }
    }

    /// Makes the material `id` of `key` in `custody`: a token object, or a wrapped blob to
    /// store (nothing stays in the token).
    pub(super) async fn generate_material(
        &self,
        key: &Key,
        id: Uuid,
        custody: Custody,
    ) -> Result<Option<WrappedBlob>, HsmError> {
        let owner = key.id.to_string();
        if custody == Custody::Wrapped {
            return self.hsm.generate_wrapped(id, owner).await.map(Some);
        }
        match asym::material(key.spec) {
            asym::Material::Aes => self.hsm.generate_key(id, owner).await,
            asym::Material::Pair(kind) => {
                let usage = asym::pair_use(key.usage);
                self.hsm.generate_key_pair(id, owner, kind, usage).await
            }
            asym::Material::Hmac(len, hash) => {
                self.hsm.generate_hmac_key(id, owner, (len, hash)).await
            }
        }
        .map(|()| None)
    }

    /// A new material version of `key`, made and stored but not yet in the cached key.
    /// Crash-safe: recorded PENDING_GENERATION first, which start-up removes. `name` is
    /// what an error names. Call with the write lock held.
    pub(super) async fn generate_version(
        &self,
        key: &Key,
        rotation: Option<RotationType>,
        name: &str,
    ) -> Result<Material, KmsError> {
        let mut material = pending_material(Uuid::new_v4(), rotation, self.clock.now());
        material.custody = self.custody_for(key);
        self.record_pending_material(key, material.clone()).await?;
        let id = material.id;
        let stored = match self.generate_material(key, id, material.custody).await {
            Ok(Some(blob)) => self.blocking(move |s| s.save_wrapped(id, &blob)).await,
            Ok(None) => Ok(()),
            Err(e) => Err(KmsError::from_hsm(e, name)),
        };
        if let Err(e) = stored {
            self.forget_pending_material(id).await;
            return Err(e);
        }
        material.state = MaterialState::Enabled;
        Ok(material)
    }

    /// Whether the material `id` of `key` can be reached: a token object the index knows,
    /// or wrapped material while the token holds the KEK.
    pub(super) fn reachable(&self, key: &Key, id: Uuid) -> bool {
        match key.material(id).map(|m| m.custody) {
            Some(Custody::Wrapped) => self.hsm.has_kek(),
            _ => self.hsm.is_known(id),
        }
    }

    /// Destroys the unwrapped session objects of `key`'s wrapped material that may not be
    /// used now (the key or the version is not enabled); a failure is logged, and the
    /// idle sweep or shutdown destroys them later.
    pub(super) async fn evict_unusable(&self, key: &Key) {
        let unusable: Vec<Uuid> = (key.materials.iter())
            .filter(|m| m.custody == Custody::Wrapped)
            .filter(|m| key.state != KeyState::Enabled || m.state != MaterialState::Enabled)
            .map(|m| m.id)
            .filter(|id| self.hsm.holds_unwrapped(*id))
            .collect();
        if unusable.is_empty() {
            return;
        }
        if let Err(e) = self.hsm.evict_wrapped(unusable).await {
            tracing::warn!(key_id = %key.id, error = %e, "cannot destroy unwrapped session objects");
        }
    }
}
