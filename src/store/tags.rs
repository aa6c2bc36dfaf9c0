//! Writes to the `tags` table (reads are `Store::tags`).

use rusqlite::params;
use uuid::Uuid;

use super::{Store, StoreError};

impl Store {
    /// Sets `tags` on a key in one transaction; a tag key it already has gets the new value.
    pub fn put_tags(&self, key_id: Uuid, tags: &[(String, String)]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let id = key_id.to_string();
        for (k, v) in tags {
            tx.execute(
                "INSERT INTO tags (key_id, tag_key, tag_value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
                params![id, k, v],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes the tags with these keys from a key in one transaction; keys it does not
    /// carry are ignored.
    pub fn remove_tags(&self, key_id: Uuid, tag_keys: &[String]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let id = key_id.to_string();
        for k in tag_keys {
            tx.execute(
                "DELETE FROM tags WHERE key_id = ?1 AND tag_key = ?2",
                params![id, k],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}
