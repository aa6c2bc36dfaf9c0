//! Grants in the sidecar. `operations` holds a JSON array of operation names, `constraints`
//! the JSON of a [`Constraint`], and `grant_token` the secret every token of the grant
//! carries (tokens themselves are never stored).

use rusqlite::{params, Row};
use uuid::Uuid;

use super::{parse_uuid, Store, StoreError};
use crate::kms::grants::{grant_operation, Constraint, Grant, GrantTerms, MAX_GRANTS_PER_KEY};

const COLUMNS: &str = "grant_id, key_id, name, grantee_principal, retiring_principal, \
                       operations, constraints, issuing_account, created_at, grant_token";

/// Which rows a lookup matches; never built from request text.
#[derive(Clone, Copy)]
enum By {
    Key,
    KeyAndGrantee,
    RetiringPrincipal,
    Id,
}

impl By {
    /// The WHERE clause, with one parameter per value.
    fn filter(self) -> &'static str {
        match self {
            By::Key => "key_id = ?1",
            By::KeyAndGrantee => "key_id = ?1 AND grantee_principal = ?2",
            By::RetiringPrincipal => "retiring_principal = ?1",
            By::Id => "grant_id = ?1",
        }
    }
}

impl Store {
    /// Records a grant and the secret its tokens carry, unless its key already has
    /// `MAX_GRANTS_PER_KEY` grants: then records nothing and returns false.
    #[must_use = "a full key records no grant"]
    pub fn insert_grant(&self, grant: &Grant, secret: &str) -> Result<bool, StoreError> {
        let terms = &grant.terms;
        let operations = serde_json::to_string(&terms.operations).map_err(corrupt)?;
        let constraint = terms
            .constraint
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(corrupt)?;
        // One statement counts and inserts, so no other write can slip in between.
        let inserted = self.conn().execute(
            &format!(
                "INSERT INTO grants ({COLUMNS})
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
                 WHERE (SELECT COUNT(*) FROM grants WHERE key_id = ?2) < ?11"
            ),
            params![
                grant.id,
                grant.key_id.to_string(),
                terms.name,
                terms.grantee,
                terms.retiring,
                operations,
                constraint,
                grant.issuing_account,
                grant.created_at,
                secret,
                MAX_GRANTS_PER_KEY,
            ],
        )?;
        Ok(inserted == 1)
    }

    /// At most `limit` grants on a key (only `grantee`'s, when given) whose ids sort after
    /// `after`, in grant-id order: a page, read through the index.
    pub fn key_grants_page(
        &self,
        key_id: Uuid,
        grantee: Option<&str>,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Grant>, StoreError> {
        let key = key_id.to_string();
        let (by, values) = match grantee {
            Some(grantee) => (By::KeyAndGrantee, vec![key.as_str(), grantee]),
            None => (By::Key, vec![key.as_str()]),
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.select_page(by, &values, after, limit)?;
        Ok(rows.into_iter().map(|(grant, _)| grant).collect())
    }

    /// Grants on a key for `grantee`, in grant-id order.
    pub fn grantee_grants(&self, key_id: Uuid, grantee: &str) -> Result<Vec<Grant>, StoreError> {
        self.grants(By::KeyAndGrantee, &[&key_id.to_string(), grantee])
    }

    /// Grants whose retiring principal is `principal`, in grant-id order.
    pub fn retirable_grants(&self, principal: &str) -> Result<Vec<Grant>, StoreError> {
        self.grants(By::RetiringPrincipal, &[principal])
    }

    /// A grant with the secret its tokens carry.
    pub fn grant(&self, grant_id: &str) -> Result<Option<(Grant, String)>, StoreError> {
        Ok(self.select(By::Id, &[grant_id])?.pop())
    }

    /// Removes a grant.
    pub fn delete_grant(&self, grant_id: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM grants WHERE grant_id = ?1", [grant_id])?;
        Ok(())
    }

    fn grants(&self, by: By, values: &[&str]) -> Result<Vec<Grant>, StoreError> {
        let rows = self.select(by, values)?;
        Ok(rows.into_iter().map(|(grant, _)| grant).collect())
    }

    fn select(&self, by: By, values: &[&str]) -> Result<Vec<(Grant, String)>, StoreError> {
        // A negative LIMIT is no limit in SQLite.
        self.select_page(by, values, "", -1)
    }

    fn select_page(
        &self,
        by: By,
        values: &[&str],
        after: &str,
        limit: i64,
    ) -> Result<Vec<(Grant, String)>, StoreError> {
        let conn = self.conn();
        let n = values.len();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM grants WHERE {} AND grant_id > ?{} ORDER BY grant_id LIMIT ?{}",
            by.filter(),
            n + 1,
            n + 2
        ))?;
        let mut params: Vec<&dyn rusqlite::ToSql> = values.iter().map(|v| v as _).collect();
        params.push(&after);
        params.push(&limit);
        let rows = stmt.query_map(params.as_slice(), grant_from_row)?;
        rows.collect::<Result<Result<Vec<_>, StoreError>, rusqlite::Error>>()?
    }
}

