//! Background work that falls due: key deletions, automatic rotations, and looking for the
//! token objects of unavailable keys. Runs at start-up, then every interval.

use std::sync::Arc;
use std::time::Duration;

use super::Kms;

impl Kms {
    /// Does everything that is due now.
    pub async fn run_due_work(&self) {
        self.runs.inc();
        let now = self.clock.now();
        if self.changes_recordable() {
            self.delete_due_keys(now).await;
            self.rotate_due_keys(now).await;
            self.expire_due_imports(now).await;
            self.cloud_due_work(now).await;
        }
        self.look_for_unavailable_keys().await;
        if let Err(e) = self.hsm.sweep_wrapped().await {
            tracing::warn!(error = %e, "cannot destroy idle unwrapped session objects");
        }
    }

    /// Moves a development clock forward and runs what fell due; refused on the system
    /// clock.
    #[cfg(feature = "dev-clock")]
    pub async fn advance_clock(&self, seconds: i64) -> Result<super::Millis, super::KmsError> {
        let now = self.clock.advance(seconds)?;
        self.run_due_work().await;
        Ok(now)
    }

    /// Whether `HsmKmsDev` operations are served.
    #[cfg(feature = "dev-clock")]
    pub fn dev_operations(&self) -> bool {
        self.clock.is_controllable()
    }

    /// Re-reads the token's objects when some key's material cannot be reached, so the key
    /// recovers by itself when its token object returns.
    async fn look_for_unavailable_keys(&self) {
        if !self.any_key_unavailable() {
            return;
        }
        match self.hsm.reindex().await {
            Ok(()) if self.any_key_unavailable() => {
                tracing::warn!("some keys are still unavailable: their token objects are missing")
            }
            Ok(()) => tracing::info!("every key's token object is reachable again"),
            Err(e) => tracing::warn!(error = %e, "cannot re-read the token's objects"),
        }
    }
}

/// The scheduler's task, and how to stop it between runs.
pub struct Running {
    stop: tokio::sync::watch::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Lets a run under way finish (a run interrupted halfway would leave start-up
    /// recovery to do), then ends the task.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "the scheduler ended abnormally");
        }
    }
}

/// Runs `kms.run_due_work()` every `every` until stopped.
pub fn spawn(kms: Arc<Kms>, every: Duration) -> Running {
    let (stop, mut stopped) = tokio::sync::watch::channel(());
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await; // the first tick is immediate; start-up has just done this work
        loop {
            tokio::select! {
                _ = ticks.tick() => kms.run_due_work().await,
                _ = stopped.changed() => break,
            }
        }
    });
    Running { stop, task }
}
