//! EnableKey, DisableKey, ScheduleKeyDeletion, CancelKeyDeletion, UpdateKeyDescription.

use serde::{Deserialize, Serialize};

use super::handlers::{empty, json, key_id, seconds};
use super::validate::{range, required, str_len};
use crate::kms::{Action, Caller, ErrorKind, Kms, KmsError};

/// Requests that name only a key.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct KeyIdRequest {
    pub key_id: Option<String>,
}

/// ScheduleKeyDeletion input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ScheduleKeyDeletionRequest {
    pub key_id: Option<String>,
    pub pending_window_in_days: Option<i64>,
}

/// ScheduleKeyDeletion output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleKeyDeletionResponse {
    pub key_id: String,
    pub deletion_date: f64,
    pub key_state: &'static str,
    pub pending_window_in_days: i64,
}

/// Responses that carry only the key ARN.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyIdResponse {
    pub key_id: String,
}

/// UpdateKeyDescription input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UpdateKeyDescriptionRequest {
    pub key_id: Option<String>,
    pub description: Option<String>,
}

/// EnableKey.
pub async fn enable_key(kms: &Kms, caller: &Caller, r: KeyIdRequest) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    kms.authorize(caller, &id, Action::plain("EnableKey"))
        .await?;
    kms.enable_key(&id).await?;
    empty()
}

/// DisableKey.
pub async fn disable_key(kms: &Kms, caller: &Caller, r: KeyIdRequest) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    kms.authorize(caller, &id, Action::plain("DisableKey"))
        .await?;
    kms.disable_key(&id).await?;
    empty()
}

/// ScheduleKeyDeletion: PendingWindowInDays 7..30, default 30.
pub async fn schedule_key_deletion(
    kms: &Kms,
    caller: &Caller,
    r: ScheduleKeyDeletionRequest,
) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    kms.authorize(caller, &id, Action::plain("ScheduleKeyDeletion"))
        .await?;
    let days = r.pending_window_in_days.unwrap_or(30);
    range("pendingWindowInDays", days, 1, 365)?;
    if !(7..=30).contains(&days) {
        return Err(KmsError::new(
            ErrorKind::Validation,
            "PendingWindowInDays must be between 7 and 30",
        ));
    }
    let key = kms.schedule_key_deletion(&id, days).await?;
    json(&ScheduleKeyDeletionResponse {
        key_id: kms.arn(&key),
        deletion_date: seconds(key.deletion_date.unwrap_or_default()),
        key_state: key.state.as_str(),
        pending_window_in_days: days,
    })
}

/// CancelKeyDeletion.
pub async fn cancel_key_deletion(
    kms: &Kms,
    caller: &Caller,
    r: KeyIdRequest,
) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    kms.authorize(caller, &id, Action::plain("CancelKeyDeletion"))
        .await?;
    let key = kms.cancel_key_deletion(&id).await?;
    json(&KeyIdResponse {
        key_id: kms.arn(&key),
    })
}

/// UpdateKeyDescription.
pub async fn update_key_description(
    kms: &Kms,
    caller: &Caller,
    r: UpdateKeyDescriptionRequest,
) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    kms.authorize(caller, &id, Action::plain("UpdateKeyDescription"))
        .await?;
    let description = required(r.description, "description")?;
    str_len("description", &description, 0, 8192)?;
    kms.update_key_description(&id, description).await?;
    empty()
}
