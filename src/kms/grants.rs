//! Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant and RevokeGrant.
//!
//! Grants live in the sidecar and every call reads them from there, so a change is visible
//! to the next request; `authorize` consults them when a key policy does not allow a call.
//!
//! A grant token is `base64url(TOKEN_TAG || grant id || secret || nonce)`. The secret is
//! random, drawn once per grant and kept in the sidecar; the nonce is fresh for every token,
//! so each CreateGrant answer carries a different token (as AWS documents for repeated
//! named requests) while every token of a grant retires the same grant.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::crypto::dry_run_stop;
use super::model::{Key, KeySpec, KeyUsage, Millis};
use super::paging::{self, page, Page};
use super::rules::Op;
use super::{Caller, ErrorKind, Kms, KmsError};

/// Every `GrantOperation` of the AWS model, in the model's order. A grant lists its
/// operations in this order, each once.
pub const GRANT_OPERATIONS: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "Sign",
    "Verify",
    "GetPublicKey",
    "CreateGrant",
    "RetireGrant",
    "DescribeKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
];

/// The most grants one key may have (AWS's "Grants per KMS key" quota); the sidecar
/// refuses to record more.
pub const MAX_GRANTS_PER_KEY: u32 = 50_000;
/// Encryption-context pairs a constraint may hold.
const MAX_CONSTRAINT_PAIRS: usize = 8;
/// Starts every grant token we issue (inside the base64), so foreign strings are refused.
const TOKEN_TAG: &str = "hsmkms-grant-1:";
/// Hex characters of a grant id and of a token secret.
const ID_LEN: usize = 64;
/// Hex characters of a token's nonce.
const NONCE_LEN: usize = 32;

/// A grant's encryption-context constraint, as stored (`{"EncryptionContextSubset": {...}}`
/// or `{"EncryptionContextEquals": {...}}`). AWS accepts one of the two, not both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Constraint {
    /// The request's encryption context must include these pairs.
    EncryptionContextSubset(BTreeMap<String, String>),
    /// The request's encryption context must be exactly these pairs.
    EncryptionContextEquals(BTreeMap<String, String>),
}

impl Constraint {
    /// Whether a request under `context` meets the constraint.
    pub fn allows(&self, context: &BTreeMap<String, String>) -> bool {
        match self {
            Constraint::EncryptionContextEquals(pairs) => pairs == context,
            Constraint::EncryptionContextSubset(pairs) => includes(context, pairs),
        }
    }
}

/// Whether a grant constrained by `child` allows no context that `parent` refuses: a
/// grant created through a grant's CreateGrant may narrow its parent, never widen it.
pub fn at_least_as_strict(child: Option<&Constraint>, parent: Option<&Constraint>) -> bool {
    use Constraint::{EncryptionContextEquals as Equals, EncryptionContextSubset as Subset};
    match (child, parent) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(Subset(c) | Equals(c)), Some(Subset(p))) => includes(c, p),
        (Some(Equals(c)), Some(Equals(p))) => c == p,
        (Some(Subset(_)), Some(Equals(_))) => false,
    }
}

/// Whether `pairs` are all in `context`.
fn includes(context: &BTreeMap<String, String>, pairs: &BTreeMap<String, String>) -> bool {
    pairs.iter().all(|(k, v)| context.get(k) == Some(v))
}

/// What a grant allows and to whom: the parameters a named CreateGrant compares to decide
/// whether the grant already exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantTerms {
    /// The friendly name, when one was given.
    pub name: Option<String>,
    /// The principal the grant is for.
    pub grantee: String,
    /// The principal that may retire the grant, if any.
    pub retiring: Option<String>,
    /// The operations allowed, in `GRANT_OPERATIONS` order, each once.
    pub operations: Vec<&'static str>,
    /// The encryption-context constraint, if any.
    pub constraint: Option<Constraint>,
}

/// A grant on a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// 64 lowercase hex characters, as AWS grant ids are.
    pub id: String,
    /// The key the grant is on.
    pub key_id: Uuid,
    /// What the grant allows.
    pub terms: GrantTerms,
    /// `arn:aws:iam::<account>:root` of the account that issued the grant.
    pub issuing_account: String,
    /// When the grant was created.
    pub created_at: Millis,
}

