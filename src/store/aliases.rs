//! The `aliases` table: one row per alias name, pointing to one key.

use rusqlite::params;
use uuid::Uuid;

use super::{parse_uuid, Store, StoreError};
use crate::kms::aliases::Alias;
use crate::kms::Millis;

impl Store {
    /// Records a new alias.
    pub fn insert_alias(&self, alias: &Alias) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO aliases (alias_name, key_id, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![
                alias.name,
                alias.key_id.to_string(),
                alias.created_at,
                alias.updated_at
            ],
        )?;
        Ok(())
    }

    /// Points the alias `name` at `key_id` as of `at`.
    pub fn retarget_alias(&self, name: &str, key_id: Uuid, at: Millis) -> Result<(), StoreError> {
        let changed = self.conn().execute(
            "UPDATE aliases SET key_id = ?2, updated_at = ?3 WHERE alias_name = ?1",
            params![name, key_id.to_string(), at],
        )?;
        one_alias(changed, name)
    }

    /// Removes the alias `name`.
    pub fn delete_alias(&self, name: &str) -> Result<(), StoreError> {
        let changed = self
            .conn()
            .execute("DELETE FROM aliases WHERE alias_name = ?1", [name])?;
        one_alias(changed, name)
    }

    /// Aliases in name order; only those pointing to `key_id` when given.
    pub fn list_aliases(&self, key_id: Option<Uuid>) -> Result<Vec<Alias>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT alias_name, key_id, created_at, updated_at FROM aliases
             WHERE ?1 IS NULL OR key_id = ?1 ORDER BY alias_name",
        )?;
        let rows = stmt.query_map([key_id.map(|id| id.to_string())], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get(2)?,
                r.get(3)?,
            ))
        })?;
        rows.map(|row| {
            let (name, key_id, created_at, updated_at) = row?;
            Ok(Alias {
                name,
                key_id: parse_uuid(&key_id)?,
                created_at,
                updated_at,
            })
        })
        .collect()
    }
}

/// A write that had to change exactly one alias row did not.
fn one_alias(changed: usize, name: &str) -> Result<(), StoreError> {
    match changed {
        1 => Ok(()),
        _ => Err(StoreError::Corrupt(format!("no alias {name}"))),
    }
}
