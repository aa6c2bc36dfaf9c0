//! Key policy evaluation: parses an AWS KMS key policy (the IAM JSON policy grammar) and
//! decides one request against it, as AWS KMS does.
//!
//! [`Policy::parse`] refuses, with a [`PolicyError`] that becomes
//! `MalformedPolicyDocumentException`, every document AWS KMS would refuse that we can
//! recognise, and every document we could not evaluate faithfully: an unknown condition key,
//! operator or policy variable is refused rather than ignored, because ignoring a condition
//! widens an `Allow`.
//!
//! [`Policy::evaluate`] follows the IAM order: an explicit `Deny` in any matching statement
//! wins, else an `Allow` in any matching statement allows, else the request is not allowed.
//!
//! Choices made where AWS leaves room or where hsmkms lacks information:
//!
//! * Principals. An account (`arn:<partition>:iam::<account>:root` or a bare 12-digit id)
//!   in an `Allow` matches the account's root user, and any other identity of the account
//!   only when `iam_allows` says the account's IAM side allows it: that is how the default
//!   key policy delegates to IAM. In a `Deny` it matches every identity of the account
//!   whatever IAM says, because a denied account denies everything in it. Other ARNs match
//!   exactly, case-sensitively; an assumed-role session does not match its role's ARN (the
//!   role's path is not in the session ARN, so we cannot map one to the other). `Service`,
//!   `Federated` and `CanonicalUser` principals never match a caller here.
//! * Cross-account. A caller from another account than the key's is allowed only when the
//!   policy allows it *and* its own account's IAM side allows it (`iam_allows`, or the
//!   caller is that account's root user), as AWS requires for cross-account use.
//! * `NotPrincipal` is refused with `Allow` (AWS no longer supports that pairing). With
//!   `Deny`, a caller escapes the statement only when both its own ARN and its account are
//!   listed, as AWS evaluates the account before the identity; an account alone does not
//!   exempt the account's users, and a user alone is still denied through its account.
//! * `Version` is required, as AWS KMS requires it; `2012-10-17` turns on policy variables,
//!   `2008-10-17` leaves `${...}` as literal text. Of the variables only the escapes
//!   `${*}`, `${?}` and `${$}` are supported; any other variable is refused.
//! * A document over 32 KiB, or with a character outside printable ASCII, printable
//!   Latin-1, tab, line feed and carriage return, is refused (the AWS KMS key policy
//!   format). A JSON object naming the same member twice is refused: a JSON reader keeps
//!   one of the two, which could silently drop a condition.
//! * Element names (`Effect`, `Action`, ...) and `Allow`/`Deny` are case-sensitive; condition
//!   operator names, set prefixes and condition keys are not. The context key in
//!   `kms:EncryptionContext:<context-key>` is not case-sensitive either (AWS documents
//!   this); the value's case sensitivity follows the operator.
//! * If an encryption context holds several keys that differ only by case, the condition
//!   key `kms:EncryptionContext:<k>` has all their values: a plain positive operator holds
//!   when any value matches, a negated one when none does.
//! * `kms:EncryptionContextKeys` and `kms:GrantOperations` are multi-valued: with an
//!   operator other than `Null` they need `ForAnyValue` or `ForAllValues`, and are refused
//!   without one (AWS leaves that combination undefined). `ForAllValues` with
//!   `kms:EncryptionContext:<k>` is refused with AWS's `OverlyPermissiveCondition` text.
//!   A set prefix on another single-valued key treats its value as a set of one.
//! * An empty encryption context, or an empty list of grant operations, counts as absent,
//!   so `Null` says `true` for it and `ForAllValues` holds.
//! * `Bool` and `Null` take `true` or `false` (JSON booleans or those strings, any case);
//!   anything else is refused. They take no set prefix, and `Null` no `IfExists`.
//! * `Resource` is `*` or an ARN of six colon-separated parts; wildcards match within a
//!   part (the last part may hold colons), case-sensitively.
//! * A statement with neither `Resource` nor `NotResource` is accepted, as AWS KMS accepts
//!   it in a key policy, and applies to the key, as `"Resource": "*"` would.
//! * `Action` is `*` or `<service>:<action>`; it matches case-insensitively, with `*` and
//!   `?` wildcards over the whole name.
//! * A principal value that is not `*`, a 12-digit account or an ARN (for example an IAM
//!   unique id), or an ARN with a wildcard, is refused with AWS's "invalid principals" text.

use std::collections::HashSet;
use std::fmt;

use serde_json::{Map, Value};

/// The largest key policy AWS KMS accepts, in bytes.
const MAX_POLICY_BYTES: usize = 32 * 1024;

/// AWS's message for a principal it cannot resolve.
pub const INVALID_PRINCIPALS: &str =
    "Policy contains a statement with one or more invalid principals.";

/// A parsed, validated key policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// In document order; order does not change the decision.
    statements: Vec<Statement>,
}

/// Why a policy document is refused (becomes `MalformedPolicyDocumentException` with this
/// text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PolicyError {}

/// What one request asks, with everything the policy's conditions may look at.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The caller's IAM ARN, e.g. `arn:aws:iam::111122223333:user/alice`.
    pub principal: &'a str,
    /// The caller's account id.
    pub principal_account: &'a str,
    /// The key's account id.
    pub key_account: &'a str,
    /// Whether the caller's account's IAM side allows this caller (configured admin
    /// principals play IAM's part).
    pub iam_allows: bool,
    /// The action, e.g. `kms:Encrypt`.
    pub action: &'a str,
    /// The key ARN.
    pub resource: &'a str,
    /// The encryption context; `None` when the operation has none.
    pub encryption_context: Option<&'a std::collections::BTreeMap<String, String>>,
    /// The grant operations of a `CreateGrant`; `None` for other operations.
    pub grant_operations: Option<&'a [&'a str]>,
    /// Whether a `CreateGrant` is made by an AWS service for an AWS resource; `None` for
    /// other operations.
    pub grant_is_for_aws_resource: Option<bool>,
}

/// The outcome of evaluating a policy for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A matching `Allow` statement and no matching `Deny`.
    Allow,
    /// A matching `Deny` statement; nothing else can allow the request.
    ExplicitDeny,
    /// No matching statement: implicitly denied, unless something else (a grant) allows it.
    NotAllowed,
}