/// CreateGrant's request, checked against the wire constraints.
#[derive(Debug, Clone)]
pub struct NewGrant {
    /// The key (id or key ARN).
    pub key_id: String,
    /// What the grant allows; `operations` may be in any order, with repeats.
    pub terms: GrantTerms,
    /// Stop after every check passed.
    pub dry_run: bool,
}

/// CreateGrant's answer.
#[derive(Debug, Clone)]
pub struct CreatedGrant {
    /// The grant's id.
    pub grant_id: String,
    /// A token for the grant, new on every call.
    pub token: String,
}

/// The grant RetireGrant names.
#[derive(Debug, Clone, Copy)]
pub enum GrantRef<'a> {
    /// By a token from CreateGrant; a key or grant id sent with it must name the same grant.
    Token {
        /// The grant token.
        token: &'a str,
        /// The key (id or key ARN), if also sent.
        key_id: Option<&'a str>,
        /// The grant id, if also sent.
        grant_id: Option<&'a str>,
    },
    /// By key (id or key ARN) and grant id.
    Id {
        /// The key.
        key_id: &'a str,
        /// The grant id.
        grant_id: &'a str,
    },
}

impl Kms {
    /// CreateGrant. With a name, a request identical to an existing grant's returns that
    /// grant (with a new token) instead of creating another.
    pub async fn create_grant(&self, new: NewGrant) -> Result<CreatedGrant, KmsError> {
        let _writing = self.writes.lock().await;
        let key = self.resolve_by_id(&new.key_id)?;
        let mut terms = new.terms;
        terms.operations = canonical(&terms.operations);
        check_terms(&key, &terms)?;
        self.check(Op::CreateGrant, &key)?;
        dry_run_stop(new.dry_run)?;
        let existing = match terms.name {
            Some(_) => self
                .grantee_grants(&key, &terms.grantee)
                .await?
                .into_iter()
                .find(|g| g.terms == terms),
            None => None,
        };
        let (grant_id, secret) = match existing {
            Some(grant) => {
                let secret = self.secret_of(&grant.id).await?;
                (grant.id, secret)
            }
            None => self.insert_grant(&key, terms).await?,
        };
        Ok(CreatedGrant {
            token: issue_token(&grant_id, &secret),
            grant_id,
        })
    }

