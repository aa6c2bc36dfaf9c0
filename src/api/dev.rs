//! Development-only operations, compiled with the `dev-clock` feature and served only when
//! the daemon's clock is controllable, to `dev.clock_principal` alone.

use serde::{Deserialize, Serialize};

use super::handlers::json;
use super::handlers::seconds;
use super::validate::required;
use crate::kms::{Caller, ErrorKind, Kms, KmsError};

/// Moves the clock (see `dev.clock_control`).
pub const ADVANCE_CLOCK: &str = "HsmKmsDev.AdvanceClock";

/// HsmKmsDev.AdvanceClock input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AdvanceClockRequest {
    pub seconds: Option<i64>,
}

/// HsmKmsDev.AdvanceClock output: the service's time after the move.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AdvanceClockResponse {
    pub now: f64,
}

/// Moves the clock forward, then runs whatever fell due, before answering.
pub async fn advance_clock(
    kms: &Kms,
    caller: &Caller,
    clock_principal: Option<&str>,
    r: AdvanceClockRequest,
) -> Result<Vec<u8>, KmsError> {
    if clock_principal != Some(caller.principal.as_str()) {
        return Err(KmsError::new(
            ErrorKind::AccessDenied,
            format!(
                "User: {} is not authorized to perform: hsmkms-dev:AdvanceClock because only dev.clock_principal may move the clock",
                caller.principal
            ),
        ));
    }
    let by = required(r.seconds, "seconds")?;
    let now = kms.advance_clock(by).await?;
    json(&AdvanceClockResponse { now: seconds(now) })
}
