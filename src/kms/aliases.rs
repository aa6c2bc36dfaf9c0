//! Aliases: friendly names for keys.

use std::sync::PoisonError;

use uuid::Uuid;

use super::Kms;

impl Kms {
    /// Forgets the aliases of a deleted key (the sidecar rows go with its tombstone).
    pub(super) fn drop_aliases_of(&self, key_id: Uuid) {
        let mut aliases = self.aliases.write().unwrap_or_else(PoisonError::into_inner);
        aliases.retain(|_, target| *target != key_id);
    }
}
