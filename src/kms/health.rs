//! What operators see of the domain: readiness of the token and the sidecar, keys by
//! state, scheduler runs.

use std::collections::BTreeMap;
use std::sync::PoisonError;

use prometheus_client::metrics::counter::Counter;

use super::{Kms, KmsError};
use crate::hsm::Hsm;

impl Kms {
    /// The token, for its pool and call metrics.
    pub fn hsm(&self) -> &Hsm {
        &self.hsm
    }

    /// How many keys are in each state (as clients see it), by AWS state name.
    pub fn keys_by_state(&self) -> BTreeMap<&'static str, i64> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let mut counts = BTreeMap::new();
        for key in keys.values() {
            *counts.entry(self.state_of(key).as_str()).or_insert(0) += 1;
        }
        counts
    }

    /// Runs of the scheduler's due work since start-up.
    pub fn scheduler_runs(&self) -> Counter {
        self.runs.clone()
    }

    /// Whether the sidecar takes writes.
    pub async fn check_sidecar(&self) -> Result<(), KmsError> {
        self.blocking(|store| store.check_writable()).await
    }
}
