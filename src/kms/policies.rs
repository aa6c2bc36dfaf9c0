//! Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies. A key has one policy, named
//! `default`, stored and returned exactly as given once it parses; `authorize` enforces it.

use super::paging::{page, Page};
use super::policy_eval::Policy;
use super::rules::Op;
use super::{ErrorKind, Kms, KmsError};

/// The name of a key's only policy.
pub const DEFAULT_POLICY: &str = "default";

impl Kms {
    /// GetKeyPolicy: the policy `policy_name` of the key `key_id` (a key id or ARN).
    pub fn key_policy(&self, key_id: &str, policy_name: &str) -> Result<String, KmsError> {
        only_default(policy_name)?;
        let key = self.checked_by_id(key_id, Op::GetKeyPolicy)?;
        Ok(key.policy.clone())
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
            key.policy = check_policy(policy)?;
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
}

/// A key policy must be a JSON object; it is stored as given.
pub(super) fn check_policy(text: String) -> Result<String, KmsError> {
    let malformed = |message: String| KmsError::new(ErrorKind::MalformedPolicyDocument, message);
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(_)) => {}
        _ => {
            return Err(malformed(
                "The new key policy is not a valid JSON policy document.".into(),
            ))
        }
    }
    // Only what hsmkms can evaluate faithfully is stored: a condition it ignored would
    // widen access.
    Policy::parse(&text).map_err(|e| malformed(e.0))?;
    Ok(text)
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

    #[test]
    fn a_policy_is_a_json_object_kept_byte_for_byte() {
        let text = "{ \"Version\" : \"2012-10-17\",\n  \"Statement\": [{\"Effect\": \"Allow\", \"Principal\": \"*\", \"Action\": \"kms:Encrypt\", \"Resource\": \"*\"}] }".to_owned();
        assert_eq!(check_policy(text.clone()).unwrap(), text);
        for bad in ["", "not json", "[]", "\"x\"", "{", "null"] {
            assert_eq!(
                check_policy(bad.to_owned()).unwrap_err().kind,
                ErrorKind::MalformedPolicyDocument
            );
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
