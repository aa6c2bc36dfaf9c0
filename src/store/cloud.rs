//! The Cloud KMS names of keys: the `key_rings` and `crypto_keys` tables, and the
//! destruction times of versions scheduled for destruction.

use std::collections::BTreeMap;

use rusqlite::params;
use uuid::Uuid;

use super::{parse_uuid, Store, StoreError};
use crate::kms::cloud::{CryptoKey, KeyRing};
use crate::kms::Millis;

impl Store {
    /// Records a new key ring.
    pub fn insert_key_ring(&self, ring: &KeyRing) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO key_rings (name, created_at) VALUES (?1, ?2)",
            params![ring.name, ring.created_at],
        )?;
        Ok(())
    }

    /// Every key ring.
    pub fn key_rings(&self) -> Result<Vec<KeyRing>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT name, created_at FROM key_rings ORDER BY name")?;
        let rows = stmt.query_map([], |r| {
            Ok(KeyRing {
                name: r.get(0)?,
                created_at: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records (or rewrites) a crypto key's Cloud KMS attributes.
    pub fn save_crypto_key(&self, key: &CryptoKey) -> Result<(), StoreError> {
        let labels =
            serde_json::to_string(&key.labels).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.conn().execute(
            "INSERT INTO crypto_keys (name, key_ring, key_id, purpose, algorithm,
                                      destroy_scheduled_ms, import_only, labels)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (name) DO UPDATE SET algorithm = excluded.algorithm,
                 labels = excluded.labels",
            params![
                key.name,
                key.ring,
                key.key_id.to_string(),
                key.purpose,
                key.algorithm,
                key.destroy_scheduled_ms,
                key.import_only,
                labels
            ],
        )?;
        Ok(())
    }

    /// Every crypto key of a live key.
    pub fn crypto_keys(&self) -> Result<Vec<CryptoKey>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT c.name, c.key_ring, c.key_id, c.purpose, c.algorithm,
                    c.destroy_scheduled_ms, c.import_only, c.labels
             FROM crypto_keys c JOIN keys k ON k.key_id = c.key_id ORDER BY c.name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                r.get::<_, String>(2)?,
                (r.get::<_, String>(3)?, r.get::<_, String>(4)?),
                (r.get::<_, i64>(5)?, r.get::<_, bool>(6)?),
                r.get::<_, String>(7)?,
            ))
        })?;
        rows.map(|row| {
            let ((name, ring), key_id, (purpose, algorithm), (destroy, import_only), labels) = row?;
            let labels: BTreeMap<String, String> =
                serde_json::from_str(&labels).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(CryptoKey {
                name,
                ring,
                key_id: parse_uuid(&key_id)?,
                purpose,
                algorithm,
                destroy_scheduled_ms: destroy,
                import_only,
                labels,
            })
        })
        .collect()
    }

    /// Sets (or clears) when version `material_id` is to be destroyed.
    pub fn set_destroy_at(&self, material_id: Uuid, at: Option<Millis>) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE key_materials SET destroy_at = ?2 WHERE material_id = ?1",
            params![material_id.to_string(), at],
        )?;
        Ok(())
    }

    /// Every version scheduled for destruction, with its time.
    pub fn destroy_schedule(&self) -> Result<Vec<(Uuid, Millis)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT material_id, destroy_at FROM key_materials WHERE destroy_at IS NOT NULL",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        rows.map(|row| {
            let (id, at) = row?;
            Ok((parse_uuid(&id)?, at))
        })
        .collect()
    }
}
