//! Tags: TagResource, UntagResource, ListResourceTags, and the tagging rules CreateKey
//! shares.

use std::collections::HashSet;

use super::model::Key;
use super::paging::{page, Page};
use super::rules::Op;
use super::{ErrorKind, Kms, KmsError};

/// Most tags a key may carry.
const MAX_TAGS: usize = 50;

impl Kms {
    /// Tags of a key, sorted by tag key.
    async fn tags(&self, key: &Key) -> Result<Vec<(String, String)>, KmsError> {
        let id = key.id;
        self.blocking(move |store| store.tags(id)).await
    }

    /// TagResource: adds `tags` to the key `key_id` (a key id or ARN); a tag key the key
    /// already has gets the new value.
    pub async fn tag_resource(
        &self,
        key_id: &str,
        tags: Vec<(String, String)>,
    ) -> Result<(), KmsError> {
        let _writing = self.writes.lock().await;
        let key = self.checked_by_id(key_id, Op::TagResource)?;
        let current = self.tags(&key).await?;
        let incoming: HashSet<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
        let kept = current
            .iter()
            .filter(|(k, _)| !incoming.contains(k.as_str()))
            .count();
        check_tags(&tags, kept)?;
        let id = key.id;
        self.blocking(move |store| store.put_tags(id, &tags)).await
    }

    /// UntagResource: removes the tags with `tag_keys` from the key `key_id` (a key id or
    /// ARN); tag keys it does not carry are ignored.
    pub async fn untag_resource(
        &self,
        key_id: &str,
        tag_keys: Vec<String>,
    ) -> Result<(), KmsError> {
        let _writing = self.writes.lock().await;
        let key = self.checked_by_id(key_id, Op::UntagResource)?;
        let id = key.id;
        self.blocking(move |store| store.remove_tags(id, &tag_keys))
            .await
    }

    /// ListResourceTags: the tags of the key `key_id` (a key id or ARN) in tag-key order.
    pub async fn list_resource_tags(
        &self,
        key_id: &str,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Page<(String, String)>, KmsError> {
        let key = self.checked_by_id(key_id, Op::ListResourceTags)?;
        let tags = self.tags(&key).await?;
        page(
            tags.into_iter().map(|tag| (tag.0.clone(), tag)),
            limit,
            marker,
        )
    }
}

/// Tag rules beyond the wire constraints, for `tags` going onto a key that keeps `kept`
/// other tags: no `aws:` prefix (in any case), no tag key twice, at most 50 in all.
pub(super) fn check_tags(tags: &[(String, String)], kept: usize) -> Result<(), KmsError> {
    let tag_error = |message: &str| Err(KmsError::new(ErrorKind::Tag, message));
    let mut seen = HashSet::new();
    for (k, _) in tags {
        if k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            return tag_error("Tags beginning with aws: are reserved");
        }
        if !seen.insert(k.as_str()) {
            return tag_error("Duplicate tag keys");
        }
    }
    if kept + tags.len() > MAX_TAGS {
        return tag_error("Too many tags");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(keys: &[&str]) -> Vec<(String, String)> {
        keys.iter()
            .map(|k| ((*k).to_owned(), String::new()))
            .collect()
    }

    fn message(tags: &[(String, String)], kept: usize) -> String {
        check_tags(tags, kept).unwrap_err().message
    }

    #[test]
    fn rules_in_aws_words() {
        assert!(check_tags(&tags(&["team", "aws", "awsx:y"]), 0).is_ok());
        for reserved in ["aws:x", "AWS:x", "Aws:"] {
            assert_eq!(
                message(&tags(&["ok", reserved]), 0),
                "Tags beginning with aws: are reserved"
            );
        }
        assert_eq!(message(&tags(&["a", "b", "a"]), 0), "Duplicate tag keys");
    }

    #[test]
    fn at_most_fifty_counting_the_tags_kept() {
        let fifty: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
        let fifty = tags(&fifty.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(check_tags(&fifty, 0).is_ok());
        assert!(check_tags(&fifty[..10], 40).is_ok());
        assert_eq!(message(&fifty[..10], 41), "Too many tags");
        assert_eq!(message(&fifty, 1), "Too many tags");
    }
}
