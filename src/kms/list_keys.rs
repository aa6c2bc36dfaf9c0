//! ListKeys: keys in key-id order, paged by the last id returned.

use std::ops::Bound;
use std::sync::{Arc, PoisonError};

use uuid::Uuid;

use super::model::Key;
use super::{ErrorKind, Kms, KmsError};

/// One page of ListKeys.
#[derive(Debug, Clone)]
pub struct KeyPage {
    /// The keys on this page.
    pub keys: Vec<Arc<Key>>,
    /// Where the next page starts, when there is one.
    pub next_marker: Option<String>,
}

impl Kms {
    /// ListKeys with `limit` keys at most, after `marker` (a NextMarker we issued).
    pub fn list_keys(&self, limit: usize, marker: Option<&str>) -> Result<KeyPage, KmsError> {
        let start = match marker {
            Some(m) => Bound::Excluded(parse_marker(m)?),
            None => Bound::Unbounded,
        };
        let all = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let mut keys: Vec<Arc<Key>> = all
            .range((start, Bound::Unbounded))
            .take(limit + 1)
            .map(|(_, k)| k.clone())
            .collect();
        let next_marker = if keys.len() > limit {
            keys.truncate(limit);
            keys.last().map(|k| k.id.to_string())
        } else {
            None
        };
        Ok(KeyPage { keys, next_marker })
    }
}

fn parse_marker(marker: &str) -> Result<Uuid, KmsError> {
    Uuid::try_parse(marker).map_err(|_| {
        KmsError::new(
            ErrorKind::InvalidMarker,
            "Invalid marker: use the NextMarker of the previous response.",
        )
    })
}
