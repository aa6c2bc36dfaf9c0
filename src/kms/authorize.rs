//! Authorization: the key policy decides, then grants; an explicit Deny wins. Operations on
//! no key are IAM's to allow: the configured admin principals play that part.

use std::sync::{Arc, PoisonError};

use super::ciphertext::EncryptionContext;
use super::grants::{at_least_as_strict, Grant, GrantTerms};
use super::model::Key;
use super::policy_eval::{Decision, Policy, Request};
use super::{ErrorKind, Kms, KmsError};

/// How many parsed policies the cache holds before it first looks for unused ones.
const POLICY_SWEEP_FROM: usize = 64;

/// Operations whose KeyId may be an alias name or alias ARN; the others take a key id or
/// key ARN only.
const ALIAS_OPERATIONS: &[&str] = &[
    "DescribeKey",
    "Encrypt",
    "Decrypt",
    "ReEncryptFrom",
    "ReEncryptTo",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "DeriveSharedSecret",
    "Sign",
    "Verify",
    "GetPublicKey",
    "GenerateMac",
    "VerifyMac",
];

/// Who is calling, as authentication established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The caller's IAM ARN.
    pub principal: String,
    /// The caller's account.
    pub account: String,
    /// Whether the account's IAM side allows this caller every KMS action (config's
    /// admin principals).
    pub admin: bool,
}

/// What is being done, with the request facts that policy conditions and grant
/// constraints look at.
#[derive(Debug, Clone, Copy)]
pub struct Action<'a> {
    /// The operation's name, as in `kms:<name>` and in grant operations.
    pub operation: &'static str,
    /// The request's encryption context, for operations that take one.
    pub context: Option<&'a EncryptionContext>,
    /// The grant a CreateGrant asks for (its operations are `kms:GrantOperations`).
    pub new_grant: Option<&'a GrantTerms>,
}

impl<'a> Action<'a> {
    /// An action with no context.
    pub fn plain(operation: &'static str) -> Action<'a> {
        Action {
            operation,
            context: None,
            new_grant: None,
        }
    }

    /// An action under an encryption context.
    pub fn with_context(operation: &'static str, context: &'a EncryptionContext) -> Action<'a> {
        Action {
            operation,
            context: Some(context),
            new_grant: None,
        }
    }

    /// CreateGrant of `terms`.
    pub fn create_grant(terms: &'a GrantTerms) -> Action<'a> {
        Action {
            operation: "CreateGrant",
            context: None,
            new_grant: Some(terms),
        }
    }
}

impl Kms {
    /// An operation on no key (CreateKey, ListKeys, ...): only IAM-allowed callers.
    pub fn authorize_account(&self, caller: &Caller, operation: &str) -> Result<(), KmsError> {
        if caller.admin && caller.account == self.identity.account {
            return Ok(());
        }
        Err(denied(
            caller,
            operation,
            "*",
            "because no identity-based policy allows the",
        ))
    }

    /// `action` on the key `key_id` names, by its policy, then grants. The key is found as
    /// the operation finds it (aliases only where AWS takes them), so an unknown key is
    /// NotFoundException, or an alias InvalidArnException, before any access decision.
    pub async fn authorize(
        &self,
        caller: &Caller,
        key_id: &str,
        action: Action<'_>,
    ) -> Result<(), KmsError> {
        self.authorized(caller, key_id, action).await.map(drop)
    }

    /// The key `key_id` names, once `caller` may do `action` on it. An operation must use
    /// this very key: resolving the name again could reach another key after an alias
    /// moved between the check and the use.
    pub async fn authorized(
        &self,
        caller: &Caller,
        key_id: &str,
        action: Action<'_>,
    ) -> Result<Arc<Key>, KmsError> {
        let key = match ALIAS_OPERATIONS.contains(&action.operation) {
            true => self.resolve(key_id)?,
            false => self.resolve_by_id(key_id)?,
        };
        self.authorize_key(caller, &key, action).await?;
        Ok(key)
    }

    /// The key alias `alias_name` points to, once `caller` may do `operation` on it; None
    /// for an alias of a key already gone. An alias that does not exist is NotFoundException.
    /// Call with the write lock held, so the alias cannot move before the operation.
    pub(super) async fn authorize_alias(
        &self,
        caller: &Caller,
        alias_name: &str,
        operation: &'static str,
    ) -> Result<Option<Arc<Key>>, KmsError> {
        let Some(key) = self.key(self.alias_target(alias_name)?) else {
            return Ok(None);
        };
        self.authorize_key(caller, &key, Action::plain(operation))
            .await?;
        Ok(Some(key))
    }