impl Policy {
    /// Parses and validates; refuses what we cannot evaluate faithfully.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(refuse(format!(
                "The key policy is larger than {MAX_POLICY_BYTES} bytes."
            )));
        }
        if let Some(c) = text.chars().find(|&c| !allowed_char(c)) {
            return Err(refuse(format!(
                "The key policy contains the character {:?} (U+{:04X}); only printable ASCII and \
                 Latin-1 characters, tab, line feed and carriage return are allowed.",
                c, c as u32
            )));
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|e| refuse(format!("The key policy is not valid JSON: {e}.")))?;
        if let Some(name) = duplicate_member(text) {
            return Err(refuse(format!(
                "The key policy names the member {name:?} twice in one object."
            )));
        }
        let doc = value
            .as_object()
            .ok_or_else(|| refuse("The key policy must be a JSON object."))?;
        for name in doc.keys() {
            if !matches!(name.as_str(), "Version" | "Id" | "Statement") {
                return Err(refuse(format!(
                    "The key policy has an unknown member {name}."
                )));
            }
        }
        let variables = match doc.get("Version") {
            Some(Value::String(v)) if v == "2012-10-17" => true,
            Some(Value::String(v)) if v == "2008-10-17" => false,
            Some(other) => {
                return Err(refuse(format!(
                    "The key policy Version {other} is not supported; use \"2012-10-17\"."
                )))
            }
            None => return Err(refuse("The key policy has no Version.")),
        };
        if let Some(id) = doc.get("Id") {
            if !id.is_string() {
                return Err(refuse("The key policy Id must be a string."));
            }
        }
        let statements = match doc.get("Statement") {
            Some(Value::Object(one)) => vec![one],
            Some(Value::Array(list)) => list
                .iter()
                .map(|s| {
                    s.as_object()
                        .ok_or_else(|| refuse("Each statement must be a JSON object."))
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => {
                return Err(refuse(
                    "The key policy Statement must be an object or a list.",
                ))
            }
            None => return Err(refuse("The key policy has no Statement.")),
        };
        if statements.is_empty() {
            return Err(refuse("The key policy must have at least one statement."));
        }
        let statements = statements
            .into_iter()
            .enumerate()
            .map(|(i, s)| Statement::parse(s, i + 1, variables))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy { statements })
    }

    /// Every AWS principal the policy names, in `Principal` or `NotPrincipal`, as an ARN:
    /// an account (bare id or root ARN) as `arn:<partition>:iam::<account>:root`, the
    /// partition `aws` for a bare id. `"*"` and non-AWS principals are left out.
    pub fn named_principals(&self) -> impl Iterator<Item = String> + '_ {
        self.statements
            .iter()
            .flat_map(|s| &s.principals.entries)
            .filter_map(|entry| match entry {
                PrincipalEntry::Account { partition, account } => Some(format!(
                    "arn:{}:iam::{account}:root",
                    partition.as_deref().unwrap_or("aws")
                )),
                PrincipalEntry::Arn(arn) => Some(arn.clone()),
                PrincipalEntry::Anyone | PrincipalEntry::Unmatchable => None,
            })
    }

    /// The decision for `request` from this policy alone.
    #[must_use]
    pub fn evaluate(&self, request: &Request<'_>) -> Decision {
        let mut allowed = false;
        for statement in &self.statements {
            if statement.applies(request) {
                match statement.effect {
                    Effect::Deny => return Decision::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
        // Cross-account use needs the caller's own account to agree as well.
        let home_agrees = request.principal_account == request.key_account
            || request.iam_allows
            || caller_is_root(request);
        if allowed && home_agrees {
            Decision::Allow
        } else {
            Decision::NotAllowed
        }
    }
}

fn refuse(message: impl Into<String>) -> PolicyError {
    PolicyError(message.into())
}

/// The characters AWS KMS allows in a key policy.
fn allowed_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{A0}'..='\u{FF}')
}

/// A member name that appears twice in one object of `text`, which is valid JSON.
fn duplicate_member(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    // One entry per open container; `None` for arrays.
    let mut open: Vec<Option<HashSet<String>>> = Vec::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'{' => open.push(Some(HashSet::new())),
            b'[' => open.push(None),
            b'}' | b']' => {
                open.pop();
            }
            b'"' => {
                let start = i;
                i += 1;
                while let Some(&c) = bytes.get(i) {
                    match c {
                        b'"' => break,
                        b'\\' => i += 2,
                        _ => i += 1,
                    }
                }
                let token = text.get(start..=i)?;
                let mut next = i + 1;
                while bytes.get(next).is_some_and(u8::is_ascii_whitespace) {
                    next += 1;
                }
                if bytes.get(next) == Some(&b':') {
                    let name: String = serde_json::from_str(token).ok()?;
                    if let Some(Some(names)) = open.last_mut() {
                        if !names.insert(name.clone()) {
                            return Some(name);
                        }
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Allow,
    Deny,
}

/// One policy statement.
#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    /// `Principal`, or `NotPrincipal` when `negated`.
    principals: Listed<PrincipalEntry>,
    /// `Action`, or `NotAction` when `negated`.
    actions: Listed<Pattern>,
    /// `Resource`, or `NotResource` when `negated`.
    resources: Listed<ResourcePattern>,
    /// All must hold.
    conditions: Vec<Condition>,
}

/// The entries of an element or of its `Not` form.
#[derive(Debug, Clone)]
struct Listed<T> {
    /// The `Not` form: the statement applies to what the entries do *not* match.
    negated: bool,
    entries: Vec<T>,
}

impl Statement {
    fn parse(
        s: &Map<String, Value>,
        number: usize,
        variables: bool,
    ) -> Result<Statement, PolicyError> {
        let here = format!("Statement {number}");
        for name in s.keys() {
            if !matches!(
                name.as_str(),
                "Sid"
                    | "Effect"
                    | "Principal"
                    | "NotPrincipal"
                    | "Action"
                    | "NotAction"
                    | "Resource"
                    | "NotResource"
                    | "Condition"
            ) {
                return Err(refuse(format!("{here} has an unknown member {name}.")));
            }
        }
        if let Some(sid) = s.get("Sid") {
            if !sid.is_string() {
                return Err(refuse(format!("{here}: Sid must be a string.")));
            }
        }
        let effect = match s.get("Effect") {
            Some(Value::String(e)) if e == "Allow" => Effect::Allow,
            Some(Value::String(e)) if e == "Deny" => Effect::Deny,
            Some(other) => {
                return Err(refuse(format!(
                    "{here}: Effect {other} is not valid; it must be \"Allow\" or \"Deny\"."
                )))
            }
            None => return Err(refuse(format!("{here} has no Effect."))),
        };
        let (negated, raw) = one_of(s, "Principal", "NotPrincipal", &here)?;
        if negated && effect == Effect::Allow {
            return Err(refuse(format!(
                "{here}: NotPrincipal can be used only with \"Effect\": \"Deny\"."
            )));
        }
        let principals = Listed {
            negated,
            entries: parse_principals(raw)?,
        };
        let (negated, raw) = one_of(s, "Action", "NotAction", &here)?;
        let actions = Listed {
            negated,
            entries: strings(raw, &here, "Action")?
                .into_iter()
                .map(|a| parse_action(a, &here))
                .collect::<Result<_, _>>()?,
        };
        // AWS accepts a key policy statement with neither element; the resource is the key.
        let resources = match (s.get("Resource"), s.get("NotResource")) {
            (None, None) => Listed {
                negated: false,
                entries: vec![ResourcePattern::Any],
            },
            _ => {
                let (negated, raw) = one_of(s, "Resource", "NotResource", &here)?;
                Listed {
                    negated,
                    entries: strings(raw, &here, "Resource")?
                        .into_iter()
                        .map(|r| ResourcePattern::parse(r, variables, &here))
                        .collect::<Result<_, _>>()?,
                }
            }
        };
        let conditions = match s.get("Condition") {
            Some(block) => parse_conditions(block, variables, &here)?,
            None => Vec::new(),
        };
        Ok(Statement {
            effect,
            principals,
            actions,
            resources,
            conditions,
        })
    }

    /// Whether the statement covers `r`: principal, action, resource and every condition.
    fn applies(&self, r: &Request<'_>) -> bool {
        let action = r.action.to_lowercase();
        self.principal_applies(r)
            && self.actions.negated != self.actions.entries.iter().any(|a| a.matches(&action))
            && self.resources.negated
                != self.resources.entries.iter().any(|p| p.matches(r.resource))
            && self.conditions.iter().all(|c| c.holds(r))
    }

    fn principal_applies(&self, r: &Request<'_>) -> bool {
        let entries = &self.principals.entries;
        if !self.principals.negated {
            return entries.iter().any(|e| e.matches(r, self.effect));
        }
        // NotPrincipal: exempt only when the caller and its account are both listed.
        let anyone = entries.iter().any(|e| matches!(e, PrincipalEntry::Anyone));
        let account_listed = entries.iter().any(|e| e.is_account_of(r));
        let caller_listed = (caller_is_root(r) && account_listed)
            || entries
                .iter()
                .any(|e| matches!(e, PrincipalEntry::Arn(a) if a == r.principal));
        !(anyone || (caller_listed && account_listed))
    }
}

/// The element named `yes` or the one named `no` (then `true`), exactly one of them.
fn one_of<'v>(
    s: &'v Map<String, Value>,
    yes: &str,
    no: &str,
    here: &str,
) -> Result<(bool, &'v Value), PolicyError> {
    match (s.get(yes), s.get(no)) {
        (Some(v), None) => Ok((false, v)),
        (None, Some(v)) => Ok((true, v)),
        (Some(_), Some(_)) => Err(refuse(format!("{here} has both {yes} and {no}."))),
        (None, None) => Err(refuse(format!("{here} has neither {yes} nor {no}."))),
    }
}

/// A string or a non-empty list of strings.
fn strings<'v>(v: &'v Value, here: &str, what: &str) -> Result<Vec<&'v str>, PolicyError> {
    let bad = || {
        refuse(format!(
            "{here}: {what} must be a string or a non-empty list of strings."
        ))
    };
    match v {
        Value::String(s) => Ok(vec![s.as_str()]),
        Value::Array(list) if !list.is_empty() => {
            list.iter().map(|x| x.as_str().ok_or_else(bad)).collect()
        }
        _ => Err(bad()),
    }
}

/// One entry of `Principal` or `NotPrincipal`.
#[derive(Debug, Clone)]
enum PrincipalEntry {
    /// `"*"` or `{"AWS": "*"}`.
    Anyone,
    /// An account: its root user, and its identities as IAM decides.
    Account {
        /// `None` for a bare account id.
        partition: Option<String>,
        account: String,
    },
    /// Any other IAM or STS ARN, matched exactly.
    Arn(String),
    /// `Service`, `Federated` or `CanonicalUser`: never a caller here.
    Unmatchable,
}

impl PrincipalEntry {
    fn matches(&self, r: &Request<'_>, effect: Effect) -> bool {
        match self {
            Self::Anyone => true,
            Self::Arn(arn) => arn == r.principal,
            Self::Account { .. } => {
                self.is_account_of(r)
                    && (effect == Effect::Deny || r.iam_allows || caller_is_root(r))
            }
            Self::Unmatchable => false,
        }
    }

