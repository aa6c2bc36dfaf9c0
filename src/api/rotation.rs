//! EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand,
//! ListKeyRotations.

use serde::{Deserialize, Serialize};

use super::handlers::{empty, seconds};
use super::handlers::{json, key_id};
use super::lifecycle::{KeyIdRequest, KeyIdResponse};
use super::validate::{one_of, page_size, range};
use crate::kms::{Action, Caller, Kms, KmsError, DEFAULT_PERIOD_DAYS};

/// EnableKeyRotation input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct EnableKeyRotationRequest {
    pub key_id: Option<String>,
    pub rotation_period_in_days: Option<i64>,
}

/// GetKeyRotationStatus output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyRotationStatusResponse {
    pub key_rotation_enabled: bool,
    pub key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_period_in_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_rotation_date: Option<f64>,
}

/// ListKeyRotations input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListKeyRotationsRequest {
    pub key_id: Option<String>,
    pub include_key_material: Option<String>,
    pub limit: Option<i64>,
    pub marker: Option<String>,
}

/// One ListKeyRotations entry.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationsListEntry {
    pub key_id: String,
    pub key_material_id: String,
    pub key_material_state: &'static str,
    pub rotation_date: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_type: Option<&'static str>,
}

/// ListKeyRotations output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyRotationsResponse {
    pub rotations: Vec<RotationsListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub truncated: bool,
}

/// EnableKeyRotation: RotationPeriodInDays 90..2560, default 365.
pub async fn enable_key_rotation(
    kms: &Kms,
    caller: &Caller,
    r: EnableKeyRotationRequest,
) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    kms.authorize(caller, &id, Action::plain("EnableKeyRotation"))
        .await?;
    let period = r.rotation_period_in_days.unwrap_or(DEFAULT_PERIOD_DAYS);
    range("rotationPeriodInDays", period, 90, 2560)?;
    kms.enable_key_rotation(&id, period).await?;
    empty()
}

/// DisableKeyRotation.
pub async fn disable_key_rotation(
    kms: &Kms,
    caller: &Caller,
    r: KeyIdRequest,
) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    kms.authorize(caller, &id, Action::plain("DisableKeyRotation"))
        .await?;
    kms.disable_key_rotation(&id).await?;
    empty()
}

/// GetKeyRotationStatus.
pub async fn get_key_rotation_status(
    kms: &Kms,
    caller: &Caller,
    r: KeyIdRequest,
) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    kms.authorize(caller, &id, Action::plain("GetKeyRotationStatus"))
        .await?;
    let key = kms.key_rotation_status(&id)?;
    json(&GetKeyRotationStatusResponse {
        key_rotation_enabled: key.rotation.enabled,
        key_id: kms.arn(&key),
        rotation_period_in_days: key.rotation.period_days,
        next_rotation_date: key.rotation.next_at.map(seconds),
    })
}

/// RotateKeyOnDemand.
pub async fn rotate_key_on_demand(
    kms: &Kms,
    caller: &Caller,
    r: KeyIdRequest,
) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    kms.authorize(caller, &id, Action::plain("RotateKeyOnDemand"))
        .await?;
    let key = kms.rotate_key_on_demand(&id).await?;
    json(&KeyIdResponse {
        key_id: kms.arn(&key),
    })
}

/// ListKeyRotations.
pub async fn list_key_rotations(
    kms: &Kms,
    caller: &Caller,
    r: ListKeyRotationsRequest,
) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    kms.authorize(caller, &id, Action::plain("ListKeyRotations"))
        .await?;
    let limit = page_size(r.limit, r.marker.as_deref(), 100, 1000)?;
    let include = r
        .include_key_material
        .as_deref()
        .unwrap_or("ROTATIONS_ONLY");
    one_of(
        "includeKeyMaterial",
        include,
        &["ALL_KEY_MATERIAL", "ROTATIONS_ONLY"],
    )?;
    let all = include == "ALL_KEY_MATERIAL";
    let (key, page) = kms.list_key_rotations(&id, all, limit, r.marker.as_deref())?;
    let arn = kms.arn(&key);
    let truncated = page.truncated();
    let rotations = page
        .items
        .into_iter()
        .map(|entry| RotationsListEntry {
            key_id: arn.clone(),
            key_material_id: entry.material.id.to_string(),
            key_material_state: if entry.current {
                "CURRENT"
            } else {
                "NON_CURRENT"
            },
            rotation_date: seconds(entry.material.created_at),
            rotation_type: entry.material.rotation_type.map(|t| t.as_str()),
        })
        .collect();
    json(&ListKeyRotationsResponse {
        rotations,
        next_marker: page.next_marker,
        truncated,
    })
}