    /// AWS's policy lockout safety check: refuses a policy that would not let `caller`
    /// change it again, unless the caller bypasses the check.
    pub fn check_lockout(
        &self,
        caller: &Caller,
        policy_text: &str,
        key_arn: &str,
    ) -> Result<(), KmsError> {
        let Ok(policy) = self.valid_policy(policy_text) else {
            return Ok(()); // the operation refuses a malformed policy itself
        };
        let request = self.policy_request(caller, "kms:PutKeyPolicy", key_arn, Action::plain(""));
        match policy.evaluate(&request) {
            Decision::Allow => Ok(()),
            _ => Err(KmsError::new(
                ErrorKind::MalformedPolicyDocument,
                "The new key policy will not allow you to update the key policy in the future.",
            )),
        }
    }

    /// `action` on `key`: the key policy, then the caller's grants where the policy is silent.
    pub(super) async fn authorize_key(
        &self,
        caller: &Caller,
        key: &Arc<Key>,
        action: Action<'_>,
    ) -> Result<(), KmsError> {
        let decision = self.policy_decision(caller, key, action)?;
        let granted = match decision {
            Decision::NotAllowed => self.granted(caller, key, action).await?,
            _ => false,
        };
        self.settle(caller, key, action.operation, decision, granted)
    }

    /// RetireGrant of `grant`: the key policy can allow or deny it; else only the grant's
    /// retiring principal, or its grantee where the grant itself includes RetireGrant.
    /// Another grant's RetireGrant does not count: it retires only that grant.
    pub(super) fn authorize_retire(
        &self,
        caller: &Caller,
        key: &Key,
        grant: &Grant,
    ) -> Result<(), KmsError> {
        const RETIRE: &str = "RetireGrant";
        let decision = self.policy_decision(caller, key, Action::plain(RETIRE))?;
        let terms = &grant.terms;
        let named = terms.retiring.as_ref() == Some(&caller.principal)
            || (terms.grantee == caller.principal && terms.operations.contains(&RETIRE));
        self.settle(caller, key, RETIRE, decision, named)
    }

    /// What `key`'s policy says to `caller` doing `action`.
    fn policy_decision(
        &self,
        caller: &Caller,
        key: &Key,
        action: Action<'_>,
    ) -> Result<Decision, KmsError> {
        let arn = self.arn(key);
        let name = format!("kms:{}", action.operation);
        let policy = self.parsed_policy(key)?;
        Ok(policy.evaluate(&self.policy_request(caller, &name, &arn, action)))
    }

    /// The answer to a request the key policy decided as `decision`, where a grant may
    /// let in what the policy does not (`granted`); a Deny wins.
    fn settle(
        &self,
        caller: &Caller,
        key: &Key,
        operation: &str,
        decision: Decision,
        granted: bool,
    ) -> Result<(), KmsError> {
        let why = match decision {
            Decision::Allow => return Ok(()),
            Decision::NotAllowed if granted => return Ok(()),
            Decision::ExplicitDeny => "with an explicit deny in a resource-based policy",
            Decision::NotAllowed => "because no resource-based policy allows the",
        };
        Err(denied(caller, operation, &self.arn(key), why))
    }

    /// What a key policy is asked about `caller` doing `action_name` on `resource`.
    fn policy_request<'a>(
        &'a self,
        caller: &'a Caller,
        action_name: &'a str,
        resource: &'a str,
        action: Action<'a>,
    ) -> Request<'a> {
        Request {
            principal: &caller.principal,
            principal_account: &caller.account,
            key_account: &self.identity.account,
            iam_allows: caller.admin,
            action: action_name,
            resource,
            encryption_context: action.context,
            grant_operations: action.new_grant.map(|g| g.operations.as_slice()),
            grant_is_for_aws_resource: action.new_grant.map(|_| false),
        }
    }

    /// The key's policy, parsed once per policy text: parsing is on every request's path.
    /// Keys with the same text share the parse.
    fn parsed_policy(&self, key: &Key) -> Result<Arc<Policy>, KmsError> {
        let cache = self.policies.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(policy) = cache.get(&*key.policy) {
            return Ok(policy.clone());
        }
        drop(cache);
        let policy = Arc::new(Policy::parse(&key.policy).map_err(|e| KmsError::internal(e.0))?);
        let mut cache = self
            .policies
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Texts no key holds any more (replaced or deleted) are dropped as the cache grows:
        // the cache's own reference is then the last one.
        if cache.len() >= POLICY_SWEEP_FROM && cache.len().is_power_of_two() {
            cache.retain(|text, _| Arc::strong_count(text) > 1);
        }
        cache.insert(key.policy.clone(), policy.clone());
        Ok(policy)
    }

    /// Whether a grant on `key` lets `caller` do `action`.
    async fn granted(
        &self,
        caller: &Caller,
        key: &Key,
        action: Action<'_>,
    ) -> Result<bool, KmsError> {
        let grants = self.grantee_grants(key, &caller.principal).await?;
        Ok(grants.iter().any(|g| grant_allows(g, caller, action)))
    }
}