fn grant_from_row(row: &Row<'_>) -> rusqlite::Result<Result<(Grant, String), StoreError>> {
    let (id, key_id, name): (String, String, Option<String>) =
        (row.get(0)?, row.get(1)?, row.get(2)?);
    let (grantee, retiring): (String, Option<String>) = (row.get(3)?, row.get(4)?);
    let (operations, constraint): (String, Option<String>) = (row.get(5)?, row.get(6)?);
    let (issuing_account, created_at, secret) = (row.get(7)?, row.get(8)?, row.get(9)?);
    Ok((|| {
        let names: Vec<String> = serde_json::from_str(&operations).map_err(corrupt)?;
        let operations = names
            .iter()
            .map(|n| {
                grant_operation(n)
                    .ok_or_else(|| StoreError::Corrupt(format!("grant operation {n:?}")))
            })
            .collect::<Result<_, _>>()?;
        let constraint = constraint
            .as_deref()
            .map(serde_json::from_str::<Constraint>)
            .transpose()
            .map_err(corrupt)?;
        let grant = Grant {
            id,
            key_id: parse_uuid(&key_id)?,
            terms: GrantTerms {
                name,
                grantee,
                retiring,
                operations,
                constraint,
            },
            issuing_account,
            created_at,
        };
        Ok((grant, secret))
    })())
}

fn corrupt(error: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("grant JSON: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRANTEE: &str = "arn:aws:iam::111122223333:user/app";

    fn a_grant(id: &str, key_id: Uuid) -> Grant {
        Grant {
            id: id.to_owned(),
            key_id,
            terms: GrantTerms {
                name: None,
                grantee: GRANTEE.into(),
                retiring: None,
                operations: vec!["Encrypt"],
                constraint: None,
            },
            issuing_account: "arn:aws:iam::111122223333:root".into(),
            created_at: 0,
        }
    }

    /// A sidecar with one key row, `key_id`.
    fn store_with_key(dir: &tempfile::TempDir, key_id: Uuid) -> Store {
        let store = Store::open(&dir.path().join("sidecar.sqlite3")).unwrap();
        add_key(&store, key_id);
        store
    }

    fn add_key(store: &Store, key_id: Uuid) {
        store
            .conn()
            .execute(
                "INSERT INTO keys (key_id, created_at, description, key_usage, key_spec, origin,
                                   key_state, policy)
                 VALUES (?1, 0, '', 'ENCRYPT_DECRYPT', 'SYMMETRIC_DEFAULT', 'AWS_KMS', 'Enabled', '{}')",
                [key_id.to_string()],
            )
            .unwrap();
    }

    /// Gives `key_id` `count` grants for another grantee, straight in SQL.
    fn seed(store: &Store, key_id: Uuid, count: u32) {
        store
            .conn()
            .execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
                 INSERT INTO grants (grant_id, key_id, grantee_principal, operations,
                                     issuing_account, grant_token, created_at)
                 SELECT printf('%064x', i), ?1, 'arn:aws:iam::111122223333:user/seeded',
                        '[\"Encrypt\"]', 'arn:aws:iam::111122223333:root', 'secret', 0
                 FROM n",
                params![key_id.to_string(), count],
            )
            .unwrap();
    }

    #[test]
    fn a_key_holds_at_most_the_grant_quota() {
        let dir = tempfile::tempdir().unwrap();
        let (full, other) = (Uuid::new_v4(), Uuid::new_v4());
        let store = store_with_key(&dir, full);
        add_key(&store, other);
        seed(&store, full, MAX_GRANTS_PER_KEY - 1);
        assert!(store
            .insert_grant(&a_grant(&"a".repeat(64), full), "s")
            .unwrap());
        assert!(!store
            .insert_grant(&a_grant(&"b".repeat(64), full), "s")
            .unwrap());
        assert!(store.grant(&"b".repeat(64)).unwrap().is_none());
        assert!(store
            .insert_grant(&a_grant(&"c".repeat(64), other), "s")
            .unwrap());
        // A grant removed makes room for one more.
        store.delete_grant(&"a".repeat(64)).unwrap();
        assert!(store
            .insert_grant(&a_grant(&"b".repeat(64), full), "s")
            .unwrap());
    }

    #[test]
    fn grants_are_found_by_key_and_grantee_through_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let key_id = Uuid::new_v4();
        let store = store_with_key(&dir, key_id);
        seed(&store, key_id, 100);
        assert!(store
            .insert_grant(&a_grant(&"a".repeat(64), key_id), "s")
            .unwrap());
        let found = store.grantee_grants(key_id, GRANTEE).unwrap();
        assert_eq!(found, [a_grant(&"a".repeat(64), key_id)]);
        for (by, values, index) in [
            (By::KeyAndGrantee, 2, "grants_by_key_grantee"),
            (By::Key, 1, "grants_by_key_grantee"),
            (By::RetiringPrincipal, 1, "grants_by_retiring_principal"),
        ] {
            let conn = store.conn();
            let sql = format!(
                "EXPLAIN QUERY PLAN SELECT {COLUMNS} FROM grants WHERE {}",
                by.filter()
            );
            let mut stmt = conn.prepare(&sql).unwrap();
            let plan: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(vec!["x"; values]), |r| r.get(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(
                plan.iter()
                    .any(|step| step.contains(&format!("INDEX {index} ("))),
                "{sql}: {plan:?}"
            );
        }
    }
}
