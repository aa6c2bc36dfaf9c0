//! ListKeys: keys in key-id order.

use std::sync::{Arc, PoisonError};

use super::model::Key;
use super::paging::{page, Page};
use super::{Kms, KmsError};

impl Kms {
    /// ListKeys with `limit` keys at most, after `marker` (a NextMarker we issued).
    pub fn list_keys(
        &self,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Page<Arc<Key>>, KmsError> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        page(
            keys.iter().map(|(id, key)| (id.to_string(), key.clone())),
            limit,
            marker,
        )
    }
}
