//! Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies. A key has one policy, named
//! `default`, stored and returned exactly as given once it parses and names only principals
//! that exist; `authorize` enforces it.

use std::collections::HashSet;
use std::sync::Arc;

use super::paging::{page, Page};
use super::policy_eval::{is_account_id, Policy, INVALID_PRINCIPALS};
use super::rules::Op;
use super::{ErrorKind, Kms, KmsError};

/// The name of a key's only policy.
pub const DEFAULT_POLICY: &str = "default";

/// The AWS principals that exist here, which a key policy may name: the configured
/// credential and admin principals, and the root of their accounts and of the key's.
#[derive(Debug, Clone)]
pub struct Principals {
    arns: HashSet<String>,
}

impl Principals {
    /// The principals of `account` and `configured`, exactly as configured.
    pub fn new<'a>(account: &str, configured: impl IntoIterator<Item = &'a str>) -> Principals {
        let mut arns = HashSet::from([root_of(account)]);
        for principal in configured {
            let account = principal.split(':').nth(4).filter(|a| is_account_id(a));
            if let Some(account) = account {
                arns.insert(root_of(account));
            }
            arns.insert(principal.to_owned());
        }
        Principals { arns }
    }

    fn exist(&self, policy: &Policy) -> bool {
        policy
            .named_principals()
            .all(|arn| self.arns.contains(&arn))
    }
}

fn root_of(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

impl Kms {
    /// GetKeyPolicy: the policy `policy_name` of the key `key_id` (a key id or ARN).
    pub fn key_policy(&self, key_id: &str, policy_name: &str) -> Result<String, KmsError> {
        only_default(policy_name)?;
        let key = self.checked_by_id(key_id, Op::GetKeyPolicy)?;
        Ok(key.policy.to_string())
    }

    /// PutKeyPolicy: replaces the policy `policy_name` of the key `key_id` (a key id or ARN)
    /// with `policy`, kept exactly as sent.
    pub async fn put_key_policy(
        &self,
        key_id: &str,
        policy_name: &str,
        policy: String,
    ) -> Result<(), KmsError> {
        only_default(policy_name)?;
        self.update_key(key_id, Op::PutKeyPolicy, |key| {
            key.policy = self.check_policy(policy)?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// ListKeyPolicies: the names of the policies of the key `key_id` (a key id or ARN).
    pub fn list_key_policies(
        &self,
        key_id: &str,
        limit: usize,
        marker: Option<&str>,
    ) -> Result<Page<&'static str>, KmsError> {
        self.checked_by_id(key_id, Op::ListKeyPolicies)?;
        page([(DEFAULT_POLICY.to_owned(), DEFAULT_POLICY)], limit, marker)
    }

    /// A key policy must be a JSON object that hsmkms can evaluate and whose principals
    /// exist (as AWS refuses principals it cannot resolve); it is stored as given.
    pub(super) fn check_policy(&self, text: String) -> Result<Arc<str>, KmsError> {
        self.valid_policy(&text)?;
        Ok(self.shared_policy(text))
    }

    /// `text` as a key holds it: the default policy's text is shared by every key that has it.
    pub(super) fn shared_policy(&self, text: String) -> Arc<str> {
        match *text == *self.default_policy {
            true => self.default_policy.clone(),
            false => text.into(),
        }
    }

    /// The policy `text` holds, once `check_policy` would accept it.
    pub(super) fn valid_policy(&self, text: &str) -> Result<Policy, KmsError> {
        let policy = parse_policy(text)?;
        if !self.principals.exist(&policy) {
            return Err(malformed(INVALID_PRINCIPALS.into()));
        }
        Ok(policy)
    }
}

/// Only what hsmkms can evaluate faithfully is stored: a condition it ignored would widen
/// access.
fn parse_policy(text: &str) -> Result<Policy, KmsError> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(_)) => {}
        _ => {
            return Err(malformed(
                "The new key policy is not a valid JSON policy document.".into(),
            ))
        }
    }
    Policy::parse(text).map_err(|e| malformed(e.0))
}

fn malformed(message: String) -> KmsError {
    KmsError::new(ErrorKind::MalformedPolicyDocument, message)
}

fn only_default(policy_name: &str) -> Result<(), KmsError> {
    match policy_name {
        DEFAULT_POLICY => Ok(()),
        _ => Err(KmsError::new(ErrorKind::NotFound, "No such policy exists")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(principal: &str) -> String {
        format!(
            r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Principal": {principal}, "Action": "kms:Encrypt", "Resource": "*"}}]}}"#
        )
    }

    #[test]
    fn a_policy_is_a_json_object() {
        assert!(parse_policy(&statement("\"*\"")).is_ok());
        for bad in ["", "not json", "[]", "\"x\"", "{", "null"] {
            assert_eq!(
                parse_policy(bad).unwrap_err().kind,
                ErrorKind::MalformedPolicyDocument
            );
        }
    }

    #[test]
    fn a_policy_names_only_principals_that_exist() {
        let app = "arn:aws:iam::111122223333:user/app";
        let partner = "arn:aws:iam::444455556666:role/partner";
        let known = Principals::new("111122223333", [app, partner]);
        let exists = |principal: &str| {
            let policy = Policy::parse(&statement(principal)).unwrap();
            known.exist(&policy)
        };
        for principal in [
            "\"*\"",
            r#"{"AWS": "*"}"#,
            r#"{"AWS": "111122223333"}"#,
            r#"{"AWS": "arn:aws:iam::111122223333:root"}"#,
            r#"{"AWS": "444455556666"}"#,
            r#"{"AWS": ["arn:aws:iam::111122223333:user/app", "arn:aws:iam::444455556666:role/partner"]}"#,
            r#"{"Service": "logs.amazonaws.com"}"#,
        ] {
            assert!(exists(principal), "{principal}");
        }
        for principal in [
            r#"{"AWS": "arn:aws:iam::111122223333:user/ghost"}"#,
            r#"{"AWS": ["arn:aws:iam::111122223333:user/app", "arn:aws:iam::111122223333:user/ghost"]}"#,
            r#"{"AWS": "arn:aws:iam::111122223333:user/App"}"#,
            r#"{"AWS": "999999999999"}"#,
            r#"{"AWS": "arn:aws-cn:iam::111122223333:root"}"#,
            r#"{"AWS": "arn:aws:sts::111122223333:assumed-role/app/session"}"#,
        ] {
            assert!(!exists(principal), "{principal}");
        }
    }

    #[test]
    fn only_the_default_policy_exists() {
        assert!(only_default("default").is_ok());
        assert_eq!(
            only_default("Default").unwrap_err().message,
            "No such policy exists"
        );
    }
}