    /// Whether this names the caller's account.
    fn is_account_of(&self, r: &Request<'_>) -> bool {
        match self {
            Self::Account { partition, account } => {
                account == r.principal_account
                    && partition
                        .as_deref()
                        .is_none_or(|p| arn_partition(r.principal) == Some(p))
            }
            _ => false,
        }
    }
}

fn parse_principals(v: &Value) -> Result<Vec<PrincipalEntry>, PolicyError> {
    let map = match v {
        Value::String(s) if s == "*" => return Ok(vec![PrincipalEntry::Anyone]),
        Value::Object(map) if !map.is_empty() => map,
        _ => return Err(refuse(INVALID_PRINCIPALS)),
    };
    let mut entries = Vec::new();
    for (kind, values) in map {
        let values = match values {
            Value::String(s) => vec![s.as_str()],
            Value::Array(list) if !list.is_empty() => list
                .iter()
                .map(|x| x.as_str().ok_or_else(|| refuse(INVALID_PRINCIPALS)))
                .collect::<Result<_, _>>()?,
            _ => return Err(refuse(INVALID_PRINCIPALS)),
        };
        match kind.as_str() {
            "AWS" => {
                for p in values {
                    entries.push(parse_aws_principal(p)?);
                }
            }
            "Service" | "Federated" | "CanonicalUser" => {
                if values.iter().any(|p| p.is_empty()) {
                    return Err(refuse(INVALID_PRINCIPALS));
                }
                entries.push(PrincipalEntry::Unmatchable);
            }
            _ => return Err(refuse(INVALID_PRINCIPALS)),
        }
    }
    Ok(entries)
}

fn parse_aws_principal(p: &str) -> Result<PrincipalEntry, PolicyError> {
    if p == "*" {
        return Ok(PrincipalEntry::Anyone);
    }
    if is_account_id(p) {
        return Ok(PrincipalEntry::Account {
            partition: None,
            account: p.to_owned(),
        });
    }
    let parts: Vec<&str> = p.splitn(6, ':').collect();
    let valid = parts.len() == 6
        && parts[0] == "arn"
        && !parts[1].is_empty()
        && matches!(parts[2], "iam" | "sts")
        && parts[3].is_empty()
        && is_account_id(parts[4])
        && !parts[5].is_empty()
        && !p.contains(['*', '?']);
    if !valid {
        return Err(refuse(INVALID_PRINCIPALS));
    }
    if parts[2] == "iam" && parts[5] == "root" {
        return Ok(PrincipalEntry::Account {
            partition: Some(parts[1].to_owned()),
            account: parts[4].to_owned(),
        });
    }
    Ok(PrincipalEntry::Arn(p.to_owned()))
}

/// Whether `s` is a 12-digit account id.
pub(super) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The partition of an ARN: `aws` in `arn:aws:iam::...`.
fn arn_partition(arn: &str) -> Option<&str> {
    arn.strip_prefix("arn:")?.split(':').next()
}

/// Whether the caller is its account's root user.
fn caller_is_root(r: &Request<'_>) -> bool {
    let parts: Vec<&str> = r.principal.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "iam"
        && parts[4] == r.principal_account
        && parts[5] == "root"
}

fn parse_action(a: &str, here: &str) -> Result<Pattern, PolicyError> {
    let well_formed = a == "*"
        || a.split_once(':')
            .is_some_and(|(service, name)| !service.is_empty() && !name.is_empty());
    if !well_formed {
        return Err(refuse(format!(
            "{here}: Action {a:?} must be \"*\" or \"<service>:<action>\", like \"kms:Encrypt\"."
        )));
    }
    // Actions are not case-sensitive: both sides are lowered.
    Ok(Pattern::wild(&a.to_lowercase()))
}

/// One entry of `Resource` or `NotResource`.
#[derive(Debug, Clone)]
enum ResourcePattern {
    /// `*`: every resource, which in a key policy means this key.
    Any,
    /// The six colon-separated parts of an ARN, each matched on its own.
    Arn(Vec<Pattern>),
}

impl ResourcePattern {
    fn parse(r: &str, variables: bool, here: &str) -> Result<ResourcePattern, PolicyError> {
        if r == "*" {
            return Ok(Self::Any);
        }
        // Split on the first five colons; the rest belongs to the last part.
        let pieces = pieces(r, variables, here)?;
        let mut parts: Vec<Vec<Piece>> = vec![Vec::new()];
        for piece in pieces {
            if piece == Piece::Char(':') && parts.len() < 6 {
                parts.push(Vec::new());
            } else if let Some(part) = parts.last_mut() {
                part.push(piece);
            }
        }
        let arn_like = parts.len() == 6
            && parts.first().is_some_and(|p| {
                p.as_slice() == [Piece::Char('a'), Piece::Char('r'), Piece::Char('n')]
            });
        if !arn_like {
            return Err(refuse(format!(
                "{here}: Resource {r:?} must be in ARN format or \"*\"."
            )));
        }
        Ok(Self::Arn(
            parts.iter().map(|p| Pattern::from_pieces(p)).collect(),
        ))
    }

    fn matches(&self, resource: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Arn(patterns) => {
                let parts: Vec<&str> = resource.splitn(6, ':').collect();
                parts.len() == patterns.len()
                    && patterns.iter().zip(parts).all(|(p, part)| p.matches(part))
            }
        }
    }
}

/// One character of a policy string once `${...}` escapes are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece {
    /// A character that stands for itself.
    Char(char),
    /// An unescaped `*` or `?`: a wildcard where the element or operator takes wildcards.
    Wild(char),
}

/// Splits a policy string into pieces, resolving the escapes `${*}`, `${?}` and `${$}` when
/// `variables` is on and refusing any other policy variable.
fn pieces(raw: &str, variables: bool, here: &str) -> Result<Vec<Piece>, PolicyError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(c) = rest.chars().next() {
        if variables && rest.starts_with("${") {
            let unclosed = || {
                refuse(format!(
                    "{here}: the policy variable in {raw:?} is not closed."
                ))
            };
            let end = rest.find('}').ok_or_else(unclosed)?;
            let name = rest.get(2..end).ok_or_else(unclosed)?;
            let c = match name {
                "*" => '*',
                "?" => '?',
                "$" => '$',
                _ => {
                    return Err(refuse(format!(
                        "{here}: the policy variable ${{{name}}} is not supported by this key \
                         store."
                    )))
                }
            };
            out.push(Piece::Char(c));
            rest = rest.get(end + 1..).unwrap_or_default();
        } else {
            out.push(match c {
                '*' | '?' => Piece::Wild(c),
                _ => Piece::Char(c),
            });
            rest = rest.get(c.len_utf8()..).unwrap_or_default();
        }
    }
    Ok(out)
}

/// A wildcard pattern: `*` matches any run of characters, `?` any one character.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern(Vec<Tok>);

/// One element of a [`Pattern`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Char(char),
    One,
    Many,
}

impl Pattern {
    /// Every `*` and `?` in `s` is a wildcard (actions have no escapes).
    fn wild(s: &str) -> Pattern {
        Pattern(
            s.chars()
                .map(|c| match c {
                    '*' => Tok::Many,
                    '?' => Tok::One,
                    _ => Tok::Char(c),
                })
                .collect(),
        )
    }

    fn from_pieces(pieces: &[Piece]) -> Pattern {
        Pattern(
            pieces
                .iter()
                .map(|p| match *p {
                    Piece::Char(c) => Tok::Char(c),
                    Piece::Wild('*') => Tok::Many,
                    Piece::Wild(_) => Tok::One,
                })
                .collect(),
        )
    }

    /// Greedy match with backtracking to the last `*`: linear in practice, never
    /// exponential.
    fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let pat = &self.0;
        let (mut p, mut t) = (0, 0);
        // The last `*` seen and the text position it has swallowed up to.
        let mut star: Option<(usize, usize)> = None;
        while let Some(&c) = text.get(t) {
            match pat.get(p) {
                Some(Tok::Many) => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                Some(Tok::One) => {
                    p += 1;
                    t += 1;
                    continue;
                }
                Some(Tok::Char(x)) if *x == c => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
            match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            }
        }
        pat.get(p..)
            .is_some_and(|rest| rest.iter().all(|tok| *tok == Tok::Many))
    }
}

/// A condition key this key store can evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    /// `kms:EncryptionContext:<context-key>`, the context key lowered: AWS matches it
    /// without regard to case.
    EncryptionContext(String),
    /// `kms:EncryptionContextKeys`, multi-valued.
    EncryptionContextKeys,
    /// `kms:CallerAccount`.
    CallerAccount,
    /// `kms:GrantOperations`, multi-valued.
    GrantOperations,
    /// `kms:GrantIsForAWSResource`.
    GrantIsForAwsResource,
    /// `aws:PrincipalArn`.
    PrincipalArn,
    /// `aws:PrincipalAccount`.
    PrincipalAccount,
}

