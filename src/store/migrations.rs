//! Schema migrations, applied in order; `PRAGMA user_version` records how far we got.

/// Each entry moves the schema from version `index` to `index + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: keys, material versions, tags, and the tables the lifecycle, import and
    // authorization features fill: aliases, grants, import jobs.
    r#"
    CREATE TABLE keys (
        key_id              TEXT PRIMARY KEY,
        created_at          INTEGER NOT NULL,   -- epoch milliseconds
        description         TEXT NOT NULL,
        key_usage           TEXT NOT NULL,
        key_spec            TEXT NOT NULL,
        origin              TEXT NOT NULL,
        key_state           TEXT NOT NULL,      -- Creating (internal) or an AWS KeyState
        policy              TEXT NOT NULL,
        current_material_id TEXT,
        deletion_date       INTEGER,
        pending_window_days INTEGER,
        rotation_enabled    INTEGER NOT NULL DEFAULT 0,
        rotation_period_days INTEGER,
        next_rotation_at    INTEGER
    ) STRICT;

    CREATE TABLE key_materials (
        material_id     TEXT PRIMARY KEY,       -- also the token object's CKA_ID
        key_id          TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
        state           TEXT NOT NULL,          -- Cloud KMS version state names
        custody         TEXT NOT NULL,          -- TOKEN_OBJECT; later WRAPPED
        wrapped_material BLOB,                  -- WRAPPED only: ciphertext under a token KEK
        wrapping_key_id TEXT,                   -- WRAPPED only: the KEK's CKA_ID
        created_at      INTEGER NOT NULL,
        rotation_type   TEXT,                   -- AUTOMATIC or ON_DEMAND; NULL for the first
        key_check_value BLOB,                   -- imported only: AES of a fixed block, in the token (8 bytes from migration 3)
        unwrapped_by    TEXT,                   -- imported only: TOKEN, or HOST (fallback)
        valid_to        INTEGER,                -- imported only: when the material expires
        description     TEXT                    -- imported only: KeyMaterialDescription
    ) STRICT;
    CREATE INDEX key_materials_by_key ON key_materials(key_id);

    CREATE TABLE tags (
        key_id    TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
        tag_key   TEXT NOT NULL,
        tag_value TEXT NOT NULL,
        PRIMARY KEY (key_id, tag_key)
    ) STRICT;

    CREATE TABLE aliases (
        alias_name TEXT PRIMARY KEY,
        key_id     TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX aliases_by_key ON aliases(key_id);

    CREATE TABLE grants (
        grant_id           TEXT PRIMARY KEY,
        key_id             TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
        name               TEXT,
        grantee_principal  TEXT NOT NULL,
        retiring_principal TEXT,
        operations         TEXT NOT NULL,       -- JSON array
        constraints        TEXT,                -- JSON object
        issuing_account    TEXT NOT NULL,
        grant_token        TEXT NOT NULL,
        created_at         INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX grants_by_key ON grants(key_id);

    CREATE TABLE import_jobs (
        import_job_id      TEXT PRIMARY KEY,
        key_id             TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
        state              TEXT NOT NULL,       -- PENDING_GENERATION, ACTIVE, EXPIRED
        wrapping_algorithm TEXT NOT NULL,
        wrapping_key_spec  TEXT NOT NULL,
        wrapping_key_id    TEXT,                -- CKA_ID of the RSA key pair in the token
        public_key         BLOB,
        valid_to           INTEGER NOT NULL,
        created_at         INTEGER NOT NULL
    ) STRICT;
    "#,
    // 2: grants are looked up by key and grantee on every request a key policy does not
    // allow, and by retiring principal for ListRetirableGrants; the key-and-grantee index
    // also serves lookups and counts by key alone.
    r#"
    DROP INDEX grants_by_key;
    CREATE INDEX grants_by_key_grantee ON grants(key_id, grantee_principal);
    CREATE INDEX grants_by_retiring_principal ON grants(retiring_principal);
    "#,
    // 3: key check values keep 8 bytes of the cipher block, not all 16 (a re-import still
    // matches: the new value is the head of the old); and each material's count of AES-GCM
    // encryptions reserved so far, so a restart never reuses the random-IV budget.
    r#"
    UPDATE key_materials SET key_check_value = substr(key_check_value, 1, 8)
        WHERE length(key_check_value) > 8;
    ALTER TABLE key_materials ADD COLUMN encryptions_reserved INTEGER NOT NULL DEFAULT 0;
    "#,
    // 4: the Cloud KMS names of keys: key rings, the crypto keys in them (each one of our
    // keys), and when a version scheduled for destruction is destroyed.
    r#"
    CREATE TABLE key_rings (
        name       TEXT PRIMARY KEY,            -- projects/P/locations/L/keyRings/R
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE crypto_keys (
        name                 TEXT PRIMARY KEY,  -- <key ring>/cryptoKeys/K
        key_ring             TEXT NOT NULL REFERENCES key_rings(name),
        key_id               TEXT NOT NULL UNIQUE REFERENCES keys(key_id) ON DELETE CASCADE,
        purpose              TEXT NOT NULL,
        algorithm            TEXT NOT NULL,
        destroy_scheduled_ms INTEGER NOT NULL,
        import_only          INTEGER NOT NULL,
        labels               TEXT NOT NULL     -- JSON object
    ) STRICT;
    ALTER TABLE key_materials ADD COLUMN destroy_at INTEGER;
    CREATE TABLE cloud_import_jobs (
        name          TEXT PRIMARY KEY,         -- <key ring>/importJobs/J
        import_job_id TEXT NOT NULL UNIQUE,     -- CKA_ID of the wrapping key pair
        import_method TEXT NOT NULL,
        state         TEXT NOT NULL,            -- PENDING_GENERATION, ACTIVE, EXPIRED
        public_key    BLOB,                     -- DER SubjectPublicKeyInfo
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE cloud_version_notes (
        material_id    TEXT PRIMARY KEY REFERENCES key_materials(material_id) ON DELETE CASCADE,
        import_job     TEXT,                    -- the import job a version came from
        failure_reason TEXT,                    -- why its import failed (IMPORT_FAILED)
        destroyed_at   INTEGER                  -- when its material was destroyed (DESTROYED)
    ) STRICT;
    "#,
    // 5: wrapped custody keeps, beside each wrapped blob (wrapped_material, under the KEK
    // wrapping_key_id names), the token's MAC that binds the blob to its material id.
    r#"
    ALTER TABLE key_materials ADD COLUMN wrapped_binding BLOB;
    "#,
];

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn a_full_block_check_value_keeps_its_head() {
        let db = rusqlite::Connection::open_in_memory().expect("db");
        for sql in &MIGRATIONS[..2] {
            db.execute_batch(sql).expect("migration");
        }
        let block: Vec<u8> = (0u8..16).collect();
        db.execute_batch(
            "INSERT INTO keys (key_id, created_at, description, key_usage, key_spec, origin,
                               key_state, policy)
             VALUES ('k', 0, '', 'ENCRYPT_DECRYPT', 'SYMMETRIC_DEFAULT', 'EXTERNAL', 'Enabled', '{}')",
        )
        .expect("key");
        db.execute(
            "INSERT INTO key_materials (material_id, key_id, state, custody, created_at,
                                        key_check_value, unwrapped_by)
             VALUES ('m', 'k', 'ENABLED', 'TOKEN_OBJECT', 0, ?1, 'TOKEN')",
            [&block],
        )
        .expect("material");
        db.execute_batch(MIGRATIONS[2]).expect("migration 3");
        let kept: Vec<u8> = db
            .query_row("SELECT key_check_value FROM key_materials", [], |r| {
                r.get(0)
            })
            .expect("row");
        assert_eq!(kept, block[..8]);
    }
}
