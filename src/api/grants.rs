//! CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant.

use serde::{Deserialize, Serialize};

use super::body::object;
use super::handlers::{empty, grant_tokens, json, key_id, optional_key_id, seconds, unsupported};
use super::validate::{page_size, parse_enum, pattern, required, str_len};
use super::wire::Context;
use crate::kms::grants::{
    grant_operation, Constraint, Grant, GrantRef, GrantTerms, NewGrant, GRANT_OPERATIONS,
};
use crate::kms::paging::Page;
use crate::kms::{Action, Caller, ErrorKind, Kms, KmsError};

/// ListGrants' and ListRetirableGrants' page size when no Limit is given.
const DEFAULT_LIMIT: usize = 50;
/// Their largest page.
const MAX_LIMIT: usize = 100;

/// CreateGrant input. The service-principal members and `SourceArn` of newer models are
/// read so that they are refused rather than ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateGrantRequest {
    pub key_id: Option<String>,
    pub grantee_principal: Option<String>,
    pub retiring_principal: Option<String>,
    pub operations: Option<Vec<String>>,
    #[serde(default, deserialize_with = "object")]
    pub constraints: Option<GrantConstraints>,
    pub grant_tokens: Option<Vec<String>>,
    pub name: Option<String>,
    pub dry_run: Option<bool>,
    pub grantee_service_principal: Option<String>,
    pub retiring_service_principal: Option<String>,
}

/// GrantConstraints, in requests and in grant listings.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GrantConstraints {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context_subset: Option<Context>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption_context_equals: Option<Context>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<String>,
}

/// CreateGrant output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateGrantResponse {
    pub grant_token: String,
    pub grant_id: String,
}

/// ListGrants input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListGrantsRequest {
    pub limit: Option<i64>,
    pub marker: Option<String>,
    pub key_id: Option<String>,
    pub grant_id: Option<String>,
    pub grantee_principal: Option<String>,
    pub grantee_service_principal: Option<String>,
}

/// ListRetirableGrants input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListRetirableGrantsRequest {
    pub limit: Option<i64>,
    pub marker: Option<String>,
    pub retiring_principal: Option<String>,
    pub retiring_service_principal: Option<String>,
}

/// One grant in ListGrants and ListRetirableGrants.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GrantListEntry {
    pub key_id: String,
    pub grant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub creation_date: f64,
    pub grantee_principal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retiring_principal: Option<String>,
    pub issuing_account: String,
    pub operations: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraints: Option<GrantConstraints>,
}

/// ListGrants and ListRetirableGrants output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListGrantsResponse {
    pub grants: Vec<GrantListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub truncated: bool,
}

/// RetireGrant input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RetireGrantRequest {
    pub grant_token: Option<String>,
    pub key_id: Option<String>,
    pub grant_id: Option<String>,
    pub dry_run: Option<bool>,
}

/// RevokeGrant input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RevokeGrantRequest {
    pub key_id: Option<String>,
    pub grant_id: Option<String>,
    pub dry_run: Option<bool>,
}

/// A principal member: 1..256 characters of `^[\w+=,.@:/-]+$`.
fn principal(value: &str, member: &str) -> Result<(), KmsError> {
    str_len(member, value, 1, 256)?;
    pattern(member, value, r"^[\w+=,.@:/-]+$", |c| {
        c.is_ascii_alphanumeric()
            || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | ':' | '/' | '-')
    })
}

fn optional_principal(value: Option<String>, member: &str) -> Result<Option<String>, KmsError> {
    if let Some(v) = &value {
        principal(v, member)?;
    }
    Ok(value)
}

/// A GrantId member: 1..128 characters.
fn grant_id(value: Option<String>) -> Result<Option<String>, KmsError> {
    if let Some(v) = &value {
        str_len("grantId", v, 1, 128)?;
    }
    Ok(value)
}

