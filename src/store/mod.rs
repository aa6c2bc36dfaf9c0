//! The sidecar: key metadata in SQLite. WAL with `synchronous=FULL`, so a commit is on disk
//! before we answer. The connection is held exclusively: one daemon per database.

mod aliases;
mod cloud;
mod encryptions;
mod grants;
mod health;
mod import_jobs;
mod migrations;
mod tags;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{params, Connection, Row};

use crate::hsm::WrappedBlob;
use uuid::Uuid;

use crate::kms::model::{
    Custody, Imported, Key, KeySpec, KeyUsage, Material, MaterialState, Origin, Rotation,
    RotationType, UnwrappedBy,
};
use crate::kms::rules::KeyState;

/// Internal key state for a key whose token object may not exist yet.
const CREATING: &str = "Creating";
/// Internal key state of a deleted key's tombstone, kept for the record.
const DELETED: &str = "Deleted";

/// Why a sidecar call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database file could not be created.
    #[error("cannot create {path}: {source}")]
    Create {
        /// The file we tried to create.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The schema is newer than this build knows.
    #[error("database schema version {0} is newer than this build supports ({1})")]
    UnknownSchema(i64, usize),
    /// A stored value is not one we write.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// A key row left in the internal Creating state by a crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfinishedKey {
    /// The key that was never acknowledged.
    pub key_id: Uuid,
    /// Its material ids, whose token objects may or may not exist.
    pub materials: Vec<Uuid>,
}

