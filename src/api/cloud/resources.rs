//! Key rings, crypto keys and crypto key versions: their methods and their JSON.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use super::error::CloudError;
use super::wire::{self, enum_name, object, parse, ALGORITHM, PROTECTION_LEVEL, PURPOSE};
use super::{Reply, Request};
use crate::kms::cloud::{rules, CryptoKeyPatch, CryptoKeyView, KeyRing, NewCryptoKey, VersionView};
use crate::kms::{Caller, Kms};

/// Largest page a list answers.
const MAX_PAGE: usize = 1000;

/// The CryptoKey message of create and patch; output-only fields are accepted and ignored.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CryptoKeyBody {
    name: Option<String>,
    purpose: Option<Value>,
    version_template: Option<TemplateBody>,
    labels: Option<BTreeMap<String, String>>,
    import_only: Option<bool>,
    destroy_scheduled_duration: Option<String>,
    rotation_period: Option<String>,
    next_rotation_time: Option<String>,
    #[serde(rename = "primary")]
    _primary: Option<serde::de::IgnoredAny>,
    #[serde(rename = "createTime")]
    _create_time: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TemplateBody {
    algorithm: Option<Value>,
    protection_level: Option<Value>,
}

/// The CryptoKeyVersion message of create and patch.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct VersionBody {
    state: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PrimaryBody {
    crypto_key_version_id: String,
}

pub(super) fn key_ring(ring: &KeyRing) -> Value {
    json!({"name": ring.name, "createTime": wire::timestamp(ring.created_at)})
}

pub(super) fn version(view: &VersionView) -> Value {
    let material = &view.material;
    let imported = material.import.is_some();
    object(vec![
        ("name", Some(json!(view.name))),
        ("state", Some(json!(rules::state_name(material.state)))),
        ("protectionLevel", Some(json!("HSM"))),
        ("algorithm", Some(json!(view.crypto.algorithm))),
        ("createTime", Some(wire::timestamp(material.created_at))),
        (
            "generateTime",
            (!imported && material.state.holds_material())
                .then(|| wire::timestamp(material.created_at)),
        ),
        (
            "importTime",
            imported.then(|| wire::timestamp(material.created_at)),
        ),
        ("destroyTime", view.destroy_at.map(wire::timestamp)),
        ("importJob", view.note.import_job.clone().map(Value::String)),
        (
            "importFailureReason",
            view.note.failure_reason.clone().map(Value::String),
        ),
    ])
}

fn crypto_key(kms: &Kms, caller: &Caller, view: &CryptoKeyView) -> Value {
    let crypto = &view.crypto;
    let primary = view
        .primary
        .and_then(|n| {
            kms.get_version(caller, &format!("{}/cryptoKeyVersions/{n}", crypto.name))
                .ok()
        })
        .map(|v| version(&v));
    let rotation = view.key.rotation;
    let labels = crypto.labels.iter().map(|(k, v)| (k.clone(), json!(v)));
    object(vec![
        ("name", Some(json!(crypto.name))),
        ("primary", primary),
        ("purpose", Some(json!(crypto.purpose))),
        ("createTime", Some(wire::timestamp(view.key.created_at))),
        (
            "versionTemplate",
            Some(json!({"protectionLevel": "HSM", "algorithm": crypto.algorithm})),
        ),
        ("labels", Some(Value::Object(labels.collect()))),
        ("importOnly", Some(json!(crypto.import_only))),
        (
            "destroyScheduledDuration",
            Some(wire::duration(crypto.destroy_scheduled_ms)),
        ),
        (
            "rotationPeriod",
            rotation
                .enabled
                .then_some(rotation.period_days)
                .flatten()
                .map(|d| wire::duration(d * 86_400_000)),
        ),
        (
            "nextRotationTime",
            rotation
                .next_at
                .filter(|_| rotation.enabled)
                .map(wire::timestamp),
        ),
    ])
}

fn required<'a>(request: &'a Request<'_>, param: &str) -> Result<&'a str, CloudError> {
    request
        .query
        .get(param)
        .map(String::as_str)
        .ok_or_else(|| CloudError::invalid(format!("Missing required parameter: {param}.")))
}

fn flag(request: &Request<'_>, param: &str) -> Result<bool, CloudError> {
    match request.query.get(param).map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(CloudError::invalid(format!(
            "Invalid value at '{param}': {other:?} is not a boolean."
        ))),
    }
}