/// Grants to AWS service principals need AWS's service identities; none exist here.
fn no_service_principal(value: Option<&String>, member: &str) -> Result<(), KmsError> {
    let Some(value) = value else { return Ok(()) };
    str_len(member, value, 1, 128)?;
    Err(unsupported("Service principals are not supported.".into()))
}

/// The Operations member: required, at least one, each a GrantOperation.
fn grant_operations(value: Option<Vec<String>>) -> Result<Vec<&'static str>, KmsError> {
    let names = required(value, "operations")?;
    if names.is_empty() {
        return Err(KmsError::new(
            ErrorKind::Validation,
            "Operations must list at least one grant operation.",
        ));
    }
    names
        .iter()
        .map(|name| {
            parse_enum(
                "operations",
                name,
                GRANT_OPERATIONS,
                grant_operation,
                || KmsError::internal("grant operation names drifted"),
            )
        })
        .collect()
}

/// The Constraints member: one encryption-context constraint at most.
fn grant_constraint(value: Option<GrantConstraints>) -> Result<Option<Constraint>, KmsError> {
    let Some(c) = value else { return Ok(None) };
    if c.source_arn.is_some() {
        return Err(unsupported(
            "The SourceArn grant constraint is not supported.".into(),
        ));
    }
    match (c.encryption_context_subset, c.encryption_context_equals) {
        (Some(_), Some(_)) => Err(KmsError::new(
            ErrorKind::Validation,
            "More than one constraint supplied",
        )),
        (Some(pairs), None) => Ok(Some(Constraint::EncryptionContextSubset(pairs))),
        (None, Some(pairs)) => Ok(Some(Constraint::EncryptionContextEquals(pairs))),
        (None, None) => Ok(None),
    }
}

/// The Name member: 1..256 characters of `^[a-zA-Z0-9:/_-]+$`.
fn grant_name(value: Option<String>) -> Result<Option<String>, KmsError> {
    if let Some(v) = &value {
        str_len("name", v, 1, 256)?;
        pattern("name", v, "^[a-zA-Z0-9:/_-]+$", |c| {
            c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '_' | '-')
        })?;
    }
    Ok(value)
}

/// CreateGrant.
pub async fn create_grant(
    kms: &Kms,
    caller: &Caller,
    r: CreateGrantRequest,
) -> Result<Vec<u8>, KmsError> {
    let key = key_id(r.key_id, "keyId")?;
    no_service_principal(
        r.grantee_service_principal.as_ref(),
        "granteeServicePrincipal",
    )?;
    no_service_principal(
        r.retiring_service_principal.as_ref(),
        "retiringServicePrincipal",
    )?;
    let grantee = required(r.grantee_principal, "granteePrincipal")?;
    principal(&grantee, "granteePrincipal")?;
    let retiring = optional_principal(r.retiring_principal, "retiringPrincipal")?;
    let operations = grant_operations(r.operations)?;
    let constraint = grant_constraint(r.constraints)?;
    grant_tokens(r.grant_tokens.as_ref())?;
    let terms = GrantTerms {
        name: grant_name(r.name)?,
        grantee,
        retiring,
        operations,
        constraint,
    };
    kms.authorize(caller, &key, Action::create_grant(&terms))
        .await?;
    let created = kms
        .create_grant(NewGrant {
            key_id: key,
            terms,
            dry_run: r.dry_run.unwrap_or(false),
        })
        .await?;
    json(&CreateGrantResponse {
        grant_token: created.token,
        grant_id: created.grant_id,
    })
}

/// ListGrants.
pub async fn list_grants(
    kms: &Kms,
    caller: &Caller,
    r: ListGrantsRequest,
) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    kms.authorize(caller, &id, Action::plain("ListGrants"))
        .await?;
    let limit = page_size(r.limit, r.marker.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    let grant = grant_id(r.grant_id)?;
    let grantee = optional_principal(r.grantee_principal, "granteePrincipal")?;
    no_service_principal(
        r.grantee_service_principal.as_ref(),
        "granteeServicePrincipal",
    )?;
    let page = kms
        .list_grants(
            &id,
            grant.as_deref(),
            grantee.as_deref(),
            limit,
            r.marker.as_deref(),
        )
        .await?;
    listing(kms, page)
}

