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
        key_check_value BLOB,                   -- imported only: AES of a fixed block, in the token
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
];
