//! The sidecar: key metadata in SQLite. WAL with `synchronous=FULL`, so a commit is on disk
//! before we answer. The connection is held exclusively: one daemon per database.

mod migrations;

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{params, Connection, Row};
use uuid::Uuid;

use crate::kms::model::{Custody, Key, KeySpec, KeyUsage, Material, MaterialState, Origin};
use crate::kms::rules::KeyState;

/// Internal key state for a key whose token object may not exist yet.
const CREATING: &str = "Creating";

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

    /// Records a key in the Creating state, with its material and tags, in one transaction.
    pub fn insert_creating(&self, key: &Key, tags: &[(String, String)]) -> Result<(), StoreError> {
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
                CREATING,
                key.policy,
                key.current_material.map(|m| m.to_string()),
            ],
        )?;
        for m in &key.materials {
            tx.execute(
                "INSERT INTO key_materials (material_id, key_id, state, custody, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    m.id.to_string(),
                    key.id.to_string(),
                    m.state.as_str(),
                    m.custody.as_str(),
                    m.created_at
                ],
            )?;
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

    /// Every acknowledged key with its materials.
    pub fn load_keys(&self) -> Result<Vec<Key>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT key_id, created_at, description, key_usage, key_spec, origin, key_state,
                    policy, current_material_id
             FROM keys WHERE key_state != ?1",
        )?;
        let mut keys = stmt
            .query_map([CREATING], key_from_row)?
            .collect::<Result<Result<Vec<Key>, StoreError>, rusqlite::Error>>()??;
        let mut stmt = conn.prepare(
            "SELECT material_id, state, custody, created_at FROM key_materials
             WHERE key_id = ?1 ORDER BY created_at, material_id",
        )?;
        for key in &mut keys {
            key.materials = stmt
                .query_map([key.id.to_string()], material_from_row)?
                .collect::<Result<Result<Vec<Material>, StoreError>, rusqlite::Error>>()??;
        }
        Ok(keys)
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

    /// Ids of every material the sidecar knows, for reconciliation with the token.
    pub fn material_ids(&self) -> Result<Vec<Uuid>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT material_id FROM key_materials")?;
        let ids = stmt.query_map([], |r| r.get::<_, String>(0))?;
        ids.map(|id| parse_uuid(&id?)).collect()
    }
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

fn key_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Key, StoreError>> {
    let text = |i: usize| row.get::<_, String>(i);
    let (usage, spec, origin, state) = (text(3)?, text(4)?, text(5)?, text(6)?);
    let current: Option<String> = row.get(8)?;
    let created_at = row.get(1)?;
    let description = text(2)?;
    let policy = text(7)?;
    let id = text(0)?;
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
        })
    })())
}

fn material_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Material, StoreError>> {
    let (id, state, custody): (String, String, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
    let created_at = row.get(3)?;
    Ok((|| {
        Ok(Material {
            id: parse_uuid(&id)?,
            state: parsed(MaterialState::parse(&state), &state)?,
            custody: parsed(Custody::parse(&custody), &custody)?,
            created_at,
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
