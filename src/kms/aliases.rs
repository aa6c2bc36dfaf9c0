//! Aliases: friendly names for keys. CreateAlias, UpdateAlias, DeleteAlias, ListAliases.
//!
//! The sidecar's `aliases` table is the record; `Kms::aliases` (name to key id) is the copy
//! every `KeyId` resolution reads, changed under the write lock right after each commit.

use std::sync::PoisonError;

use uuid::Uuid;

use super::model::Millis;
use super::paging::{page, Page};
use super::rules::Op;
use super::{Action, Caller, ErrorKind, Kms, KmsError};

/// Every alias name starts with this.
const PREFIX: &str = "alias/";
/// Names under this prefix belong to AWS managed keys; no caller may make or change one.
const RESERVED_PREFIX: &str = "alias/aws/";

/// An alias as the sidecar records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// The full name, `alias/...`.
    pub name: String,
    /// The key it points to.
    pub key_id: Uuid,
    /// When CreateAlias made it.
    pub created_at: Millis,
    /// When it was last pointed at a key (CreateAlias or UpdateAlias).
    pub updated_at: Millis,
}

impl Kms {
    /// CreateAlias: `name` for the key `target_key_id` (a key id or ARN), once `caller` may.
    pub async fn create_alias(
        &self,
        caller: &Caller,
        name: &str,
        target_key_id: &str,
    ) -> Result<(), KmsError> {
        check_alias_name(name)?;
        let _writing = self.writes.lock().await;
        if self.alias_target(name).is_ok() {
            return Err(KmsError::new(
                ErrorKind::AlreadyExists,
                format!(
                    "An alias with the name {} already exists",
                    self.identity.alias_arn(name)
                ),
            ));
        }
        let key = self
            .authorized(caller, target_key_id, Action::plain("CreateAlias"))
            .await?;
        self.check(Op::CreateAlias, &key)?;
        let now = self.clock.now();
        let alias = Alias {
            name: name.to_owned(),
            key_id: key.id,
            created_at: now,
            updated_at: now,
        };
        self.blocking(move |store| store.insert_alias(&alias))
            .await?;
        self.point(name, key.id);
        tracing::info!(alias = name, key_id = %key.id, "created alias");
        Ok(())
    }

    /// UpdateAlias: points `name` at `target_key_id` (a key id or ARN), once `caller` may on
    /// both the key the alias points to and the new one. Only the new key's state counts.
    /// Both checks run under the write lock, so the alias cannot move between check and use.
    pub async fn update_alias(
        &self,
        caller: &Caller,
        name: &str,
        target_key_id: &str,
    ) -> Result<(), KmsError> {
        check_alias_name(name)?;
        let _writing = self.writes.lock().await;
        self.authorize_alias(caller, name, "UpdateAlias").await?;
        let key = self
            .authorized(caller, target_key_id, Action::plain("UpdateAlias"))
            .await?;
        self.check(Op::UpdateAliasTarget, &key)?;
        let (alias, key_id, now) = (name.to_owned(), key.id, self.clock.now());
        self.blocking(move |store| store.retarget_alias(&alias, key_id, now))
            .await?;
        self.point(name, key.id);
        tracing::info!(alias = name, key_id = %key.id, "alias now points to another key");
        Ok(())
    }

    /// DeleteAlias, once `caller` may on the key the alias points to.
    pub async fn delete_alias(&self, caller: &Caller, name: &str) -> Result<(), KmsError> {
        check_alias_name(name)?;
        let _writing = self.writes.lock().await;
        if let Some(key) = self.authorize_alias(caller, name, "DeleteAlias").await? {
            self.check(Op::DeleteAlias, &key)?;
        }
        let alias = name.to_owned();
        self.blocking(move |store| store.delete_alias(&alias))
            .await?;
        self.aliases
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
        tracing::info!(alias = name, "deleted alias");
        Ok(())
    }

    /// ListAliases in name order, only those of the key `key_id` (a key id or ARN) when given.
    pub async fn list_aliases(
        &self,
        key_id: Option<&str>,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Page<Alias>, KmsError> {
        let filter = match key_id {
            Some(id) => Some(self.checked_by_id(id, Op::ListAliases)?.id),
            None => None,
        };
        let aliases = self
            .blocking(move |store| store.list_aliases(filter))
            .await?;
        page(
            aliases.into_iter().map(|a| (a.name.clone(), a)),
            limit,
            marker,
        )
    }

    /// Forgets the aliases of a deleted key (the sidecar rows go with its tombstone).
    pub(super) fn drop_aliases_of(&self, key_id: Uuid) {
        let mut aliases = self.aliases.write().unwrap_or_else(PoisonError::into_inner);
        aliases.retain(|_, target| *target != key_id);
    }

    /// Makes `name` resolve to `key_id`. Call with the write lock held, after the commit.
    fn point(&self, name: &str, key_id: Uuid) {
        self.aliases
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), key_id);
    }
}

/// The alias-name rules beyond the model's length and pattern, in AWS's words.
fn check_alias_name(name: &str) -> Result<(), KmsError> {
    if !name.starts_with(PREFIX) {
        return Err(KmsError::new(
            ErrorKind::Validation,
            "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
        ));
    }
    if name.starts_with(RESERVED_PREFIX) {
        // AWS answers with the exception name only.
        return Err(KmsError::new(ErrorKind::NotAuthorized, ""));
    }
    if name.contains(':') {
        return Err(KmsError::new(
            ErrorKind::Validation,
            format!("{name} contains invalid characters for an alias"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_names_follow_aws_rules_in_aws_order() {
        assert!(check_alias_name("alias/app-1/blue_green").is_ok());
        let kind = |name| check_alias_name(name).map_err(|e| e.kind);
        assert_eq!(kind("app"), Err(ErrorKind::Validation));
        assert_eq!(
            kind("arn:aws:kms:us-east-1:111122223333:alias/app"),
            Err(ErrorKind::Validation)
        );
        assert_eq!(kind("alias/aws/s3"), Err(ErrorKind::NotAuthorized));
        assert_eq!(kind("alias/aws/s3:x"), Err(ErrorKind::NotAuthorized));
        assert_eq!(kind("alias/a:b"), Err(ErrorKind::Validation));
        assert_eq!(
            check_alias_name("alias/a:b").unwrap_err().message,
            "alias/a:b contains invalid characters for an alias"
        );
    }
}
