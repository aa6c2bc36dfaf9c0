//! Development-only operations, served only when the daemon's clock is controllable.

use serde::{Deserialize, Serialize};

use super::handlers::json;
use super::handlers::seconds;
use super::validate::required;
use crate::kms::{Caller, Kms, KmsError};

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
    r: AdvanceClockRequest,
) -> Result<Vec<u8>, KmsError> {
    kms.authorize_account(caller, "AdvanceClock")?;
    let by = required(r.seconds, "seconds")?;
    let now = kms.advance_clock(by).await?;
    json(&AdvanceClockResponse { now: seconds(now) })
}