fn grant_allows(grant: &Grant, caller: &Caller, action: Action<'_>) -> bool {
    let terms = &grant.terms;
    if terms.grantee != caller.principal || !terms.operations.contains(&action.operation) {
        return false;
    }
    // A grant that allows CreateGrant passes on no more than it has: some or all of its
    // operations, under a constraint at least as strict as its own.
    if let Some(child) = action.new_grant {
        return child
            .operations
            .iter()
            .all(|op| terms.operations.contains(op))
            && at_least_as_strict(child.constraint.as_ref(), terms.constraint.as_ref());
    }
    // Constraints bind the cryptographic operations, the ones that carry a context.
    match (action.context, &terms.constraint) {
        (Some(context), Some(constraint)) => constraint.allows(context),
        _ => true,
    }
}

/// AWS's AccessDeniedException wording; `why` ends with "the" when the action follows.
fn denied(caller: &Caller, operation: &str, resource: &str, why: &str) -> KmsError {
    let action = format!("kms:{operation}");
    let tail = if why.ends_with(" the") {
        format!("{why} {action} action")
    } else {
        why.to_owned()
    };
    tracing::info!(principal = %caller.principal, %action, resource, "access denied");
    KmsError::new(
        ErrorKind::AccessDenied,
        format!(
            "User: {} is not authorized to perform: {action} on resource: {resource} {tail}",
            caller.principal
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::grants::{Constraint, GrantTerms};
    use uuid::Uuid;

    fn grant(constraint: Option<Constraint>) -> Grant {
        Grant {
            id: "0".repeat(64),
            key_id: Uuid::nil(),
            terms: GrantTerms {
                name: None,
                grantee: "arn:aws:iam::111122223333:user/app".into(),
                retiring: None,
                operations: vec!["Encrypt", "Decrypt"],
                constraint,
            },
            issuing_account: "arn:aws:iam::111122223333:root".into(),
            created_at: 0,
        }
    }

    fn app() -> Caller {
        Caller {
            principal: "arn:aws:iam::111122223333:user/app".into(),
            account: "111122223333".into(),
            admin: false,
        }
    }

    #[test]
    fn grants_allow_their_grantee_their_operations_within_their_constraint() {
        let ctx: EncryptionContext =
            [("tenant".into(), "a".into()), ("x".into(), "y".into())].into();
        let other: EncryptionContext = [("tenant".into(), "b".into())].into();
        let subset: EncryptionContext = [("tenant".into(), "a".into())].into();
        assert!(grant_allows(
            &grant(None),
            &app(),
            Action::with_context("Encrypt", &ctx)
        ));
        assert!(!grant_allows(
            &grant(None),
            &app(),
            Action::plain("DescribeKey")
        ));
        let mut stranger = app();
        stranger.principal = "arn:aws:iam::111122223333:user/other".into();
        assert!(!grant_allows(
            &grant(None),
            &stranger,
            Action::plain("Encrypt")
        ));
        let sub = grant(Some(Constraint::EncryptionContextSubset(subset.clone())));
        assert!(grant_allows(
            &sub,
            &app(),
            Action::with_context("Encrypt", &ctx)
        ));
        assert!(!grant_allows(
            &sub,
            &app(),
            Action::with_context("Encrypt", &other)
        ));
        let equals = grant(Some(Constraint::EncryptionContextEquals(subset.clone())));
        assert!(!grant_allows(
            &equals,
            &app(),
            Action::with_context("Encrypt", &ctx)
        ));
        assert!(grant_allows(
            &equals,
            &app(),
            Action::with_context("Encrypt", &subset)
        ));
    }
}