/// The sidecar database. Cheap to clone; calls block, so run them off the reactor.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl Store {
    /// Opens (creating with mode 0600 if missing) and migrates the database.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        create_private(path)?;
        let mut conn = Connection::open(path)?;
        // One connection per process: waiting only ever means another daemon holds the file.
        conn.busy_timeout(std::time::Duration::from_millis(500))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        // Freed pages are zeroed: a destroyed key's wrapped blob does not linger in the file.
        conn.pragma_update(None, "secure_delete", true)?;
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        // Take the exclusive lock now, so a second daemon on this file fails at start-up
        // instead of at its first write.
        conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;")?;
        migrate(&mut conn)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic inside a transaction rolls it back on drop, so the data stays consistent.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a key with its materials, their wrapped blobs (wrapped custody) and tags in
    /// one transaction: in the internal Creating state while its token objects are being
    /// made (`creating`), else as it is.
    pub fn insert_key(
        &self,
        key: &Key,
        tags: &[(String, String)],
        creating: bool,
        wrapped: &[(Uuid, WrappedBlob)],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO keys (key_id, created_at, description, key_usage, key_spec, origin,
                               key_state, policy, current_material_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                key.id.to_string(),
                key.created_at,
                key.description,
                key.usage.as_str(),
                key.spec.as_str(),
                key.origin.as_str(),
                if creating {
                    CREATING
                } else {
                    key.state.as_str()
                },
                &*key.policy,
                key.current_material.map(|m| m.to_string()),
            ],
        )?;
        for m in &key.materials {
            upsert_material(&tx, key.id, m)?;
        }
        for (id, blob) in wrapped {
            put_wrapped(&tx, *id, blob)?;
        }
        for (k, v) in tags {
            tx.execute(
                "INSERT INTO tags (key_id, tag_key, tag_value) VALUES (?1, ?2, ?3)",
                params![key.id.to_string(), k, v],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Writes a key's mutable fields and its materials (new ones added, states updated; a
    /// check value, once recorded, never changes).
    pub fn save_key(&self, key: &Key) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let changed = tx.execute(
            "UPDATE keys SET description = ?2, key_state = ?3, policy = ?4,
                    current_material_id = ?5, deletion_date = ?6, pending_window_days = ?7,
                    rotation_enabled = ?8, rotation_period_days = ?9, next_rotation_at = ?10
             WHERE key_id = ?1 AND key_state NOT IN (?11, ?12)",
            params![
                key.id.to_string(),
                key.description,
                key.state.as_str(),
                &*key.policy,
                key.current_material.map(|m| m.to_string()),
                key.deletion_date,
                key.pending_window_days,
                key.rotation.enabled,
                key.rotation.period_days,
                key.rotation.next_at,
                CREATING,
                DELETED,
            ],
        )?;
        if changed != 1 {
            return Err(StoreError::Corrupt(format!("no live key {}", key.id)));
        }
        for m in &key.materials {
            upsert_material(&tx, key.id, m)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Leaves a tombstone of a deleted key (its row, materials DESTROYED) for the record,
    /// and removes its aliases, grants and tags.
    pub fn tombstone_key(&self, key_id: Uuid) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let id = key_id.to_string();
        tx.execute(
            "UPDATE keys SET key_state = ?2 WHERE key_id = ?1",
            params![id, DELETED],
        )?;
        tx.execute(
            "UPDATE key_materials SET state = ?2, wrapped_material = NULL, wrapped_binding = NULL
             WHERE key_id = ?1",
            params![id, MaterialState::Destroyed.as_str()],
        )?;
        for table in ["aliases", "grants", "tags"] {
            tx.execute(&format!("DELETE FROM {table} WHERE key_id = ?1"), [&id])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Moves a created key and its materials to their live states.
    pub fn finish_creating(&self, key: &Key) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE keys SET key_state = ?2 WHERE key_id = ?1",
            params![key.id.to_string(), key.state.as_str()],
        )?;
        for m in &key.materials {
            tx.execute(
                "UPDATE key_materials SET state = ?2 WHERE material_id = ?1",
                params![m.id.to_string(), m.state.as_str()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes a material version that never became usable (a failed rotation).
    pub fn delete_material(&self, material_id: Uuid) -> Result<(), StoreError> {
        self.conn().execute(
            "DELETE FROM key_materials WHERE material_id = ?1 AND state = ?2",
            params![
                material_id.to_string(),
                MaterialState::PendingGeneration.as_str()
            ],
        )?;
        Ok(())
    }

    /// Removes a key that was never acknowledged, with everything hanging off it.
    pub fn delete_unfinished(&self, key_id: Uuid) -> Result<(), StoreError> {
        self.conn().execute(
            "DELETE FROM keys WHERE key_id = ?1 AND key_state = ?2",
            params![key_id.to_string(), CREATING],
        )?;
        Ok(())
    }

    /// Keys left in the Creating state by a crash.
    pub fn unfinished_keys(&self) -> Result<Vec<UnfinishedKey>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT k.key_id, m.material_id FROM keys k
             LEFT JOIN key_materials m ON m.key_id = k.key_id
             WHERE k.key_state = ?1 ORDER BY k.key_id",
        )?;
        let mut out: Vec<UnfinishedKey> = Vec::new();
        let mut rows = stmt.query([CREATING])?;
        while let Some(row) = rows.next()? {
            let key_id = uuid_at(row, 0)?;
            let material: Option<String> = row.get(1)?;
            if out.last().is_none_or(|u| u.key_id != key_id) {
                out.push(UnfinishedKey {
                    key_id,
                    materials: Vec::new(),
                });
            }
            if let (Some(m), Some(last)) = (material, out.last_mut()) {
                last.materials.push(parse_uuid(&m)?);
            }
        }
        Ok(out)
    }

    /// Every acknowledged key with its materials (oldest first), by id. Two passes in
    /// table order, whatever the number of keys: the keys, then every material attached to
    /// its key. Keys whose policy text is in `policies`, or the same as an earlier key's,
    /// share one copy of it; `policies` collects the texts.
    pub fn load_keys(
        &self,
        policies: &mut HashSet<Arc<str>>,
    ) -> Result<BTreeMap<Uuid, Arc<Key>>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT key_id, created_at, description, key_usage, key_spec, origin, key_state,
                    policy, current_material_id, deletion_date, pending_window_days,
                    rotation_enabled, rotation_period_days, next_rotation_at
             FROM keys WHERE key_state NOT IN (?1, ?2)",
        )?;
        let mut keys: Vec<(Uuid, Arc<Key>)> = Vec::new();
        let mut rows = stmt.query([CREATING, DELETED])?;
        while let Some(row) = rows.next()? {
            let key = key_from_row(row, policies)??;
            keys.push((key.id, Arc::new(key)));
        }
        keys.sort_unstable_by_key(|(id, _)| *id);
        let mut stmt = conn.prepare(
            "SELECT material_id, state, custody, created_at, rotation_type, key_check_value,
                    unwrapped_by, valid_to, description, key_id FROM key_materials",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            // The materials of keys not loaded (Creating, Deleted) are passed over.
            let Ok(at) = keys.binary_search_by_key(&uuid_at(row, 9)?, |(id, _)| *id) else {
                continue;
            };
            let material = material_from_row(row)??;
            // Not shared yet: each Arc was made just above.
            if let Some(key) = Arc::get_mut(&mut keys[at].1) {
                // Most keys have one material: no room for more until a second comes.
                key.materials.reserve_exact(1);
                key.materials.push(material);
            }
        }
        for key in keys.iter_mut().filter_map(|(_, key)| Arc::get_mut(key)) {
            key.materials.sort_by_key(|m| (m.created_at, m.id));
        }
        // Sorted by id: the map is built in one pass, its nodes full.
        Ok(keys.into_iter().collect())
    }

    /// Tags of a key, sorted by tag key.
    pub fn tags(&self, key_id: Uuid) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT tag_key, tag_value FROM tags WHERE key_id = ?1 ORDER BY tag_key")?;
        let rows = stmt.query_map([key_id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every alias with its target key.
    pub fn aliases(&self) -> Result<Vec<(String, Uuid)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT alias_name, key_id FROM aliases")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        rows.map(|row| {
            let (name, key_id) = row?;
            Ok((name, parse_uuid(&key_id)?))
        })
        .collect()
    }

    /// Stores the wrapped blob of a material version not yet usable (a rotation's).
    pub fn save_wrapped(&self, material_id: Uuid, blob: &WrappedBlob) -> Result<(), StoreError> {
        put_wrapped(&self.conn(), material_id, blob)
    }

    /// The wrapped blob of material `material_id`, when it is in wrapped custody and not
    /// destroyed.
    pub fn wrapped_material(&self, material_id: Uuid) -> Result<Option<WrappedBlob>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT wrapping_key_id, wrapped_material, wrapped_binding FROM key_materials
             WHERE material_id = ?1 AND custody = ?2 AND wrapped_material IS NOT NULL",
        )?;
        let mut rows = stmt.query(params![material_id.to_string(), Custody::Wrapped.as_str()])?;
        let Some(row) = rows.next()? else {
            return Ok(None);
        };
        Ok(Some(WrappedBlob {
            kek: uuid_at(row, 0)?,
            blob: row.get(1)?,
            binding: row.get::<_, Option<Vec<u8>>>(2)?.unwrap_or_default(),
        }))
    }

    /// Those of `ids` that no material row has, for reconciliation with the token.
    pub fn unknown_materials(&self, ids: &[Uuid]) -> Result<Vec<Uuid>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT 1 FROM key_materials WHERE material_id = ?1")?;
        let mut unknown = Vec::new();
        for id in ids {
            if !stmt.exists([id.to_string()])? {
                unknown.push(*id);
            }
        }
        Ok(unknown)
    }
}