impl Key {
    /// Condition key names are not case-sensitive.
    fn parse(name: &str) -> Option<Key> {
        let lower = name.to_lowercase();
        if let Some(context_key) = lower.strip_prefix("kms:encryptioncontext:") {
            return (!context_key.is_empty())
                .then(|| Key::EncryptionContext(context_key.to_owned()));
        }
        Some(match lower.as_str() {
            "kms:encryptioncontextkeys" => Key::EncryptionContextKeys,
            "kms:calleraccount" => Key::CallerAccount,
            "kms:grantoperations" => Key::GrantOperations,
            "kms:grantisforawsresource" => Key::GrantIsForAwsResource,
            "aws:principalarn" => Key::PrincipalArn,
            "aws:principalaccount" => Key::PrincipalAccount,
            _ => return None,
        })
    }

    fn multi_valued(&self) -> bool {
        matches!(self, Key::EncryptionContextKeys | Key::GrantOperations)
    }

    /// The key's values in `r`; `None` when the request does not have the key.
    fn values<'a>(&self, r: &Request<'a>) -> Option<Vec<&'a str>> {
        let values: Vec<&'a str> = match self {
            Key::EncryptionContext(wanted) => r
                .encryption_context?
                .iter()
                .filter(|(name, _)| name.to_lowercase() == *wanted)
                .map(|(_, value)| value.as_str())
                .collect(),
            Key::EncryptionContextKeys => {
                r.encryption_context?.keys().map(String::as_str).collect()
            }
            Key::CallerAccount | Key::PrincipalAccount => vec![r.principal_account],
            Key::GrantOperations => r.grant_operations?.to_vec(),
            Key::GrantIsForAwsResource => {
                vec![if r.grant_is_for_aws_resource? {
                    "true"
                } else {
                    "false"
                }]
            }
            Key::PrincipalArn => vec![r.principal],
        };
        (!values.is_empty()).then_some(values)
    }
}

/// `ForAnyValue:` or `ForAllValues:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOp {
    ForAnyValue,
    ForAllValues,
}

/// The comparison of a string operator, before negation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrOp {
    Equals,
    EqualsIgnoreCase,
    Like,
}

/// A condition operator, split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Operator {
    set: Option<SetOp>,
    base: Base,
    if_exists: bool,
}

/// The operator without its set prefix and `IfExists` suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    /// A string operator; `true` for the `Not` forms.
    Str(StrOp, bool),
    Bool,
    Null,
}

impl Operator {
    /// Operator names are read without regard to case.
    fn parse(name: &str) -> Option<Operator> {
        let lower = name.to_ascii_lowercase();
        let (set, rest) = if let Some(rest) = lower.strip_prefix("foranyvalue:") {
            (Some(SetOp::ForAnyValue), rest)
        } else if let Some(rest) = lower.strip_prefix("forallvalues:") {
            (Some(SetOp::ForAllValues), rest)
        } else {
            (None, lower.as_str())
        };
        let (if_exists, base) = match rest.strip_suffix("ifexists") {
            Some(base) => (true, base),
            None => (false, rest),
        };
        let base = match base {
            "stringequals" => Base::Str(StrOp::Equals, false),
            "stringnotequals" => Base::Str(StrOp::Equals, true),
            "stringequalsignorecase" => Base::Str(StrOp::EqualsIgnoreCase, false),
            "stringnotequalsignorecase" => Base::Str(StrOp::EqualsIgnoreCase, true),
            "stringlike" => Base::Str(StrOp::Like, false),
            "stringnotlike" => Base::Str(StrOp::Like, true),
            "bool" if set.is_none() => Base::Bool,
            "null" if set.is_none() && !if_exists => Base::Null,
            _ => return None,
        };
        Some(Operator {
            set,
            base,
            if_exists,
        })
    }
}

/// One policy value of a string operator, prepared for its comparison.
#[derive(Debug, Clone)]
enum Expected {
    /// `StringEquals`: the exact text.
    Exact(String),
    /// `StringEqualsIgnoreCase`: the text lowered.
    Folded(String),
    /// `StringLike`: a wildcard pattern.
    Like(Pattern),
}

impl Expected {
    fn new(op: StrOp, pieces: &[Piece]) -> Expected {
        let text: String = pieces
            .iter()
            .map(|p| match *p {
                Piece::Char(c) | Piece::Wild(c) => c,
            })
            .collect();
        match op {
            StrOp::Equals => Expected::Exact(text),
            StrOp::EqualsIgnoreCase => Expected::Folded(text.to_lowercase()),
            StrOp::Like => Expected::Like(Pattern::from_pieces(pieces)),
        }
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            Expected::Exact(text) => text == value,
            Expected::Folded(text) => *text == value.to_lowercase(),
            Expected::Like(pattern) => pattern.matches(value),
        }
    }
}

/// What a condition checks of its key's values.
#[derive(Debug, Clone)]
enum Test {
    /// A string operator: `negated` for the `Not` forms, whose values are NORed.
    Str {
        negated: bool,
        set: Option<SetOp>,
        if_exists: bool,
        values: Vec<Expected>,
    },
    /// `Bool` or `BoolIfExists`.
    Bool { if_exists: bool, values: Vec<bool> },
    /// `Null`: `true` asks for the key to be absent, `false` for it to be present.
    Null { values: Vec<bool> },
}

/// One condition key under one operator.
#[derive(Debug, Clone)]
struct Condition {
    key: Key,
    test: Test,
}

fn parse_conditions(
    block: &Value,
    variables: bool,
    here: &str,
) -> Result<Vec<Condition>, PolicyError> {
    let block = block
        .as_object()
        .ok_or_else(|| refuse(format!("{here}: Condition must be an object.")))?;
    let mut out = Vec::new();
    for (op_name, body) in block {
        let unsupported = || {
            refuse(format!(
                "Condition operator {op_name} is not supported by this key store."
            ))
        };
        let op = Operator::parse(op_name);
        let body = body.as_object().ok_or_else(|| {
            refuse(format!(
                "{here}: Condition operator {op_name} must map condition keys to values."
            ))
        })?;
        if body.is_empty() {
            op.ok_or_else(unsupported)?;
        }
        for (key_name, raw) in body {
            // The key first: its message says more than the operator's.
            let key = Key::parse(key_name).ok_or_else(|| {
                refuse(format!(
                    "Condition key {key_name} is not supported by this key store."
                ))
            })?;
            let op = op.ok_or_else(unsupported)?;
            out.push(Condition::parse(
                op, op_name, key, key_name, raw, variables, here,
            )?);
        }
    }
    Ok(out)
}

impl Condition {
    fn parse(
        op: Operator,
        op_name: &str,
        key: Key,
        key_name: &str,
        raw: &Value,
        variables: bool,
        here: &str,
    ) -> Result<Condition, PolicyError> {
        if key.multi_valued() && op.set.is_none() && op.base != Base::Null {
            return Err(refuse(format!(
                "{here}: condition key {key_name} is multi-valued; use ForAnyValue:{op_name} or \
                 ForAllValues:{op_name}."
            )));
        }
        if matches!(key, Key::EncryptionContext(_)) && op.set == Some(SetOp::ForAllValues) {
            return Err(refuse(
                "OverlyPermissiveCondition:EncryptionContext: Using the ForAllValues set \
                 operator with a single-valued condition key matches requests without the \
                 specified encryption context or with an unspecified encryption context. To \
                 fix, remove ForAllValues.",
            ));
        }
        let raw: Vec<&Value> = match raw {
            Value::Array(list) if list.is_empty() => {
                return Err(refuse(format!(
                    "{here}: condition key {key_name} has no values."
                )))
            }
            Value::Array(list) => list.iter().collect(),
            one => vec![one],
        };
        let flags = || {
            raw.iter()
                .map(|v| match v {
                    Value::Bool(b) => Ok(*b),
                    Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
                    Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
                    other => Err(refuse(format!(
                        "{here}: {op_name} takes true or false, not {other}."
                    ))),
                })
                .collect::<Result<Vec<bool>, PolicyError>>()
        };
        let test = match op.base {
            Base::Str(str_op, negated) => Test::Str {
                negated,
                set: op.set,
                if_exists: op.if_exists,
                values: raw
                    .iter()
                    .map(|v| {
                        let text = match v {
                            Value::String(s) => s.clone(),
                            Value::Bool(b) => b.to_string(),
                            Value::Number(n) => n.to_string(),
                            _ => {
                                return Err(refuse(format!(
                                    "{here}: condition values must be strings, numbers or \
                                     booleans."
                                )))
                            }
                        };
                        Ok(Expected::new(str_op, &pieces(&text, variables, here)?))
                    })
                    .collect::<Result<_, PolicyError>>()?,
            },
            Base::Bool => Test::Bool {
                if_exists: op.if_exists,
                values: flags()?,
            },
            Base::Null => Test::Null { values: flags()? },
        };
        Ok(Condition { key, test })
    }

