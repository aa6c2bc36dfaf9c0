//! Whether the sidecar can take writes, for readiness.

use super::{Store, StoreError};

impl Store {
    /// Takes and releases the write lock (`BEGIN IMMEDIATE`, then `ROLLBACK`): fails when
    /// the database cannot be written. Writes nothing.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;")?;
        Ok(())
    }
}