fn put_wrapped(conn: &Connection, material_id: Uuid, blob: &WrappedBlob) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE key_materials SET wrapping_key_id = ?2, wrapped_material = ?3, wrapped_binding = ?4
         WHERE material_id = ?1",
        params![
            material_id.to_string(),
            blob.kek.to_string(),
            blob.blob,
            blob.binding
        ],
    )?;
    Ok(())
}

fn upsert_material(
    tx: &rusqlite::Transaction<'_>,
    key_id: Uuid,
    m: &Material,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO key_materials (material_id, key_id, state, custody, created_at, rotation_type,
                                    key_check_value, unwrapped_by, valid_to, description)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (material_id) DO UPDATE SET state = excluded.state,
             wrapped_material = CASE excluded.state WHEN 'DESTROYED' THEN NULL
                                    ELSE wrapped_material END,
             wrapped_binding = CASE excluded.state WHEN 'DESTROYED' THEN NULL
                                   ELSE wrapped_binding END,
             key_check_value = COALESCE(key_check_value, excluded.key_check_value),
             unwrapped_by = excluded.unwrapped_by, valid_to = excluded.valid_to,
             description = excluded.description",
        params![
            m.id.to_string(),
            key_id.to_string(),
            m.state.as_str(),
            m.custody.as_str(),
            m.created_at,
            m.rotation_type.map(|r| r.as_str()),
            m.import.as_ref().map(|i| i.key_check_value.clone()),
            m.import.as_ref().map(|i| i.unwrapped_by.as_str()),
            m.import.as_ref().and_then(|i| i.valid_to),
            m.import.as_ref().and_then(|i| i.description.clone()),
        ],
    )?;
    Ok(())
}

