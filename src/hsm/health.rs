//! What operators see of the token: readiness, the session pool, call latencies, and the
//! orderly close at shutdown (sessions closed, then C_Finalize).

use std::time::Duration;

use cryptoki::session::SessionState;

use super::{lock, Fault, Hsm, HsmError, Inner};
use crate::metrics::{self, Latencies};

/// The session pool at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Sessions the pool may hold.
    pub size: usize,
    /// Sessions checked out by a call now.
    pub in_use: usize,
    /// Calls waiting for a free session.
    pub waiting: usize,
}

impl Hsm {
    /// The session pool now.
    pub fn pool(&self) -> PoolStats {
        let (in_use, waiting) = self.inner.calls.load();
        PoolStats {
            size: self.inner.pool_size,
            in_use,
            waiting,
        }
    }

    /// Latency of each token operation, labelled by operation.
    pub fn call_seconds(&self) -> Latencies<metrics::Function> {
        self.inner.call_seconds.clone()
    }

    /// Whether the token is present and our login holds: not while it is down, else
    /// C_GetTokenInfo on the slot and C_GetSessionInfo on the login's session (a token found
    /// gone is marked down). Takes no pooled session, so a busy pool does not read as a
    /// lost token.
    pub async fn check_ready(&self) -> Result<(), HsmError> {
        self.refuse_while_down()?;
        let inner = self.inner.clone();
        let checked = tokio::task::spawn_blocking(move || {
            let checked = inner.logged_in();
            if let Err(e) = &checked {
                if e.fault == Fault::TokenUnavailable {
                    inner.token_lost(e);
                }
            }
            checked
        })
        .await
        .map_err(|e| HsmError::new(Fault::Other, e.to_string()))?;
        self.recover();
        checked
    }

    /// Waits up to `within` for every session to come back, then closes them all (the
    /// login with the last) and finalizes the module. Calls after this fail as busy. If
    /// some call still holds a session when `within` passes, the module is left
    /// initialised: finalizing under a running call could crash the process.
    pub async fn close(&self, within: Duration) {
        self.inner.availability.close();
        if !self.inner.calls.close(within).await {
            tracing::warn!("token calls still running at shutdown: the module is not finalized");
            return;
        }
        let inner = self.inner.clone();
        let closed = tokio::task::spawn_blocking(move || {
            inner.drop_all_unwrapped();
            lock(&inner.idle).clear();
            lock(&inner.anchor).take();
            inner.ctx.clone().finalize()
        })
        .await;
        match closed {
            Ok(Ok(())) => tracing::info!("token sessions closed; module finalized"),
            Ok(Err(e)) => tracing::warn!(error = %e, "C_Finalize failed"),
            Err(e) => tracing::warn!(error = %e, "cannot close the token"),
        }
    }
}

impl Inner {
    /// C_GetTokenInfo on the slot, and whether the login's session is still logged in.
    fn logged_in(&self) -> Result<(), HsmError> {
        self.ctx.get_token_info(self.slot)?;
        let anchor = lock(&self.anchor);
        let state = match anchor.as_ref() {
            Some(session) => session.get_session_info()?.session_state(),
            None => return Err(HsmError::new(Fault::LoggedOut, "no login session")),
        };
        match state {
            SessionState::RwUser | SessionState::RoUser => Ok(()),
            _ => Err(HsmError::new(Fault::LoggedOut, "not logged in")),
        }
    }
}

/// The name of the `Hsm` method a call closure was written in (`encrypt` for the closure
/// inside `Hsm::encrypt`), so every token call is timed by operation without each caller
/// naming itself. Read from the closure's type name; a unit test holds the compiler to
/// the shape relied on.
pub(super) fn operation_name<F>() -> &'static str {
    let mut name = std::any::type_name::<F>();
    while let Some(outer) = name.strip_suffix("::{{closure}}") {
        name = outer;
    }
    name.rsplit("::").next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::operation_name;

    fn name_of<F: Fn()>(_: F) -> &'static str {
        operation_name::<F>()
    }

    async fn generate_key() -> &'static str {
        name_of(move || {})
    }

    #[tokio::test]
    async fn a_call_is_named_after_the_method_it_is_written_in() {
        assert_eq!(generate_key().await, "generate_key");
        assert_eq!(
            name_of(|| {}),
            "a_call_is_named_after_the_method_it_is_written_in"
        );
    }
}
