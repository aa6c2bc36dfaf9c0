//! The token going away and coming back. A call that still finds the token gone after its
//! one safe retry marks it down: from then on calls fail at once, without waiting for a
//! session, and one background task probes the token every `hsm.recovery_interval_ms`
//! (a session, the login, a cheap call, a fresh index of our objects) until it answers,
//! then marks it up. Sessions opened before the loss are closed, never pooled again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;

use super::{lock, random_bytes, write, Fault, Hsm, HsmError, Inner};

/// Whether the token answers, and what the recovery task needs.
pub(super) struct Availability {
    /// Set from a loss until a probe succeeds: calls fail at once meanwhile.
    down: AtomicBool,
    /// Whether the probing task runs (at most one does).
    probing: AtomicBool,
    /// Counts losses: a session checked out before the latest loss is closed after its
    /// call instead of going back to the pool.
    generation: AtomicU64,
    /// Set by `close`: the probing task ends at its next tick.
    closing: AtomicBool,
    /// Time between probes.
    every: Duration,
    /// Times the token came back.
    recoveries: Counter,
}

impl Availability {
    pub(super) fn new(every: Duration) -> Availability {
        Availability {
            down: AtomicBool::new(false),
            probing: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            every,
            recoveries: Counter::default(),
        }
    }

    pub(super) fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// The loss count now, to compare with (under the pool's lock) at the end of a call.
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Tells the probing task to end; a probe under way runs on a token thread, so a close
    /// waiting for those threads also waits for it.
    pub(super) fn close(&self) {
        self.closing.store(true, Ordering::Release);
    }
}

/// What a call gets while the token is down.
pub(super) fn token_down() -> HsmError {
    HsmError::new(
        Fault::TokenUnavailable,
        "the token is unavailable; waiting for it to return",
    )
}

impl Hsm {
    /// Whether the token answers (false from a loss until a probe succeeds).
    pub fn is_token_available(&self) -> bool {
        !self.inner.availability.is_down()
    }

    /// How many times the token came back after a loss.
    pub fn token_recoveries(&self) -> Counter {
        self.inner.availability.recoveries.clone()
    }

    /// Fails at once while the token is down, so no request waits for a session that
    /// could not help it.
    pub(super) fn refuse_while_down(&self) -> Result<(), HsmError> {
        match self.inner.availability.is_down() {
            true => {
                self.recover();
                Err(token_down())
            }
            false => Ok(()),
        }
    }

    /// Starts the probing task when the token is down and none runs.
    pub(super) fn recover(&self) {
        let availability = &self.inner.availability;
        if !availability.is_down() || availability.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let hsm = self.clone();
        tokio::spawn(async move { hsm.probe_until_back().await });
    }

    async fn probe_until_back(self) {
        let availability = &self.inner.availability;
        loop {
            tokio::time::sleep(availability.every).await;
            if availability.closing.load(Ordering::Acquire) {
                break;
            }
            // The token threads are idle while calls fail fast: the probe takes one.
            let inner = self.inner.clone();
            match self.inner.calls.run(move || inner.probe_token()).await {
                Ok(()) => break,
                Err(e) => tracing::debug!(error = %e, "the token is still unavailable"),
            }
        }
        availability.probing.store(false, Ordering::Release);
        // Lost again between the probe and here: that loss found this task running.
        if !availability.closing.load(Ordering::Acquire) {
            self.recover();
        }
    }
}

impl Inner {
    /// Marks the token down after `error`, once per loss, and closes the pooled sessions:
    /// a token that was really removed or reset has invalidated them.
    pub(super) fn token_lost(&self, error: &HsmError) {
        let availability = &self.availability;
        if availability.down.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::error!(%error, "the token is unavailable: key operations fail until it returns");
        // Bumped under the pool's lock, so a call ending now either sees the new count or
        // has given its session back before the pool is emptied.
        let stale = {
            let mut idle = lock(&self.idle);
            availability.generation.fetch_add(1, Ordering::AcqRel);
            std::mem::take(&mut *idle)
        };
        drop(stale);
    }

    /// One probe: a new login, a session and a cheap call on it, then the object index
    /// built again (handles from before may name nothing, or another object, on a token
    /// that was reset). The token is marked up only when all of it worked.
    fn probe_token(&self) -> Result<(), HsmError> {
        self.ctx.get_token_info(self.slot)?;
        self.log_in_again()?;
        let session = self.ctx.open_rw_session(self.slot)?;
        random_bytes(&session, 1)?;
        write(&self.public).clear();
        self.index_objects(&session)?;
        {
            let mut idle = lock(&self.idle);
            idle.clear();
            idle.push(session);
        }
        self.availability.down.store(false, Ordering::Release);
        self.availability.recoveries.inc();
        tracing::info!("the token is available again; serving key operations");
        Ok(())
    }
}
