//! Grants in the sidecar. `operations` holds a JSON array of operation names, `constraints`
//! the JSON of a [`Constraint`], and `grant_token` the secret every token of the grant
//! carries (tokens themselves are never stored).

use rusqlite::{params, Row};
use uuid::Uuid;

use super::{parse_uuid, Store, StoreError};
use crate::kms::grants::{grant_operation, Constraint, Grant, GrantTerms};

const COLUMNS: &str = "grant_id, key_id, name, grantee_principal, retiring_principal, \
                       operations, constraints, issuing_account, created_at, grant_token";

/// Which column a lookup matches on; never built from request text.
#[derive(Clone, Copy)]
enum By {
    Key,
    RetiringPrincipal,
    Id,
}

impl By {
    fn column(self) -> &'static str {
        match self {
            By::Key => "key_id",
            By::RetiringPrincipal => "retiring_principal",
            By::Id => "grant_id",
        }
    }
}

impl Store {
    /// Records a grant and the secret its tokens carry.
    pub fn insert_grant(&self, grant: &Grant, secret: &str) -> Result<(), StoreError> {
        let terms = &grant.terms;
        let operations = serde_json::to_string(&terms.operations).map_err(corrupt)?;
        let constraint = terms
            .constraint
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(corrupt)?;
        self.conn().execute(
            &format!(
                "INSERT INTO grants ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
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
            ],
        )?;
        Ok(())
    }

    /// Grants on a key, in grant-id order.
    pub fn key_grants(&self, key_id: Uuid) -> Result<Vec<Grant>, StoreError> {
        self.grants(By::Key, &key_id.to_string())
    }

    /// Grants whose retiring principal is `principal`, in grant-id order.
    pub fn retirable_grants(&self, principal: &str) -> Result<Vec<Grant>, StoreError> {
        self.grants(By::RetiringPrincipal, principal)
    }

    /// A grant with the secret its tokens carry.
    pub fn grant(&self, grant_id: &str) -> Result<Option<(Grant, String)>, StoreError> {
        Ok(self.select(By::Id, grant_id)?.pop())
    }

    /// Removes a grant.
    pub fn delete_grant(&self, grant_id: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM grants WHERE grant_id = ?1", [grant_id])?;
        Ok(())
    }

    fn grants(&self, by: By, value: &str) -> Result<Vec<Grant>, StoreError> {
        let rows = self.select(by, value)?;
        Ok(rows.into_iter().map(|(grant, _)| grant).collect())
    }

    fn select(&self, by: By, value: &str) -> Result<Vec<(Grant, String)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM grants WHERE {} = ?1 ORDER BY grant_id",
            by.column()
        ))?;
        let rows = stmt.query_map([value], grant_from_row)?;
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
