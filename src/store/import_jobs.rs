//! Import jobs: the wrapping key pairs issued by GetParametersForImport.

use rusqlite::{params, OptionalExtension, Row};
use uuid::Uuid;

use super::{parse_uuid, parsed, Store, StoreError};
use crate::kms::model::{ImportJob, ImportJobState, WrappingAlgorithm, WrappingKeySpec};
use crate::kms::Millis;

const COLUMNS: &str =
    "import_job_id, key_id, state, wrapping_algorithm, wrapping_key_spec, valid_to, created_at";

impl Store {
    /// Records a new import job with the DER public key of its wrapping key, if known.
    pub fn insert_import_job(&self, job: &ImportJob) -> Result<(), StoreError> {
        self.conn().execute(
            &format!(
                "INSERT INTO import_jobs ({COLUMNS}, wrapping_key_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?1)"
            ),
            params![
                job.id.to_string(),
                job.key_id.to_string(),
                job.state.as_str(),
                job.algorithm.as_str(),
                job.spec.as_str(),
                job.valid_to,
                job.created_at,
            ],
        )?;
        Ok(())
    }

    /// Moves a job to `state`, recording its public key when one is given.
    pub fn set_import_job_state(
        &self,
        id: Uuid,
        state: ImportJobState,
        public_key: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE import_jobs SET state = ?2, public_key = COALESCE(?3, public_key)
             WHERE import_job_id = ?1 AND state != ?4",
            params![
                id.to_string(),
                state.as_str(),
                public_key,
                ImportJobState::Expired.as_str()
            ],
        )?;
        Ok(())
    }

    /// One import job.
    pub fn import_job(&self, id: Uuid) -> Result<Option<ImportJob>, StoreError> {
        let conn = self.conn();
        let sql = format!("SELECT {COLUMNS} FROM import_jobs WHERE import_job_id = ?1");
        conn.query_row(&sql, [id.to_string()], job_from_row)
            .optional()?
            .transpose()
    }

    /// Unexpired jobs of `key_id`: the ones new parameters supersede.
    pub fn unexpired_import_jobs_of(&self, key_id: Uuid) -> Result<Vec<ImportJob>, StoreError> {
        self.jobs_where("key_id = ?2", &key_id.to_string())
    }

    /// Unexpired jobs whose validity ended by `now`.
    pub fn import_jobs_due(&self, now: Millis) -> Result<Vec<ImportJob>, StoreError> {
        self.jobs_where("valid_to <= ?2", &now)
    }

    fn jobs_where(
        &self,
        condition: &str,
        value: &dyn rusqlite::ToSql,
    ) -> Result<Vec<ImportJob>, StoreError> {
        let conn = self.conn();
        let sql = format!("SELECT {COLUMNS} FROM import_jobs WHERE state != ?1 AND {condition}");
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map(
            params![ImportJobState::Expired.as_str(), value],
            job_from_row,
        )?;
        rows.collect::<Result<Result<Vec<_>, _>, _>>()?
    }
}

fn job_from_row(row: &Row<'_>) -> rusqlite::Result<Result<ImportJob, StoreError>> {
    let text = |i: usize| row.get::<_, String>(i);
    let (id, key_id, state, algorithm, spec) = (text(0)?, text(1)?, text(2)?, text(3)?, text(4)?);
    let (valid_to, created_at) = (row.get(5)?, row.get(6)?);
    Ok((|| {
        Ok(ImportJob {
            id: parse_uuid(&id)?,
            key_id: parse_uuid(&key_id)?,
            state: parsed(ImportJobState::parse(&state), &state)?,
            algorithm: parsed(WrappingAlgorithm::parse(&algorithm), &algorithm)?,
            spec: parsed(WrappingKeySpec::parse(&spec), &spec)?,
            valid_to,
            created_at,
        })
    })())
}
