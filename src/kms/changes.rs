//! Changes the scheduler makes without a request (deletion at the end of the waiting
//! period, automatic rotation, expiry of imported material and of import parameters) go to
//! the audit log like requests do, with the state before and after and what triggered them.

use uuid::Uuid;

use super::Kms;
use crate::audit::{self, Event, StateChange};

/// A scheduled change, as the audit log records it.
pub(super) struct Change<'a> {
    /// What happened, e.g. `KeyDeleted`.
    pub what: &'a str,
    /// The key concerned.
    pub key_id: Uuid,
    /// The material version or import job concerned.
    pub subject: Option<Uuid>,
    /// State before and after: the key's, or the import job's for import parameters.
    pub from: &'a str,
    pub to: &'a str,
    /// Why it fell due.
    pub trigger: &'a str,
}

/// A key's state once it is deleted (the sidecar keeps only a tombstone).
pub(super) const DELETED: &str = "Deleted";

impl Kms {
    /// Whether scheduled changes may be made: none is made that could not be recorded.
    pub(super) fn changes_recordable(&self) -> bool {
        let healthy = self.audit.is_healthy();
        if !healthy {
            tracing::warn!("the audit log cannot be written: scheduled changes wait until it can");
        }
        healthy
    }

    /// Records a change that is already durable. The change is not undone if its record
    /// cannot be written (the token object may be gone); the failure is logged and the
    /// log's unhealthy state holds further scheduled changes back.
    pub(super) async fn record_change(&self, change: Change<'_>) {
        let event = Event::StateChange(StateChange {
            time_ms: audit::now_ms(),
            change: change.what.to_owned(),
            key_arn: self.identity.key_arn(change.key_id),
            subject_id: change.subject.map(|s| s.to_string()),
            from_state: Some(change.from.to_owned()),
            to_state: Some(change.to.to_owned()),
            trigger: change.trigger.to_owned(),
        });
        if let Err(e) = self.audit.record(event).await {
            tracing::error!(key_id = %change.key_id, change = change.what, error = %e, "scheduled change made but not audited");
        }
    }
}
