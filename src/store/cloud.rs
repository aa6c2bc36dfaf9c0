//! The Cloud KMS names of keys: the `key_rings` and `crypto_keys` tables, and the
//! destruction times of versions scheduled for destruction.

use std::collections::BTreeMap;

use rusqlite::params;
use uuid::Uuid;

use super::{parse_uuid, Store, StoreError};
use crate::kms::cloud::{CloudImportJob, CryptoKey, KeyRing, VersionNote};
use crate::kms::model::ImportJobState;
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

    /// Records (or rewrites) a Cloud KMS import job.
    pub fn save_cloud_import_job(&self, job: &CloudImportJob) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO cloud_import_jobs (name, import_job_id, import_method, state,
                                            public_key, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (name) DO UPDATE SET state = excluded.state,
                 public_key = excluded.public_key",
            params![
                job.name,
                job.id.to_string(),
                job.method,
                job.state.as_str(),
                job.public_key,
                job.created_at,
                job.expires_at
            ],
        )?;
        Ok(())
    }

    /// Every Cloud KMS import job.
    pub fn cloud_import_jobs(&self) -> Result<Vec<CloudImportJob>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT name, import_job_id, import_method, state, public_key, created_at, expires_at
             FROM cloud_import_jobs ORDER BY name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                (r.get::<_, String>(2)?, r.get::<_, String>(3)?),
                r.get::<_, Option<Vec<u8>>>(4)?,
                (r.get::<_, i64>(5)?, r.get::<_, i64>(6)?),
            ))
        })?;
        rows.map(|row| {
            let ((name, id), (method, state), public_key, (created_at, expires_at)) = row?;
            Ok(CloudImportJob {
                name,
                id: parse_uuid(&id)?,
                method,
                state: ImportJobState::parse(&state)
                    .ok_or_else(|| StoreError::Corrupt(format!("import job state {state}")))?,
                public_key,
                created_at,
                expires_at,
            })
        })
        .collect()
    }

    /// Records where a version was imported from, or why its import failed.
    pub fn save_version_note(
        &self,
        material_id: Uuid,
        note: &VersionNote,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT OR REPLACE INTO cloud_version_notes (material_id, import_job, failure_reason)
             VALUES (?1, ?2, ?3)",
            params![
                material_id.to_string(),
                note.import_job,
                note.failure_reason
            ],
        )?;
        Ok(())
    }

    /// Every version note.
    pub fn version_notes(&self) -> Result<Vec<(Uuid, VersionNote)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT material_id, import_job, failure_reason FROM cloud_version_notes")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?;
        rows.map(|row| {
            let (id, import_job, failure_reason) = row?;
            Ok((
                parse_uuid(&id)?,
                VersionNote {
                    import_job,
                    failure_reason,
                },
            ))
        })
        .collect()
    }
}
