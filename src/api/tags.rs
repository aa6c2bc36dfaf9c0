//! TagResource, UntagResource, ListResourceTags.

use serde::{Deserialize, Serialize};

use super::body::objects;
use super::handlers::empty;
use super::handlers::{json, key_id, tags};
use super::validate::{page_size, required, str_len};
use super::wire::Tag;
use crate::kms::{Action, Caller, Kms, KmsError};

/// ListResourceTags' largest page, and its size when no Limit is given.
const MAX_LIMIT: usize = 50;

/// TagResource input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TagResourceRequest {
    pub key_id: Option<String>,
    #[serde(default, deserialize_with = "objects")]
    pub tags: Option<Vec<Tag>>,
}

/// UntagResource input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct UntagResourceRequest {
    pub key_id: Option<String>,
    pub tag_keys: Option<Vec<String>>,
}

/// ListResourceTags input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListResourceTagsRequest {
    pub key_id: Option<String>,
    pub limit: Option<i64>,
    pub marker: Option<String>,
}

/// ListResourceTags output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListResourceTagsResponse {
    pub tags: Vec<Tag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub truncated: bool,
}

/// TagResource.
pub async fn tag_resource(
    kms: &Kms,
    caller: &Caller,
    r: TagResourceRequest,
) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    kms.authorize(caller, &id, Action::plain("TagResource"))
        .await?;
    let tags = tags(required(r.tags, "tags")?)?;
    kms.tag_resource(&id, tags).await?;
    empty()
}

/// UntagResource.
pub async fn untag_resource(
    kms: &Kms,
    caller: &Caller,
    r: UntagResourceRequest,
) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    kms.authorize(caller, &id, Action::plain("UntagResource"))
        .await?;
    let tag_keys = required(r.tag_keys, "tagKeys")?;
    for (i, k) in tag_keys.iter().enumerate() {
        str_len(&format!("tagKeys.{}.member", i + 1), k, 1, 128)?;
    }
    kms.untag_resource(&id, tag_keys).await?;
    empty()
}

/// ListResourceTags: Limit 1..1000 as the model allows, at most 50 per page (the default).
pub async fn list_resource_tags(
    kms: &Kms,
    caller: &Caller,
    r: ListResourceTagsRequest,
) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    kms.authorize(caller, &id, Action::plain("ListResourceTags"))
        .await?;
    let limit = page_size(r.limit, r.marker.as_deref(), MAX_LIMIT, MAX_LIMIT)?;
    let page = kms
        .list_resource_tags(&id, limit, r.marker.as_deref())
        .await?;
    let truncated = page.truncated();
    let tags = page
        .items
        .into_iter()
        .map(|(k, v)| Tag {
            tag_key: Some(k),
            tag_value: Some(v),
        })
        .collect();
    json(&ListResourceTagsResponse {
        tags,
        truncated,
        next_marker: page.next_marker,
    })
}