/// Creates the file with mode 0600 so key metadata is private from the first byte.
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::Create {
            path: path.display().to_string(),
            source,
        }),
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = migrations::MIGRATIONS.len();
    let start = usize::try_from(version).map_err(|_| StoreError::UnknownSchema(version, known))?;
    if start > known {
        return Err(StoreError::UnknownSchema(version, known));
    }
    for (index, sql) in migrations::MIGRATIONS.iter().enumerate().skip(start) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
        tx.commit()?;
        tracing::info!(version = index + 1, "applied sidecar schema migration");
    }
    Ok(())
}

fn key_from_row(
    row: &Row<'_>,
    policies: &mut HashSet<Arc<str>>,
) -> rusqlite::Result<Result<Key, StoreError>> {
    let text = |i: usize| row.get::<_, String>(i);
    let (id, usage, spec, origin, state) = (text(0)?, text(3)?, text(4)?, text(5)?, text(6)?);
    let current: Option<String> = row.get(8)?;
    let rotation = Rotation {
        enabled: row.get(11)?,
        period_days: row.get(12)?,
        next_at: row.get(13)?,
    };
    let (created_at, description) = (row.get(1)?, text(2)?);
    let policy_text = row.get_ref(7)?.as_str()?;
    let policy = match policies.get(policy_text) {
        Some(shared) => shared.clone(),
        None => {
            let policy: Arc<str> = policy_text.into();
            policies.insert(policy.clone());
            policy
        }
    };
    let (deletion_date, pending_window_days) = (row.get(9)?, row.get(10)?);
    Ok((|| {
        Ok(Key {
            id: parse_uuid(&id)?,
            created_at,
            description,
            usage: parsed(KeyUsage::parse(&usage), &usage)?,
            spec: parsed(KeySpec::parse(&spec), &spec)?,
            origin: parsed(Origin::parse(&origin), &origin)?,
            state: parsed(KeyState::parse(&state), &state)?,
            policy,
            current_material: current.as_deref().map(parse_uuid).transpose()?,
            materials: Vec::new(),
            deletion_date,
            pending_window_days,
            rotation,
        })
    })())
}