    /// ListGrants: the key's grants in grant-id order, optionally only the grant
    /// `grant_id` or only those for `grantee`.
    pub async fn list_grants(
        &self,
        key_id: &str,
        grant_id: Option<&str>,
        grantee: Option<&str>,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Page<Grant>, KmsError> {
        let key = self.checked_by_id(key_id, Op::ListGrants)?;
        if let Some(id) = grant_id {
            well_formed(id)?;
        }
        let grants = match grant_id {
            Some(id) => match self.grant_on(&key, id).await {
                Ok(grant) => vec![grant],
                Err(e) if e.kind == ErrorKind::InvalidGrantId => Vec::new(),
                Err(e) => return Err(e),
            },
            None => {
                // One more than a page tells whether another page follows.
                let after = paging::after(marker)?.unwrap_or_default();
                let (id, grantee) = (key.id, grantee.map(str::to_owned));
                self.blocking(move |store| {
                    store.key_grants_page(id, grantee.as_deref(), &after, limit + 1)
                })
                .await?
            }
        };
        let chosen = grants
            .into_iter()
            .filter(|g| grantee.is_none_or(|p| g.terms.grantee == p));
        page(chosen.map(|g| (g.id.clone(), g)), limit, marker)
    }

    /// ListRetirableGrants: grants on any key whose retiring principal is `principal`, in
    /// grant-id order.
    pub async fn list_retirable_grants(
        &self,
        principal: &str,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Page<Grant>, KmsError> {
        let owned = principal.to_owned();
        let grants = self
            .blocking(move |store| store.retirable_grants(&owned))
            .await?;
        let listable = grants.into_iter().filter(|g| {
            self.key(g.key_id)
                .is_some_and(|key| self.check(Op::ListRetirableGrants, &key).is_ok())
        });
        page(listable.map(|g| (g.id.clone(), g)), limit, marker)
    }

    /// RetireGrant, by the grant's retiring principal, by its grantee where the grant
    /// includes RetireGrant, or by whoever the key policy allows kms:RetireGrant.
    pub async fn retire_grant(
        &self,
        caller: &Caller,
        target: GrantRef<'_>,
        dry_run: bool,
    ) -> Result<(), KmsError> {
        let _writing = self.writes.lock().await;
        let (key, grant) = match target {
            GrantRef::Token {
                token,
                key_id,
                grant_id,
            } => {
                let grant = self.grant_of_token(token).await?;
                let key = self.key(grant.key_id).ok_or_else(invalid_token)?;
                if let Some(other) = grant_id.filter(|id| *id != grant.id) {
                    return Err(not_on_key(other, &self.arn(&key)));
                }
                if let Some(named) = key_id {
                    let named = self.resolve_by_id(named)?;
                    if named.id != key.id {
                        return Err(not_on_key(&grant.id, &self.arn(&named)));
                    }
                }
                (key, grant)
            }
            GrantRef::Id { key_id, grant_id } => {
                let key = self.resolve_by_id(key_id)?;
                let grant = self.grant_on(&key, grant_id).await?;
                (key, grant)
            }
        };
        self.authorize_retire(caller, &key, &grant)?;
        self.check(Op::RetireGrant, &key)?;
        self.remove_grant(&key, grant.id, dry_run, "retired").await
    }

    /// RevokeGrant.
    pub async fn revoke_grant(
        &self,
        key_id: &str,
        grant_id: &str,
        dry_run: bool,
    ) -> Result<(), KmsError> {
        let _writing = self.writes.lock().await;
        let key = self.checked_by_id(key_id, Op::RevokeGrant)?;
        let grant = self.grant_on(&key, grant_id).await?;
        self.remove_grant(&key, grant.id, dry_run, "revoked").await
    }

    /// `key`'s grants for `grantee`, found by index.
    pub(super) async fn grantee_grants(
        &self,
        key: &Key,
        grantee: &str,
    ) -> Result<Vec<Grant>, KmsError> {
        let (id, grantee) = (key.id, grantee.to_owned());
        self.blocking(move |store| store.grantee_grants(id, &grantee))
            .await
    }

    /// Records a new grant on `key` with a fresh id and token secret; returns both, or
    /// LimitExceededException when the key has as many grants as it may. Call with the
    /// write lock held.
    async fn insert_grant(
        &self,
        key: &Key,
        terms: GrantTerms,
    ) -> Result<(String, String), KmsError> {
        let grant = Grant {
            id: random_hex(),
            key_id: key.id,
            terms,
            issuing_account: format!("arn:aws:iam::{}:root", self.identity.account),
            created_at: self.clock.now(),
        };
        let (id, secret) = (grant.id.clone(), random_hex());
        let stored = secret.clone();
        let inserted = self
            .blocking(move |store| store.insert_grant(&grant, &stored))
            .await?;
        if !inserted {
            return Err(KmsError::new(
                ErrorKind::LimitExceeded,
                format!(
                    "Grant quota for this key is {MAX_GRANTS_PER_KEY} but the current usage is {MAX_GRANTS_PER_KEY}."
                ),
            ));
        }
        tracing::info!(grant_id = %id, key_id = %key.id, "grant created");
        Ok((id, secret))
    }

    /// The secret every token of grant `grant_id` carries.
    async fn secret_of(&self, grant_id: &str) -> Result<String, KmsError> {
        let id = grant_id.to_owned();
        match self.blocking(move |store| store.grant(&id)).await? {
            Some((_, secret)) => Ok(secret),
            None => Err(KmsError::internal(format!("grant {grant_id} vanished"))),
        }
    }

    /// The live grant a token names, or InvalidGrantTokenException.
    async fn grant_of_token(&self, token: &str) -> Result<Grant, KmsError> {
        let (grant_id, presented) = parse_token(token).ok_or_else(invalid_token)?;
        let found = self.blocking(move |store| store.grant(&grant_id)).await?;
        match found {
            Some((grant, secret)) if same(secret.as_bytes(), presented.as_bytes()) => Ok(grant),
            _ => Err(invalid_token()),
        }
    }

    /// Grant `grant_id` of `key`, or InvalidGrantIdException.
    async fn grant_on(&self, key: &Key, grant_id: &str) -> Result<Grant, KmsError> {
        well_formed(grant_id)?;
        let id = grant_id.to_owned();
        let found = self.blocking(move |store| store.grant(&id)).await?;
        match found {
            Some((grant, _)) if grant.key_id == key.id => Ok(grant),
            _ => Err(not_on_key(grant_id, &self.arn(key))),
        }
    }

    /// Deletes grant `grant_id` of `key` durably, unless this is a dry run. Call with the
    /// write lock held.
    async fn remove_grant(
        &self,
        key: &Key,
        grant_id: String,
        dry_run: bool,
        how: &'static str,
    ) -> Result<(), KmsError> {
        dry_run_stop(dry_run)?;
        let id = grant_id.clone();
        self.blocking(move |store| store.delete_grant(&id)).await?;
        tracing::info!(%grant_id, key_id = %key.id, how, "grant removed");
        Ok(())
    }
}

/// The `GRANT_OPERATIONS` entry named `name`.
pub fn grant_operation(name: &str) -> Option<&'static str> {
    GRANT_OPERATIONS.iter().copied().find(|op| *op == name)
}

/// `operations` in `GRANT_OPERATIONS` order, each once.
fn canonical(operations: &[&'static str]) -> Vec<&'static str> {
    GRANT_OPERATIONS
        .iter()
        .copied()
        .filter(|op| operations.contains(op))
        .collect()
}

/// The operations must suit the key, and a constraint must fit AWS's limits.
fn check_terms(key: &Key, terms: &GrantTerms) -> Result<(), KmsError> {
    let supported = supported_operations(key.usage, key.spec);
    if let Some(op) = terms.operations.iter().find(|op| !supported(op)) {
        return Err(KmsError::new(
            ErrorKind::Validation,
            format!(
                "Grant operation {op} is not valid for a key with KeySpec {} and KeyUsage {}.",
                key.spec.as_str(),
                key.usage.as_str()
            ),
        ));
    }
    let pairs = match &terms.constraint {
        Some(Constraint::EncryptionContextSubset(pairs))
        | Some(Constraint::EncryptionContextEquals(pairs)) => pairs.len(),
        None => 0,
    };
    if pairs > MAX_CONSTRAINT_PAIRS {
        return Err(KmsError::new(
            ErrorKind::Validation,
            format!("A grant constraint can include at most {MAX_CONSTRAINT_PAIRS} encryption context pairs."),
        ));
    }
    Ok(())
}

/// The grant operations a key of `usage` and `spec` supports (the AWS "grant operations"
/// table).
fn supported_operations(usage: KeyUsage, spec: KeySpec) -> impl Fn(&str) -> bool {
    const EVERY_KEY: &[&str] = &["CreateGrant", "RetireGrant", "DescribeKey"];
    const SYMMETRIC: &[&str] = &[
        "Decrypt",
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "ReEncryptFrom",
        "ReEncryptTo",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
    ];
    const RSA_ENCRYPTION: &[&str] = &[
        "Decrypt",
        "Encrypt",
        "ReEncryptFrom",
        "ReEncryptTo",
        "GetPublicKey",
    ];
    const SIGNING: &[&str] = &["Sign", "Verify", "GetPublicKey"];
    const MAC: &[&str] = &["GenerateMac", "VerifyMac"];
    const AGREEMENT: &[&str] = &["DeriveSharedSecret", "GetPublicKey"];
    let own = match usage {
        KeyUsage::EncryptDecrypt if spec == KeySpec::SymmetricDefault => SYMMETRIC,
        KeyUsage::EncryptDecrypt => RSA_ENCRYPTION,
        KeyUsage::SignVerify => SIGNING,
        KeyUsage::GenerateVerifyMac => MAC,
        KeyUsage::KeyAgreement => AGREEMENT,
    };
    move |op| EVERY_KEY.contains(&op) || own.contains(&op)
}

/// 64 lowercase hex characters from the OS RNG (244 random bits: two v4 UUIDs).
fn random_hex() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A grant id must look like one we issue.
fn well_formed(grant_id: &str) -> Result<(), KmsError> {
    if is_hex(grant_id, ID_LEN) {
        return Ok(());
    }
    Err(KmsError::new(
        ErrorKind::InvalidGrantId,
        format!("Invalid grantId '{grant_id}'"),
    ))
}

fn not_on_key(grant_id: &str, key_arn: &str) -> KmsError {
    KmsError::new(
        ErrorKind::InvalidGrantId,
        format!("Grant '{grant_id}' does not exist on key '{key_arn}'"),
    )
}

/// Refuses any of `tokens` that is not a grant token this service issued. A well-formed
/// token adds nothing to a request: grants are in force as soon as CreateGrant answers.
pub fn check_tokens(tokens: &[String]) -> Result<(), KmsError> {
    match tokens.iter().all(|t| parse_token(t).is_some()) {
        true => Ok(()),
        false => Err(invalid_token()),
    }
}

/// The token is never echoed: it is a credential.
fn invalid_token() -> KmsError {
    KmsError::new(
        ErrorKind::InvalidGrantToken,
        "The grant token is not valid.",
    )
}

fn issue_token(grant_id: &str, secret: &str) -> String {
    let nonce = Uuid::new_v4().simple();
    URL_SAFE_NO_PAD.encode(format!("{TOKEN_TAG}{grant_id}{secret}{nonce}"))
}

/// The grant id and secret inside a token we issued.
fn parse_token(token: &str) -> Option<(String, String)> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let body = text.strip_prefix(TOKEN_TAG)?;
    if !is_hex(body, 2 * ID_LEN + NONCE_LEN) {
        return None;
    }
    let (grant_id, rest) = body.split_at(ID_LEN);
    Some((grant_id.to_owned(), rest[..ID_LEN].to_owned()))
}

/// Compares secrets in time independent of where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_the_grant_and_differ_each_time() {
        let (grant_id, secret) = (random_hex(), random_hex());
        let (first, second) = (
            issue_token(&grant_id, &secret),
            issue_token(&grant_id, &secret),
        );
        assert_ne!(first, second);
        for token in [first, second] {
            assert_eq!(
                parse_token(&token),
                Some((grant_id.clone(), secret.clone()))
            );
        }
    }

