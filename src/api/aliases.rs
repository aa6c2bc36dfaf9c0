//! CreateAlias, UpdateAlias, DeleteAlias, ListAliases.

use serde::{Deserialize, Serialize};

use super::handlers::{empty, json, key_id, optional_key_id, seconds};
use super::validate::{page_size, pattern, required, str_len};
use crate::kms::{Caller, Kms, KmsError};

/// ListAliases' page size when no Limit is given.
const DEFAULT_LIMIT: usize = 50;
/// ListAliases' largest page.
const MAX_LIMIT: usize = 100;

/// CreateAlias input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateAliasRequest {
    pub alias_name: Option<String>,
    pub target_key_id: Option<String>,
}

/// UpdateAlias input: the same members as CreateAlias.
pub type UpdateAliasRequest = CreateAliasRequest;

/// DeleteAlias input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DeleteAliasRequest {
    pub alias_name: Option<String>,
}

/// ListAliases input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListAliasesRequest {
    pub key_id: Option<String>,
    pub limit: Option<i64>,
    pub marker: Option<String>,
}

/// One ListAliases entry.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasListEntry {
    pub alias_name: String,
    pub alias_arn: String,
    pub target_key_id: String,
    pub creation_date: f64,
    pub last_updated_date: f64,
}

/// ListAliases output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAliasesResponse {
    pub aliases: Vec<AliasListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub truncated: bool,
}

/// The AliasName member: required, 1..256 characters of `^[a-zA-Z0-9:/_-]+$`.
fn alias_name(value: Option<String>) -> Result<String, KmsError> {
    const MEMBER: &str = "aliasName";
    let name = required(value, MEMBER)?;
    str_len(MEMBER, &name, 1, 256)?;
    pattern(MEMBER, &name, "^[a-zA-Z0-9:/_-]+$", |c| {
        c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '_' | '-')
    })?;
    Ok(name)
}

/// CreateAlias.
pub async fn create_alias(
    kms: &Kms,
    caller: &Caller,
    r: CreateAliasRequest,
) -> Result<Vec<u8>, KmsError> {
    let name = alias_name(r.alias_name)?;
    let target = key_id(r.target_key_id, "targetKeyId")?;
    kms.authorize_account(caller, "CreateAlias")?;
    kms.create_alias(caller, &name, &target).await?;
    empty()
}

/// UpdateAlias.
pub async fn update_alias(
    kms: &Kms,
    caller: &Caller,
    r: UpdateAliasRequest,
) -> Result<Vec<u8>, KmsError> {
    let name = alias_name(r.alias_name)?;
    let target = key_id(r.target_key_id, "targetKeyId")?;
    kms.authorize_account(caller, "UpdateAlias")?;
    kms.update_alias(caller, &name, &target).await?;
    empty()
}

/// DeleteAlias.
pub async fn delete_alias(
    kms: &Kms,
    caller: &Caller,
    r: DeleteAliasRequest,
) -> Result<Vec<u8>, KmsError> {
    let name = alias_name(r.alias_name)?;
    kms.authorize_account(caller, "DeleteAlias")?;
    kms.delete_alias(caller, &name).await?;
    empty()
}

/// ListAliases: Limit 1..1000 as the model allows, at most 100 per page (default 50).
pub async fn list_aliases(
    kms: &Kms,
    caller: &Caller,
    r: ListAliasesRequest,
) -> Result<Vec<u8>, KmsError> {
    let id = optional_key_id(r.key_id, "keyId")?;
    kms.authorize_account(caller, "ListAliases")?;
    let limit = page_size(r.limit, r.marker.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let page = kms
        .list_aliases(id.as_deref(), limit, r.marker.as_deref())
        .await?;
    let truncated = page.truncated();
    let aliases = page
        .items
        .into_iter()
        .map(|a| AliasListEntry {
            alias_arn: kms.identity().alias_arn(&a.name),
            alias_name: a.name,
            target_key_id: a.key_id.to_string(),
            creation_date: seconds(a.created_at),
            last_updated_date: seconds(a.updated_at),
        })
        .collect();
    json(&ListAliasesResponse {
        aliases,
        truncated,
        next_marker: page.next_marker,
    })
}