/// One page of `items` (in name order) after the request's page token.
pub(super) fn paged<T>(
    request: &Request<'_>,
    field: &str,
    items: Vec<T>,
    name: impl Fn(&T) -> &str,
    render: impl Fn(&T) -> Value,
) -> Result<Value, CloudError> {
    let size = match request.query.get("pageSize") {
        None => MAX_PAGE,
        Some(text) => match text.parse::<usize>() {
            Ok(0) => MAX_PAGE,
            Ok(n) => n.min(MAX_PAGE),
            Err(_) => return Err(CloudError::invalid("Invalid value at 'page_size'.")),
        },
    };
    let total = items.len();
    let after = request.query.get("pageToken").filter(|t| !t.is_empty());
    let rest: Vec<&T> = items
        .iter()
        .filter(|i| after.is_none_or(|a| name(i) > a.as_str()))
        .collect();
    let next = (rest.len() > size).then(|| name(rest[size - 1]).to_owned());
    let shown = rest.iter().take(size).map(|i| render(i)).collect();
    Ok(wire::page(field, shown, next, total))
}

pub(super) async fn create_key_ring(kms: &Kms, request: Request<'_>) -> Result<Reply, CloudError> {
    let id = required(&request, "keyRingId")?;
    let ring = kms
        .create_key_ring(request.caller, request.name, id)
        .await?;
    Ok(Reply::new(key_ring(&ring)))
}

pub(super) fn get_key_ring(kms: &Kms, request: Request<'_>) -> Result<Reply, CloudError> {
    let ring = kms.get_key_ring(request.caller, request.name)?;
    Ok(Reply::new(key_ring(&ring)))
}

pub(super) fn list_key_rings(kms: &Kms, request: Request<'_>) -> Result<Reply, CloudError> {
    let rings = kms.list_key_rings(request.caller, request.name)?;
    let page = paged(&request, "keyRings", rings, |r| &r.name, key_ring)?;
    Ok(Reply::new(page))
}

pub(super) async fn create_crypto_key(
    kms: &Kms,
    request: Request<'_>,
) -> Result<Reply, CloudError> {
    let id = required(&request, "cryptoKeyId")?;
    let mut body: CryptoKeyBody = parse(request.body)?;
    let template = body.version_template.take().unwrap_or_default();
    let purpose = enum_name(body.purpose.as_ref(), PURPOSE, "crypto_key.purpose")?
        .ok_or_else(|| CloudError::invalid("crypto_key.purpose is required."))?;
    let new = NewCryptoKey {
        purpose: purpose.to_owned(),
        algorithm: enum_name(
            template.algorithm.as_ref(),
            ALGORITHM,
            "crypto_key.version_template.algorithm",
        )?
        .map(str::to_owned),
        protection_level: enum_name(
            template.protection_level.as_ref(),
            PROTECTION_LEVEL,
            "crypto_key.version_template.protection_level",
        )?
        .map(str::to_owned),
        destroy_scheduled_ms: body
            .destroy_scheduled_duration
            .as_deref()
            .map(|d| wire::parse_duration(d, "crypto_key.destroy_scheduled_duration"))
            .transpose()?,
        import_only: body.import_only.unwrap_or(false),
        skip_initial_version: flag(&request, "skipInitialVersionCreation")?,
        rotation: rotation(&body)?,
        labels: body.labels.unwrap_or_default(),
    };
    let view = kms
        .create_crypto_key(request.caller, request.name, id, new)
        .await?;
    Ok(Reply::for_key(
        kms,
        &view.key,
        crypto_key(kms, request.caller, &view),
    ))
}

/// rotationPeriod and nextRotationTime, both or neither.
fn rotation(body: &CryptoKeyBody) -> Result<Option<(i64, i64)>, CloudError> {
    match (&body.rotation_period, &body.next_rotation_time) {
        (None, None) => Ok(None),
        (Some(period), Some(next)) => Ok(Some((
            wire::parse_duration(period, "crypto_key.rotation_period")?,
            wire::parse_timestamp(next, "crypto_key.next_rotation_time")?,
        ))),
        _ => Err(CloudError::invalid(
            "crypto_key.rotation_period and crypto_key.next_rotation_time go together.",
        )),
    }
}

pub(super) fn get_crypto_key(kms: &Kms, request: Request<'_>) -> Result<Reply, CloudError> {
    let view = kms.get_crypto_key(request.caller, request.name)?;
    Ok(Reply::for_key(
        kms,
        &view.key,
        crypto_key(kms, request.caller, &view),
    ))
}

pub(super) fn list_crypto_keys(kms: &Kms, request: Request<'_>) -> Result<Reply, CloudError> {
    let views = kms.list_crypto_keys(request.caller, request.name)?;
    let render = |v: &CryptoKeyView| crypto_key(kms, request.caller, v);
    let page = paged(&request, "cryptoKeys", views, |v| &v.crypto.name, render)?;
    Ok(Reply::new(page))
}

