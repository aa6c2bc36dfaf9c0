//! How many AES-GCM encryptions each material version may have done: reserved in blocks,
//! durably, before they are used, so a restart resumes from the reservation and never below.

use rusqlite::params;
use uuid::Uuid;

use super::{parse_uuid, Store, StoreError};

impl Store {
    /// The encryptions reserved so far, per material that has any.
    pub fn encryption_reservations(&self) -> Result<Vec<(Uuid, u64)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT material_id, encryptions_reserved FROM key_materials
             WHERE encryptions_reserved > 0",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        rows.map(|row| {
            let (id, reserved) = row?;
            Ok((parse_uuid(&id)?, u64::try_from(reserved).unwrap_or(0)))
        })
        .collect()
    }

    /// Raises the reservation of `material_id` to `reserved` (never lowers it).
    pub fn reserve_encryptions(&self, material_id: Uuid, reserved: u64) -> Result<(), StoreError> {
        let reserved = i64::try_from(reserved).unwrap_or(i64::MAX);
        self.conn().execute(
            "UPDATE key_materials SET encryptions_reserved = ?2
             WHERE material_id = ?1 AND encryptions_reserved < ?2",
            params![material_id.to_string(), reserved],
        )?;
        Ok(())
    }
}