    fn holds(&self, r: &Request<'_>) -> bool {
        let found = self.key.values(r);
        match &self.test {
            Test::Null { values } => values.iter().any(|&absent| absent == found.is_none()),
            Test::Bool { if_exists, values } => match found {
                None => *if_exists,
                Some(found) => found.iter().any(|v| {
                    values
                        .iter()
                        .any(|&b| v.eq_ignore_ascii_case(if b { "true" } else { "false" }))
                }),
            },
            Test::Str {
                negated,
                set,
                if_exists,
                values,
            } => {
                let Some(found) = found else {
                    // IAM: a missing key fails a positive operator and passes a negated one;
                    // ForAllValues holds over the empty set.
                    return match set {
                        Some(SetOp::ForAllValues) => true,
                        Some(SetOp::ForAnyValue) => *if_exists,
                        None => *if_exists || *negated,
                    };
                };
                // A request value passes when it matches a policy value, or none for `Not`.
                let passes = |v: &&str| *negated != values.iter().any(|e| e.matches(v));
                match set {
                    Some(SetOp::ForAllValues) => found.iter().all(passes),
                    Some(SetOp::ForAnyValue) => found.iter().any(passes),
                    None if *negated => found.iter().all(passes),
                    None => found.iter().any(passes),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use Decision::{Allow, ExplicitDeny, NotAllowed};

    const ACCOUNT: &str = "111122223333";
    const ROOT: &str = "arn:aws:iam::111122223333:root";
    const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
    const BOB: &str = "arn:aws:iam::111122223333:user/bob";
    const CAROL: &str = "arn:aws:iam::444455556666:user/carol";
    const OTHER_ROOT: &str = "arn:aws:iam::444455556666:root";
    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const EU_KEY: &str =
        "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-0000-0000-0000-000000000000";

    /// The default key policy, as `CreateKey` writes it.
    const DEFAULT: &str = r#"{
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": "kms:*",
            "Resource": "*"
        }]
    }"#;

    /// A request the table can own.
    #[derive(Clone)]
    struct Call {
        principal: &'static str,
        iam: bool,
        action: &'static str,
        resource: &'static str,
        context: Option<BTreeMap<String, String>>,
        operations: Option<Vec<&'static str>>,
        for_aws: Option<bool>,
    }

    fn call(principal: &'static str, action: &'static str) -> Call {
        Call {
            principal,
            iam: false,
            action,
            resource: KEY,
            context: None,
            operations: None,
            for_aws: None,
        }
    }

    impl Call {
        fn iam(mut self) -> Self {
            self.iam = true;
            self
        }

        fn on(mut self, resource: &'static str) -> Self {
            self.resource = resource;
            self
        }

        fn ctx(mut self, pairs: &[(&str, &str)]) -> Self {
            let map = pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            self.context = Some(map);
            self
        }

        fn ops(mut self, ops: &[&'static str]) -> Self {
            self.operations = Some(ops.to_vec());
            self
        }

        fn for_aws(mut self, yes: bool) -> Self {
            self.for_aws = Some(yes);
            self
        }

        fn decide(&self, policy: &Policy) -> Decision {
            let account = self.principal.split(':').nth(4).unwrap();
            policy.evaluate(&Request {
                principal: self.principal,
                principal_account: account,
                key_account: ACCOUNT,
                iam_allows: self.iam,
                action: self.action,
                resource: self.resource,
                encryption_context: self.context.as_ref(),
                grant_operations: self.operations.as_deref(),
                grant_is_for_aws_resource: self.for_aws,
            })
        }
    }

    fn doc(statements: &str) -> String {
        format!(r#"{{"Version": "2012-10-17", "Statement": [{statements}]}}"#)
    }

    fn stmt(effect: &str, who: &str, action: &str, rest: &str) -> String {
        format!(
            r#"{{"Effect": "{effect}", "Principal": {{"AWS": {who}}}, "Action": {action}, "Resource": "*"{rest}}}"#
        )
    }

    fn root_may_do_all() -> String {
        stmt("Allow", &format!("\"{ROOT}\""), "\"kms:*\"", "")
    }

    /// Alice may do everything when `condition` holds.
    fn alice_if(condition: &str) -> String {
        doc(&stmt(
            "Allow",
            &format!("\"{ALICE}\""),
            "\"kms:*\"",
            &format!(r#", "Condition": {condition}"#),
        ))
    }

    /// The root delegates everything to IAM, but Alice is denied when `condition` holds.
    fn deny_alice_if(condition: &str) -> String {
        doc(&format!(
            "{}, {}",
            root_may_do_all(),
            stmt(
                "Deny",
                &format!("\"{ALICE}\""),
                "\"kms:*\"",
                &format!(r#", "Condition": {condition}"#)
            )
        ))
    }

    /// Anyone may do everything when `condition` holds.
    fn anyone_if(condition: &str) -> String {
        doc(&stmt(
            "Allow",
            "\"*\"",
            "\"kms:*\"",
            &format!(r#", "Condition": {condition}"#),
        ))
    }

    #[test]
    fn policies_times_requests() {
        let user_enc_dec = format!(
            r#"{{"Version": "2012-10-17", "Statement": {}}}"#,
            stmt(
                "Allow",
                &format!("\"{ALICE}\""),
                r#"["kms:Encrypt", "kms:Decrypt"]"#,
                ""
            )
        );
        let deny_wins = doc(&format!(
            "{}, {}",
            root_may_do_all(),
            stmt("Deny", &format!("\"{ALICE}\""), "\"kms:Decrypt\"", "")
        ));
        let not_action = doc(&format!(
            r#"{{"Effect": "Allow", "Principal": {{"AWS": "{ALICE}"}},
                "NotAction": ["kms:ScheduleKeyDeletion", "kms:PutKeyPolicy"], "Resource": "*"}}"#
        ));
        let not_principal = doc(&format!(
            r#"{}, {{"Effect": "Deny", "NotPrincipal": {{"AWS": ["{ALICE}", "{ROOT}"]}},
                "Action": "kms:Decrypt", "Resource": "*"}}"#,
            root_may_do_all()
        ));
        let not_principal_user_only = doc(&format!(
            r#"{}, {{"Effect": "Deny", "NotPrincipal": {{"AWS": "{ALICE}"}},
                "Action": "kms:Decrypt", "Resource": "*"}}"#,
            root_may_do_all()
        ));
        let wildcards = doc(&format!(
            "{}, {}",
            stmt(
                "Allow",
                &format!("\"{ALICE}\""),
                r#"["kms:Generate*", "kms:ReEncrypt?rom"]"#,
                ""
            ),
            stmt("Allow", &format!("\"{BOB}\""), "\"kms:*\"", "")
        ));
        let resources = doc(&format!(
            r#"{{"Effect": "Allow", "Principal": {{"AWS": "{ALICE}"}}, "Action": "kms:Encrypt",
                 "Resource": "arn:aws:kms:us-east-1:111122223333:key/*"}},
               {{"Effect": "Allow", "Principal": {{"AWS": "{BOB}"}}, "Action": "kms:Encrypt",
                 "Resource": ["arn:aws:kms:*:111122223333:key/1234abcd-*"]}},
               {{"Effect": "Allow", "Principal": {{"AWS": "{ALICE}"}}, "Action": "kms:Decrypt",
                 "Resource": "arn:aws:kms:us-east-1:111122223333:KEY/*"}},
               {{"Effect": "Allow", "Principal": {{"AWS": "{BOB}"}}, "Action": "kms:Decrypt",
                 "NotResource": "{KEY}"}}"#
        ));
        let no_resource = doc(&format!(
            r#"{{"Effect": "Allow", "Principal": {{"AWS": "{ALICE}"}}, "Action": "kms:Encrypt"}},
               {{"Effect": "Deny", "Principal": {{"AWS": "{ALICE}"}}, "Action": "kms:Decrypt"}}"#
        ));
        let named_other_user = doc(&stmt("Allow", &format!("\"{CAROL}\""), "\"kms:*\"", ""));
        let other_root = doc(&stmt(
            "Allow",
            &format!("\"{OTHER_ROOT}\""),
            "\"kms:*\"",
            "",
        ));
        let bare_account = doc(&stmt("Allow", "\"111122223333\"", "\"kms:*\"", ""));
        let deny_account = doc(&format!(
            "{}, {}",
            stmt("Allow", &format!("\"{ALICE}\""), "\"kms:*\"", ""),
            stmt("Deny", "\"111122223333\"", "\"kms:Decrypt\"", "")
        ));
        let anyone = doc(&stmt("Allow", "\"*\"", "\"kms:*\"", ""));
        let service_only = doc(
            r#"{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "kms:*", "Resource": "*"}"#,
        );
        let old_version = r#"{"Version": "2008-10-17", "Statement": {"Effect": "Allow",
            "Principal": "*", "Action": "kms:*", "Resource": "*",
            "Condition": {"StringEquals": {"kms:EncryptionContext:user": "${aws:username}"}}}}"#
            .to_owned();

        let app = r#"{"StringEquals": {"kms:EncryptionContext:AppName": "ExampleApp"}}"#;
        let not_restricted =
            r#"{"StringNotEquals": {"kms:EncryptionContext:Stage": "Restricted"}}"#;
        let app_any_case =
            r#"{"StringEqualsIgnoreCase": {"kms:EncryptionContext:AppName": ["exampleapp"]}}"#;
        let not_restricted_any_case =
            r#"{"StringNotEqualsIgnoreCase": {"kms:ENCRYPTIONCONTEXT:stage": "restricted"}}"#;
        let path_like = r#"{"StringLike": {"kms:EncryptionContext:Path": "app/*/data?"}}"#;
        let path_not_like = r#"{"StringNotLike": {"kms:EncryptionContext:Path": "app/*"}}"#;
        let stage_if_exists =
            r#"{"StringEqualsIfExists": {"kms:EncryptionContext:Stage": "Test"}}"#;
        let any_app_key =
            r#"{"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "AppName"}}"#;
        let only_keys = r#"{"ForAllValues:StringEquals":
            {"kms:EncryptionContextKeys": ["Department", "Project"]}}"#;
        let context_present = r#"{"Null": {"kms:EncryptionContextKeys": false}}"#;
        let context_absent = r#"{"Null": {"kms:EncryptionContextKeys": "true"}}"#;
        let own_account = r#"{"StringEquals": {"kms:CallerAccount": "111122223333"}}"#;
        let encrypt_grants = r#"{"ForAllValues:StringEquals":
            {"kms:GrantOperations": ["Encrypt", "ReEncryptTo"]}}"#;
        let some_reencrypt = r#"{"ForAnyValue:StringLike": {"kms:GrantOperations": "ReEncrypt*"}}"#;
        let never_decrypt =
            r#"{"ForAllValues:StringNotEquals": {"kms:GrantOperations": "Decrypt"}}"#;
        let something_but_decrypt =
            r#"{"ForAnyValue:StringNotEquals": {"kms:GrantOperations": "Decrypt"}}"#;
        let for_aws = r#"{"Bool": {"kms:GrantIsForAWSResource": true}}"#;
        let not_for_aws_if_exists = r#"{"BoolIfExists": {"kms:GrantIsForAWSResource": "false"}}"#;
        let a_users =
            r#"{"StringLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:user/a*"}}"#;
        let home_account = r#"{"StringEquals": {"aws:PrincipalAccount": "111122223333"}}"#;
        let both_pairs = r#"{"StringEquals":
            {"kms:EncryptionContext:A": "1", "kms:EncryptionContext:B": "2"}}"#;
        let either_stage = r#"{"StringEquals": {"kms:EncryptionContext:Stage": ["Test", "Dev"]}}"#;
        let escaped_star = r#"{"StringEquals": {"kms:EncryptionContext:Tag": "a${*}b"}}"#;
        let escaped_like = r#"{"StringLike": {"kms:EncryptionContext:Tag": "a${*}*"}}"#;
        let two_operators = r#"{"StringEquals": {"kms:EncryptionContext:AppName": "ExampleApp"},
            "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": "AppName"}}"#;

        let enc = "kms:Encrypt";
        let grant = "kms:CreateGrant";
        #[rustfmt::skip]
        let rows: Vec<(&str, String, Call, Decision)> = vec![
            // The default key policy delegates to IAM.
            ("default: root itself", DEFAULT.into(), call(ROOT, enc), Allow),
            ("default: user IAM allows", DEFAULT.into(), call(ALICE, enc).iam(), Allow),
            ("default: user IAM silent", DEFAULT.into(), call(ALICE, enc), NotAllowed),
            ("default: other account", DEFAULT.into(), call(CAROL, enc).iam(), NotAllowed),
            ("default: any kms action", DEFAULT.into(), call(ALICE, "kms:PutKeyPolicy").iam(), Allow),
            // A named user, only Encrypt and Decrypt; no IAM needed in the same account.
            ("user: encrypt", user_enc_dec.clone(), call(ALICE, enc), Allow),
            ("user: decrypt", user_enc_dec.clone(), call(ALICE, "kms:Decrypt"), Allow),
            ("user: other action", user_enc_dec.clone(), call(ALICE, "kms:ScheduleKeyDeletion").iam(), NotAllowed),
            ("user: other user", user_enc_dec.clone(), call(BOB, enc).iam(), NotAllowed),
            ("user: action case", user_enc_dec.clone(), call(ALICE, "KMS:encrypt"), Allow),
            // Deny overrides Allow.
            ("deny: denied action", deny_wins.clone(), call(ALICE, "kms:Decrypt").iam(), ExplicitDeny),
            ("deny: other action", deny_wins.clone(), call(ALICE, enc).iam(), Allow),
            ("deny: other user", deny_wins.clone(), call(BOB, "kms:Decrypt").iam(), Allow),
            ("deny: without IAM", deny_wins.clone(), call(ALICE, "kms:Decrypt"), ExplicitDeny),
            // NotAction.
            ("notaction: outside list", not_action.clone(), call(ALICE, enc), Allow),
            ("notaction: in list", not_action.clone(), call(ALICE, "kms:ScheduleKeyDeletion"), NotAllowed),
            // NotPrincipal with Deny.
            ("notprincipal: exempt user", not_principal.clone(), call(ALICE, "kms:Decrypt").iam(), Allow),
            ("notprincipal: other user", not_principal.clone(), call(BOB, "kms:Decrypt").iam(), ExplicitDeny),
            ("notprincipal: root", not_principal.clone(), call(ROOT, "kms:Decrypt"), Allow),
            ("notprincipal: other action", not_principal.clone(), call(BOB, enc).iam(), Allow),
            ("notprincipal: account missing", not_principal_user_only.clone(), call(ALICE, "kms:Decrypt").iam(), ExplicitDeny),
            // Wildcard actions.
            ("wild: Generate*", wildcards.clone(), call(ALICE, "kms:GenerateDataKey"), Allow),
            ("wild: Generate* longer", wildcards.clone(), call(ALICE, "kms:GenerateDataKeyWithoutPlaintext"), Allow),
            ("wild: ? one char", wildcards.clone(), call(ALICE, "kms:ReEncryptFrom"), Allow),
            ("wild: ? not two", wildcards.clone(), call(ALICE, "kms:ReEncryptTo"), NotAllowed),
            ("wild: not matched", wildcards.clone(), call(ALICE, enc), NotAllowed),
            ("wild: kms:*", wildcards.clone(), call(BOB, "kms:DescribeKey"), Allow),
            // Resources.
            ("resource: key/*", resources.clone(), call(ALICE, enc), Allow),
            ("resource: other region", resources.clone(), call(ALICE, enc).on(EU_KEY), NotAllowed),
            ("resource: region wildcard", resources.clone(), call(BOB, enc).on(EU_KEY), Allow),
            ("resource: case-sensitive", resources.clone(), call(ALICE, "kms:Decrypt"), NotAllowed),
            ("resource: NotResource this key", resources.clone(), call(BOB, "kms:Decrypt"), NotAllowed),
            ("resource: NotResource other key", resources.clone(), call(BOB, "kms:Decrypt").on(EU_KEY), Allow),
            ("resource: none is this key", no_resource.clone(), call(ALICE, enc), Allow),
            ("resource: none is this key, Deny", no_resource.clone(), call(ALICE, "kms:Decrypt").iam(), ExplicitDeny),
            // Principals.
            ("principal: named cross-account, IAM allows", named_other_user.clone(), call(CAROL, enc).iam(), Allow),
            ("principal: named cross-account, IAM silent", named_other_user.clone(), call(CAROL, enc), NotAllowed),
            ("principal: other root, IAM allows", other_root.clone(), call(CAROL, enc).iam(), Allow),
            ("principal: other root, IAM silent", other_root.clone(), call(CAROL, enc), NotAllowed),
            ("principal: other root itself", other_root.clone(), call(OTHER_ROOT, enc), Allow),
            ("principal: bare account, IAM allows", bare_account.clone(), call(ALICE, enc).iam(), Allow),
            ("principal: bare account, root", bare_account.clone(), call(ROOT, enc), Allow),
            ("principal: bare account, IAM silent", bare_account.clone(), call(ALICE, enc), NotAllowed),
            ("principal: denied account ignores IAM", deny_account.clone(), call(ALICE, "kms:Decrypt"), ExplicitDeny),
            ("principal: anyone, same account", anyone.clone(), call(BOB, enc), Allow),
            ("principal: anyone, cross-account IAM allows", anyone.clone(), call(CAROL, enc).iam(), Allow),
            ("principal: anyone, cross-account IAM silent", anyone.clone(), call(CAROL, enc), NotAllowed),
            ("principal: service never a caller", service_only.clone(), call(ALICE, enc).iam(), NotAllowed),
            // StringEquals on an encryption context pair.
            ("StringEquals: match", alice_if(app), call(ALICE, enc).ctx(&[("AppName", "ExampleApp")]), Allow),
            ("StringEquals: context key any case", alice_if(app), call(ALICE, enc).ctx(&[("appname", "ExampleApp")]), Allow),
            ("StringEquals: value case", alice_if(app), call(ALICE, enc).ctx(&[("AppName", "exampleapp")]), NotAllowed),
            ("StringEquals: no context", alice_if(app), call(ALICE, enc), NotAllowed),
            ("StringEquals: other pair", alice_if(app), call(ALICE, enc).ctx(&[("Stage", "Test")]), NotAllowed),
            // StringNotEquals.
            ("StringNotEquals: other value", alice_if(not_restricted), call(ALICE, enc).ctx(&[("Stage", "Test")]), Allow),
            ("StringNotEquals: same value", alice_if(not_restricted), call(ALICE, enc).ctx(&[("Stage", "Restricted")]), NotAllowed),
            ("StringNotEquals: absent key", alice_if(not_restricted), call(ALICE, enc), Allow),
            // Context keys that differ only by case: the condition key has both values.
            ("case twins: Deny sees either", deny_alice_if(r#"{"StringEquals": {"kms:EncryptionContext:Stage": "Restricted"}}"#), call(ALICE, enc).iam().ctx(&[("Stage", "Test"), ("stage", "Restricted")]), ExplicitDeny),
            ("case twins: Not needs none", alice_if(not_restricted), call(ALICE, enc).ctx(&[("Stage", "Test"), ("stage", "Restricted")]), NotAllowed),
            // IgnoreCase forms.
            ("StringEqualsIgnoreCase: match", alice_if(app_any_case), call(ALICE, enc).ctx(&[("AppName", "EXAMPLEAPP")]), Allow),
            ("StringEqualsIgnoreCase: mismatch", alice_if(app_any_case), call(ALICE, enc).ctx(&[("AppName", "Other")]), NotAllowed),
            ("StringNotEqualsIgnoreCase: same", alice_if(not_restricted_any_case), call(ALICE, enc).ctx(&[("Stage", "RESTRICTED")]), NotAllowed),
            ("StringNotEqualsIgnoreCase: other", alice_if(not_restricted_any_case), call(ALICE, enc).ctx(&[("Stage", "prod")]), Allow),
            // StringLike and StringNotLike.
            ("StringLike: match", alice_if(path_like), call(ALICE, enc).ctx(&[("Path", "app/x/y/data1")]), Allow),
            ("StringLike: ? needs a char", alice_if(path_like), call(ALICE, enc).ctx(&[("Path", "app/x/data")]), NotAllowed),
            ("StringNotLike deny: outside", deny_alice_if(path_not_like), call(ALICE, enc).iam().ctx(&[("Path", "other")]), ExplicitDeny),
            ("StringNotLike deny: inside", deny_alice_if(path_not_like), call(ALICE, enc).iam().ctx(&[("Path", "app/1")]), Allow),
            ("StringNotLike deny: absent", deny_alice_if(path_not_like), call(ALICE, enc).iam(), ExplicitDeny),
            // IfExists.
            ("IfExists: absent", alice_if(stage_if_exists), call(ALICE, enc), Allow),
            ("IfExists: mismatch", alice_if(stage_if_exists), call(ALICE, enc).ctx(&[("Stage", "Prod")]), NotAllowed),
            ("IfExists: match", alice_if(stage_if_exists), call(ALICE, enc).ctx(&[("Stage", "Test")]), Allow),
            // ForAnyValue / ForAllValues on kms:EncryptionContextKeys.
            ("ForAnyValue: one of several", alice_if(any_app_key), call(ALICE, enc).ctx(&[("AppName", "x"), ("Project", "y")]), Allow),
            ("ForAnyValue: none", alice_if(any_app_key), call(ALICE, enc).ctx(&[("Project", "y")]), NotAllowed),
            ("ForAnyValue: absent", alice_if(any_app_key), call(ALICE, enc), NotAllowed),
            ("ForAnyValue: value case", alice_if(any_app_key), call(ALICE, enc).ctx(&[("appname", "x")]), NotAllowed),
            ("ForAllValues: absent", alice_if(only_keys), call(ALICE, enc), Allow),
            ("ForAllValues: empty context", alice_if(only_keys), call(ALICE, enc).ctx(&[]), Allow),
            ("ForAllValues: subset", alice_if(only_keys), call(ALICE, enc).ctx(&[("Department", "IT")]), Allow),
            ("ForAllValues: extra key", alice_if(only_keys), call(ALICE, enc).ctx(&[("Department", "IT"), ("Stage", "x")]), NotAllowed),
            ("two operators: both hold", alice_if(two_operators), call(ALICE, enc).ctx(&[("AppName", "ExampleApp")]), Allow),
            ("two operators: ForAllValues alone", alice_if(two_operators), call(ALICE, enc), NotAllowed),
            // Null.
            ("Null false: absent", alice_if(context_present), call(ALICE, enc), NotAllowed),
            ("Null false: present", alice_if(context_present), call(ALICE, enc).ctx(&[("a", "b")]), Allow),
            ("Null false: empty context", alice_if(context_present), call(ALICE, enc).ctx(&[]), NotAllowed),
            ("Null true: absent", alice_if(context_absent), call(ALICE, enc), Allow),
            ("Null true: present", alice_if(context_absent), call(ALICE, enc).ctx(&[("a", "b")]), NotAllowed),
            // kms:CallerAccount with a "*" principal.
            ("CallerAccount: same account", anyone_if(own_account), call(ALICE, enc), Allow),
            ("CallerAccount: other account", anyone_if(own_account), call(CAROL, enc).iam(), NotAllowed),
            // kms:GrantOperations.
            ("GrantOperations ForAll: subset", alice_if(encrypt_grants), call(ALICE, grant).ops(&["Encrypt"]), Allow),
            ("GrantOperations ForAll: extra", alice_if(encrypt_grants), call(ALICE, grant).ops(&["Encrypt", "Decrypt"]), NotAllowed),
            ("GrantOperations ForAny Like: match", alice_if(some_reencrypt), call(ALICE, grant).ops(&["Decrypt", "ReEncryptFrom"]), Allow),
            ("GrantOperations ForAny Like: none", alice_if(some_reencrypt), call(ALICE, grant).ops(&["Decrypt"]), NotAllowed),
            ("GrantOperations ForAll Not: clean", alice_if(never_decrypt), call(ALICE, grant).ops(&["Encrypt"]), Allow),
            ("GrantOperations ForAll Not: decrypt", alice_if(never_decrypt), call(ALICE, grant).ops(&["Encrypt", "Decrypt"]), NotAllowed),
            ("GrantOperations ForAll Not: absent", alice_if(never_decrypt), call(ALICE, enc), Allow),
            ("GrantOperations ForAny Not: only decrypt", alice_if(something_but_decrypt), call(ALICE, grant).ops(&["Decrypt"]), NotAllowed),
            ("GrantOperations ForAny Not: another", alice_if(something_but_decrypt), call(ALICE, grant).ops(&["Decrypt", "Encrypt"]), Allow),
            ("GrantOperations ForAny Not: absent", alice_if(something_but_decrypt), call(ALICE, enc), NotAllowed),
            // kms:GrantIsForAWSResource with Bool.
            ("Bool: true", alice_if(for_aws), call(ALICE, grant).for_aws(true), Allow),
            ("Bool: false", alice_if(for_aws), call(ALICE, grant).for_aws(false), NotAllowed),
            ("Bool: absent", alice_if(for_aws), call(ALICE, grant), NotAllowed),
            ("BoolIfExists: absent", alice_if(not_for_aws_if_exists), call(ALICE, enc), Allow),
            ("BoolIfExists: true", alice_if(not_for_aws_if_exists), call(ALICE, grant).for_aws(true), NotAllowed),
            // aws:PrincipalArn and aws:PrincipalAccount.
            ("PrincipalArn: match", anyone_if(a_users), call(ALICE, enc), Allow),
            ("PrincipalArn: mismatch", anyone_if(a_users), call(BOB, enc), NotAllowed),
            ("PrincipalAccount: match", anyone_if(home_account), call(BOB, enc), Allow),
            ("PrincipalAccount: mismatch", anyone_if(home_account), call(CAROL, enc).iam(), NotAllowed),
            // Keys are ANDed, values ORed.
            ("AND: both pairs", alice_if(both_pairs), call(ALICE, enc).ctx(&[("A", "1"), ("B", "2")]), Allow),
            ("AND: one pair", alice_if(both_pairs), call(ALICE, enc).ctx(&[("A", "1")]), NotAllowed),
            ("OR: second value", alice_if(either_stage), call(ALICE, enc).ctx(&[("Stage", "Dev")]), Allow),
            // Policy variable escapes, and no variables in 2008-10-17.
            ("${*} in StringEquals", alice_if(escaped_star), call(ALICE, enc).ctx(&[("Tag", "a*b")]), Allow),
            ("${*} is no wildcard", alice_if(escaped_star), call(ALICE, enc).ctx(&[("Tag", "axb")]), NotAllowed),
            ("${*} literal in StringLike", alice_if(escaped_like), call(ALICE, enc).ctx(&[("Tag", "a*zz")]), Allow),
            ("${*} literal in StringLike: miss", alice_if(escaped_like), call(ALICE, enc).ctx(&[("Tag", "azz")]), NotAllowed),
            ("2008-10-17: ${} literal", old_version.clone(), call(ALICE, enc).ctx(&[("user", "${aws:username}")]), Allow),
            ("2008-10-17: not resolved", old_version.clone(), call(ALICE, enc).ctx(&[("user", "alice")]), NotAllowed),
        ];

        let mut failures = Vec::new();
        for (name, text, call, want) in &rows {
            let policy = Policy::parse(text).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
            let got = call.decide(&policy);
            if got != *want {
                failures.push(format!("{name}: got {got:?}, want {want:?}"));
            }
        }
        assert!(rows.len() >= 40);
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn malformed_documents_are_refused() {
        let ok = root_may_do_all();
        #[rustfmt::skip]
        let cases: Vec<(&str, String, &str)> = vec![
            ("not JSON", "not json".into(), "not valid JSON"),
            ("not an object", "[]".into(), "must be a JSON object"),
            ("no Version", format!(r#"{{"Statement": [{ok}]}}"#), "has no Version"),
            ("bad Version", format!(r#"{{"Version": "2020-01-01", "Statement": [{ok}]}}"#), "Version"),
            ("no Statement", r#"{"Version": "2012-10-17"}"#.into(), "has no Statement"),
            ("empty Statement", doc(""), "at least one statement"),
            ("unknown top-level member", format!(r#"{{"Version": "2012-10-17", "Statment": [{ok}]}}"#), "unknown member Statment"),
            ("unknown statement member", doc(r#"{"Effect": "Allow", "Principal": "*", "Actions": "kms:*", "Resource": "*"}"#), "unknown member Actions"),
            ("missing Effect", doc(r#"{"Principal": "*", "Action": "kms:*", "Resource": "*"}"#), "has no Effect"),
            ("bad Effect", doc(r#"{"Effect": "allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}"#), "Effect"),
            ("missing Principal", doc(r#"{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}"#), "neither Principal nor NotPrincipal"),
            ("Principal and NotPrincipal", doc(r#"{"Effect": "Deny", "Principal": "*", "NotPrincipal": "*", "Action": "kms:*", "Resource": "*"}"#), "both Principal and NotPrincipal"),
            ("NotPrincipal with Allow", doc(r#"{"Effect": "Allow", "NotPrincipal": {"AWS": "111122223333"}, "Action": "kms:*", "Resource": "*"}"#), "NotPrincipal can be used only"),
            ("missing Action", doc(r#"{"Effect": "Allow", "Principal": "*", "Resource": "*"}"#), "neither Action nor NotAction"),
            ("action without service", doc(r#"{"Effect": "Allow", "Principal": "*", "Action": "Encrypt", "Resource": "*"}"#), "<service>:<action>"),
            ("empty action list", doc(r#"{"Effect": "Allow", "Principal": "*", "Action": [], "Resource": "*"}"#), "non-empty list"),
            ("resource not an ARN", doc(r#"{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "key/abc"}"#), "ARN format"),
            ("principal wildcard ARN", doc(r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/*"}, "Action": "kms:*", "Resource": "*"}"#), INVALID_PRINCIPALS),
            ("principal plain name", doc(r#"{"Effect": "Allow", "Principal": {"AWS": "alice"}, "Action": "kms:*", "Resource": "*"}"#), INVALID_PRINCIPALS),
            ("principal unknown kind", doc(r#"{"Effect": "Allow", "Principal": {"Aws": "111122223333"}, "Action": "kms:*", "Resource": "*"}"#), INVALID_PRINCIPALS),
            ("kms:ViaService", alice_if(r#"{"StringEquals": {"kms:ViaService": "ec2.us-east-1.amazonaws.com"}}"#), "Condition key kms:ViaService is not supported by this key store."),
            ("aws:SourceIp", alice_if(r#"{"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}"#), "Condition key aws:SourceIp is not supported by this key store."),
            ("aws:SecureTransport", alice_if(r#"{"Bool": {"aws:SecureTransport": "true"}}"#), "Condition key aws:SecureTransport is not supported by this key store."),
            ("unsupported operator", alice_if(r#"{"NumericLessThan": {"kms:CallerAccount": "5"}}"#), "Condition operator NumericLessThan is not supported by this key store."),
            ("NullIfExists", alice_if(r#"{"NullIfExists": {"kms:CallerAccount": "true"}}"#), "Condition operator NullIfExists is not supported"),
            ("ForAllValues on a context pair", alice_if(r#"{"ForAllValues:StringEquals": {"kms:EncryptionContext:AppName": "x"}}"#), "OverlyPermissiveCondition"),
            ("multi-valued key without set operator", alice_if(r#"{"StringEquals": {"kms:EncryptionContextKeys": "AppName"}}"#), "multi-valued"),
            ("Bool not a boolean", alice_if(r#"{"Bool": {"kms:GrantIsForAWSResource": "yes"}}"#), "takes true or false"),
            ("empty condition values", alice_if(r#"{"StringEquals": {"kms:CallerAccount": []}}"#), "has no values"),
            ("object condition value", alice_if(r#"{"StringEquals": {"kms:CallerAccount": {"a": 1}}}"#), "strings, numbers or booleans"),
            ("policy variable", alice_if(r#"{"StringEquals": {"kms:EncryptionContext:user": "${aws:username}"}}"#), "policy variable ${aws:username} is not supported"),
            ("unclosed variable", alice_if(r#"{"StringEquals": {"kms:EncryptionContext:user": "${aws:username"}}"#), "not closed"),
            ("duplicate operator", alice_if(r#"{"StringEquals": {"kms:CallerAccount": "111122223333"}, "StringEquals": {"kms:CallerAccount": "444455556666"}}"#), "names the member \"StringEquals\" twice"),
            ("non-Latin-1 character", doc(r#"{"Sid": "€", "Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}"#), "U+20AC"),
            ("too large", doc(&format!("{ok}{}", " ".repeat(MAX_POLICY_BYTES))), "larger than"),
        ];
        for (name, text, want) in &cases {
            match Policy::parse(text) {
                Ok(_) => panic!("{name}: accepted\n{text}"),
                Err(PolicyError(message)) => assert!(
                    message.contains(want),
                    "{name}: {message:?} does not contain {want:?}"
                ),
            }
        }
    }

    #[test]
    fn accepted_shapes() {
        // One statement object, a role and a service principal, a Sid with spaces, a number
        // as a condition value, operator and key names in another case.
        let text = r#"{"Version": "2012-10-17", "Id": "x", "Statement": {
            "Sid": "Allow use of the key", "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::111122223333:role/R"],
                          "Service": ["ec2.amazonaws.com"]},
            "Action": "*", "Resource": ["*"],
            "Condition": {"stringequals": {"KMS:CallerAccount": 111122223333}}}}"#;
        let policy = Policy::parse(text).unwrap();
        let role = "arn:aws:iam::111122223333:role/R";
        assert_eq!(call(role, "kms:Encrypt").decide(&policy), Allow);
        assert_eq!(call(BOB, "kms:Encrypt").iam().decide(&policy), NotAllowed);
        assert_eq!(PolicyError("x".into()).to_string(), "x");
    }

    #[test]
    fn wildcard_matching() {
        for (pattern, text, want) in [
            ("*", "", true),
            ("*", "anything", true),
            ("a*b", "ab", true),
            ("a*b", "axxb", true),
            ("a*b", "axxbc", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*a*a*", "banana", true),
            ("*x*", "banana", false),
            ("", "", true),
            ("", "a", false),
        ] {
            assert_eq!(
                Pattern::wild(pattern).matches(text),
                want,
                "{pattern} ~ {text}"
            );
        }
    }
}