/// The fields of `updateMask`, which is required.
fn update_mask(request: &Request<'_>) -> Result<Vec<String>, CloudError> {
    let mask = required(request, "updateMask")?;
    Ok(mask
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect())
}

pub(super) async fn update_crypto_key(
    kms: &Kms,
    request: Request<'_>,
) -> Result<Reply, CloudError> {
    let mask = update_mask(&request)?;
    let body: CryptoKeyBody = parse(request.body)?;
    if body.name.as_deref().is_some_and(|n| n != request.name) {
        return Err(CloudError::invalid(
            "crypto_key.name does not match the path.",
        ));
    }
    let patch = CryptoKeyPatch {
        rotation: rotation(&body)?,
        labels: body.labels.unwrap_or_default(),
    };
    let view = kms
        .patch_crypto_key(request.caller, request.name, &mask, patch)
        .await?;
    Ok(Reply::for_key(
        kms,
        &view.key,
        crypto_key(kms, request.caller, &view),
    ))
}

pub(super) async fn update_primary_version(
    kms: &Kms,
    request: Request<'_>,
) -> Result<Reply, CloudError> {
    let body: PrimaryBody = parse(request.body)?;
    let number = body.crypto_key_version_id.parse::<u32>().map_err(|_| {
        CloudError::invalid("crypto_key_version_id must be a version number, such as \"1\".")
    })?;
    let view = kms
        .update_primary_version(request.caller, request.name, number)
        .await?;
    Ok(Reply::for_key(
        kms,
        &view.key,
        crypto_key(kms, request.caller, &view),
    ))
}

pub(super) async fn create_version(kms: &Kms, request: Request<'_>) -> Result<Reply, CloudError> {
    let _body: VersionBody = parse(request.body)?;
    let view = kms.create_version(request.caller, request.name).await?;
    Ok(Reply::for_version(kms, &view, version(&view)))
}

pub(super) fn get_version(kms: &Kms, request: Request<'_>) -> Result<Reply, CloudError> {
    let view = kms.get_version(request.caller, request.name)?;
    Ok(Reply::for_version(kms, &view, version(&view)))
}

pub(super) fn list_versions(kms: &Kms, request: Request<'_>) -> Result<Reply, CloudError> {
    let state = match request.query.get("filter").map(|f| f.replace(' ', "")) {
        None => None,
        Some(f) if f.is_empty() => None,
        Some(f) => {
            let value = f
                .strip_prefix("state=")
                .or_else(|| f.strip_prefix("state:"));
            let value = value.ok_or_else(|| {
                CloudError::invalid(format!(
                    "Invalid filter {f:?}: only state=<STATE> is served."
                ))
            })?;
            let value = Value::String(value.to_owned());
            enum_name(Some(&value), wire::VERSION_STATE, "filter")?
        }
    };
    let views = kms.list_versions(request.caller, request.name, state)?;
    let page = paged(&request, "cryptoKeyVersions", views, |v| &v.name, version)?;
    Ok(Reply::new(page))
}

pub(super) async fn update_version(kms: &Kms, request: Request<'_>) -> Result<Reply, CloudError> {
    let mask = update_mask(&request)?;
    if mask.iter().any(|f| f != "state") || mask.is_empty() {
        return Err(CloudError::invalid(
            "updateMask must be \"state\": only a version's state can be updated.",
        ));
    }
    let body: VersionBody = parse(request.body)?;
    let state = enum_name(
        body.state.as_ref(),
        wire::VERSION_STATE,
        "crypto_key_version.state",
    )?;
    let enabled = match state {
        Some("ENABLED") => true,
        Some("DISABLED") => false,
        _ => {
            return Err(CloudError::invalid(
                "crypto_key_version.state can only be updated to ENABLED or DISABLED.",
            ))
        }
    };
    let view = kms
        .set_version_state(request.caller, request.name, enabled)
        .await?;
    Ok(Reply::for_version(kms, &view, version(&view)))
}

pub(super) async fn destroy_version(kms: &Kms, request: Request<'_>) -> Result<Reply, CloudError> {
    let view = kms.destroy_version(request.caller, request.name).await?;
    Ok(Reply::for_version(kms, &view, version(&view)))
}

pub(super) async fn restore_version(kms: &Kms, request: Request<'_>) -> Result<Reply, CloudError> {
    let view = kms.restore_version(request.caller, request.name).await?;
    Ok(Reply::for_version(kms, &view, version(&view)))
}