    #[test]
    fn foreign_tokens_are_refused() {
        let token = issue_token(&random_hex(), &random_hex());
        let truncated = &token[..token.len() - 4];
        let foreign = URL_SAFE_NO_PAD.encode("hsmkms-grant-1:not hex at all");
        for bad in ["", "!!", "AQpAM2RhZTk1MGMy", truncated, &foreign] {
            assert_eq!(parse_token(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn grant_ids_look_like_aws_ones() {
        let id = random_hex();
        assert!(is_hex(&id, 64), "{id}");
        assert!(well_formed(&id).is_ok());
        assert_eq!(
            well_formed("0123").unwrap_err().kind,
            ErrorKind::InvalidGrantId
        );
    }

    #[test]
    fn operations_are_listed_in_model_order_once() {
        assert_eq!(
            canonical(&["Encrypt", "Decrypt", "Encrypt"]),
            vec!["Decrypt", "Encrypt"]
        );
    }

    #[test]
    fn a_child_constraint_is_at_least_as_strict_as_its_parent() {
        use Constraint::{EncryptionContextEquals as Equals, EncryptionContextSubset as Subset};
        let pairs = |p: &[(&str, &str)]| -> BTreeMap<String, String> {
            p.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let a = pairs(&[("tenant", "a")]);
        let ab = pairs(&[("tenant", "a"), ("x", "y")]);
        let b = pairs(&[("tenant", "b")]);
        let cases = [
            (None, None, true),
            (Some(Subset(a.clone())), None, true),
            (None, Some(Subset(a.clone())), false),
            (Some(Subset(a.clone())), Some(Subset(a.clone())), true),
            (Some(Subset(ab.clone())), Some(Subset(a.clone())), true),
            (Some(Subset(a.clone())), Some(Subset(ab.clone())), false),
            (Some(Subset(b.clone())), Some(Subset(a.clone())), false),
            (Some(Equals(ab.clone())), Some(Subset(a.clone())), true),
            (Some(Equals(b.clone())), Some(Subset(a.clone())), false),
            (Some(Equals(a.clone())), Some(Equals(a.clone())), true),
            (Some(Equals(ab.clone())), Some(Equals(a.clone())), false),
            (Some(Subset(a.clone())), Some(Equals(a.clone())), false),
            (None, Some(Equals(a.clone())), false),
        ];
        for (child, parent, expected) in cases {
            assert_eq!(
                at_least_as_strict(child.as_ref(), parent.as_ref()),
                expected,
                "{child:?} under {parent:?}"
            );
        }
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same(b"abcd", b"abcd"));
        assert!(!same(b"abcd", b"abce"));
        assert!(!same(b"abcd", b"abc"));
    }
}