/// ListRetirableGrants.
pub async fn list_retirable_grants(
    kms: &Kms,
    caller: &Caller,
    r: ListRetirableGrantsRequest,
) -> Result<Vec<u8>, KmsError> {
    kms.authorize_account(caller, "ListRetirableGrants")?;
    let limit = page_size(r.limit, r.marker.as_deref(), DEFAULT_LIMIT, MAX_LIMIT)?;
    no_service_principal(
        r.retiring_service_principal.as_ref(),
        "retiringServicePrincipal",
    )?;
    let retiring = required(r.retiring_principal, "retiringPrincipal")?;
    principal(&retiring, "retiringPrincipal")?;
    let page = kms
        .list_retirable_grants(&retiring, limit, r.marker.as_deref())
        .await?;
    listing(kms, page)
}

/// RetireGrant: by GrantToken, or by KeyId and GrantId.
pub async fn retire_grant(
    kms: &Kms,
    caller: &Caller,
    r: RetireGrantRequest,
) -> Result<Vec<u8>, KmsError> {
    if let Some(token) = &r.grant_token {
        str_len("grantToken", token, 1, 8192)?;
    }
    let key = optional_key_id(r.key_id, "keyId")?;
    let grant = grant_id(r.grant_id)?;
    let target = match (r.grant_token.as_deref(), key.as_deref(), grant.as_deref()) {
        (Some(token), key_id, grant_id) => GrantRef::Token {
            token,
            key_id,
            grant_id,
        },
        (None, Some(key_id), Some(grant_id)) => GrantRef::Id { key_id, grant_id },
        _ => {
            return Err(KmsError::new(
                ErrorKind::Validation,
                "Specify either GrantToken, or KeyId and GrantId.",
            ))
        }
    };
    kms.retire_grant(caller, target, r.dry_run.unwrap_or(false))
        .await?;
    empty()
}

/// RevokeGrant.
pub async fn revoke_grant(
    kms: &Kms,
    caller: &Caller,
    r: RevokeGrantRequest,
) -> Result<Vec<u8>, KmsError> {
    let key = key_id(r.key_id, "keyId")?;
    let grant = required(grant_id(r.grant_id)?, "grantId")?;
    kms.authorize(caller, &key, Action::plain("RevokeGrant"))
        .await?;
    kms.revoke_grant(&key, &grant, r.dry_run.unwrap_or(false))
        .await?;
    empty()
}

fn listing(kms: &Kms, page: Page<Grant>) -> Result<Vec<u8>, KmsError> {
    let truncated = page.truncated();
    let grants = page
        .items
        .into_iter()
        .map(|g| GrantListEntry {
            key_id: kms.identity().key_arn(g.key_id),
            grant_id: g.id,
            name: g.terms.name,
            creation_date: seconds(g.created_at),
            grantee_principal: g.terms.grantee,
            retiring_principal: g.terms.retiring,
            issuing_account: g.issuing_account,
            operations: g.terms.operations,
            constraints: g.terms.constraint.map(|c| match c {
                Constraint::EncryptionContextSubset(pairs) => GrantConstraints {
                    encryption_context_subset: Some(pairs),
                    encryption_context_equals: None,
                    source_arn: None,
                },
                Constraint::EncryptionContextEquals(pairs) => GrantConstraints {
                    encryption_context_subset: None,
                    encryption_context_equals: Some(pairs),
                    source_arn: None,
                },
            }),
        })
        .collect();
    json(&ListGrantsResponse {
        grants,
        next_marker: page.next_marker,
        truncated,
    })
}