fn material_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Material, StoreError>> {
    let (id, state, custody): (String, String, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
    let (created_at, rotation): (i64, Option<String>) = (row.get(3)?, row.get(4)?);
    let kcv: Option<Vec<u8>> = row.get(5)?;
    let unwrapped_by: Option<String> = row.get(6)?;
    let (valid_to, description) = (row.get(7)?, row.get(8)?);
    Ok((|| {
        let import = match (kcv, unwrapped_by) {
            (Some(key_check_value), Some(by)) => Some(Imported {
                key_check_value,
                unwrapped_by: parsed(UnwrappedBy::parse(&by), &by)?,
                valid_to,
                description,
            }),
            _ => None,
        };
        Ok(Material {
            id: parse_uuid(&id)?,
            state: parsed(MaterialState::parse(&state), &state)?,
            custody: parsed(Custody::parse(&custody), &custody)?,
            created_at,
            rotation_type: rotation
                .map(|r| parsed(RotationType::parse(&r), &r))
                .transpose()?,
            import,
        })
    })())
}

fn parsed<T>(value: Option<T>, text: &str) -> Result<T, StoreError> {
    value.ok_or_else(|| StoreError::Corrupt(format!("unexpected value {text:?}")))
}

fn parse_uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|_| StoreError::Corrupt(format!("bad id {text:?}")))
}

fn uuid_at(row: &Row<'_>, index: usize) -> Result<Uuid, StoreError> {
    parse_uuid(&row.get::<_, String>(index)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn key(policy: &str, created: &[(Uuid, i64)]) -> Key {
        Key {
            id: Uuid::new_v4(),
            created_at: 0,
            description: String::new(),
            usage: KeyUsage::EncryptDecrypt,
            spec: KeySpec::SymmetricDefault,
            origin: Origin::AwsKms,
            state: KeyState::Enabled,
            policy: policy.into(),
            current_material: created.first().map(|(id, _)| *id),
            materials: created
                .iter()
                .map(|&(id, created_at)| Material {
                    id,
                    state: MaterialState::Enabled,
                    custody: Custody::TokenObject,
                    created_at,
                    rotation_type: None,
                    import: None,
                })
                .collect(),
            deletion_date: None,
            pending_window_days: None,
            rotation: Rotation::default(),
        }
    }

    #[test]
    fn keys_load_with_their_own_materials_oldest_first_and_shared_policy_texts() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("sidecar.sqlite3")).unwrap();
        let (m1, m2, m3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        // Written newest first: the load orders by creation time, not by row.
        let two = key("{\"a\":1}", &[(m2, 20), (m1, 10)]);
        let one = key("{\"a\":1}", &[(m3, 5)]);
        let creating = key("{\"b\":2}", &[(Uuid::new_v4(), 1)]);
        let bare = key("{\"c\":3}", &[]);
        store.insert_key(&two, &[], false, &[]).unwrap();
        store.insert_key(&one, &[], false, &[]).unwrap();
        store.insert_key(&creating, &[], true, &[]).unwrap();
        store.insert_key(&bare, &[], false, &[]).unwrap();
        let shared: Arc<str> = "{\"c\":3}".into();
        let mut policies = HashSet::from([shared.clone()]);
        let keys = store.load_keys(&mut policies).unwrap();
        assert_eq!(keys.len(), 3, "the Creating key is not loaded");
        let ids = |k: &Key| k.materials.iter().map(|m| m.id).collect::<Vec<_>>();
        assert_eq!(ids(&keys[&two.id]), [m1, m2]);
        assert_eq!(ids(&keys[&one.id]), [m3]);
        assert!(keys[&bare.id].materials.is_empty());
        assert!(Arc::ptr_eq(&keys[&two.id].policy, &keys[&one.id].policy));
        assert!(Arc::ptr_eq(&keys[&bare.id].policy, &shared));
        assert_eq!(keys[&one.id].materials.capacity(), 1);
    }

    #[test]
    fn unknown_materials_are_the_ids_without_a_row() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("sidecar.sqlite3")).unwrap();
        let recorded = Uuid::new_v4();
        store
            .insert_key(&key("{}", &[(recorded, 1)]), &[], false, &[])
            .unwrap();
        let stray = Uuid::new_v4();
        assert_eq!(
            store.unknown_materials(&[recorded, stray]).unwrap(),
            [stray]
        );
    }
}
