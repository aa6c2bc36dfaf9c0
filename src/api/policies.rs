//! GetKeyPolicy, PutKeyPolicy, ListKeyPolicies.

use serde::{Deserialize, Serialize};

use super::handlers::empty;
use super::handlers::{json, key_id};
use super::validate::{page_size, pattern, required, str_len};
use crate::kms::policies::DEFAULT_POLICY;
use crate::kms::{Action, Caller, Kms, KmsError};

/// ListKeyPolicies' page size when no Limit is given.
const DEFAULT_LIMIT: usize = 100;
/// ListKeyPolicies' largest page.
const MAX_LIMIT: usize = 1000;

/// GetKeyPolicy input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GetKeyPolicyRequest {
    pub key_id: Option<String>,
    pub policy_name: Option<String>,
}

/// GetKeyPolicy output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyPolicyResponse {
    pub policy: String,
    pub policy_name: String,
}

/// PutKeyPolicy input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PutKeyPolicyRequest {
    pub key_id: Option<String>,
    pub policy_name: Option<String>,
    pub policy: Option<String>,
    pub bypass_policy_lockout_safety_check: Option<bool>,
}

/// ListKeyPolicies input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListKeyPoliciesRequest {
    pub key_id: Option<String>,
    pub limit: Option<i64>,
    pub marker: Option<String>,
}

/// ListKeyPolicies output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyPoliciesResponse {
    pub policy_names: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub truncated: bool,
}

/// The optional PolicyName member: 1..128 word characters, `default` when absent.
fn policy_name(value: Option<String>) -> Result<String, KmsError> {
    const MEMBER: &str = "policyName";
    let Some(name) = value else {
        return Ok(DEFAULT_POLICY.to_owned());
    };
    str_len(MEMBER, &name, 1, 128)?;
    pattern(MEMBER, &name, "[\\w]+", |c| {
        c.is_ascii_alphanumeric() || c == '_'
    })?;
    Ok(name)
}

/// A key policy document member: 1..131072 characters of tab, line feed, carriage return
/// and U+0020..U+00FF.
pub(super) fn policy(value: String) -> Result<String, KmsError> {
    const MEMBER: &str = "policy";
    str_len(MEMBER, &value, 1, 131_072)?;
    pattern(
        MEMBER,
        &value,
        "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+",
        |c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}'),
    )?;
    Ok(value)
}

/// GetKeyPolicy.
pub async fn get_key_policy(
    kms: &Kms,
    caller: &Caller,
    r: GetKeyPolicyRequest,
) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    kms.authorize(caller, &id, Action::plain("GetKeyPolicy"))
        .await?;
    let name = policy_name(r.policy_name)?;
    let policy = kms.key_policy(&id, &name)?;
    json(&GetKeyPolicyResponse {
        policy,
        policy_name: name,
    })
}

/// PutKeyPolicy.
pub async fn put_key_policy(
    kms: &Kms,
    caller: &Caller,
    r: PutKeyPolicyRequest,
) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    let key = kms
        .authorized(caller, &id, Action::plain("PutKeyPolicy"))
        .await?;
    let name = policy_name(r.policy_name)?;
    let text = policy(required(r.policy, "policy")?)?;
    if r.bypass_policy_lockout_safety_check != Some(true) {
        kms.check_lockout(caller, &text, &kms.arn(&key))?;
    }
    kms.put_key_policy(&id, &name, text).await?;
    empty()
}

/// ListKeyPolicies.
pub async fn list_key_policies(
    kms: &Kms,
    caller: &Caller,
    r: ListKeyPoliciesRequest,
) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    kms.authorize(caller, &id, Action::plain("ListKeyPolicies"))
        .await?;
    let limit = page_size(r.limit, r.marker.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let page = kms.list_key_policies(&id, limit, r.marker.as_deref())?;
    json(&ListKeyPoliciesResponse {
        truncated: page.truncated(),
        policy_names: page.items,
        next_marker: page.next_marker,
    })
}
