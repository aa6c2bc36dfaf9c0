//! CreateKey: write the intent, create the token object, then mark the key live.

use std::collections::HashSet;
use std::sync::Arc;

use uuid::Uuid;

use super::model::{Custody, Key, KeySpec, KeyUsage, Material, MaterialState, Origin, Rotation};
use super::rules::KeyState;
use super::{ErrorKind, Identity, Kms, KmsError};

/// Most tags a key may carry.
const MAX_TAGS: usize = 50;

/// What CreateKey asks for, already checked against the wire constraints.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// Description (may be empty).
    pub description: String,
    /// Key usage.
    pub usage: KeyUsage,
    /// Key spec.
    pub spec: KeySpec,
    /// Where the material comes from.
    pub origin: Origin,
    /// A key policy; the default policy when absent.
    pub policy: Option<String>,
    /// Tags as (key, value).
    pub tags: Vec<(String, String)>,
}

impl Kms {
    /// CreateKey. Crash-safe: the row is written (Creating) before the token object exists
    /// and marked live only after, so start-up can roll back what a crash interrupted.
    pub async fn create_key(&self, new: NewKey) -> Result<Arc<Key>, KmsError> {
        check_tags(&new.tags)?;
        let policy = match new.policy {
            Some(text) => check_policy(text)?,
            None => default_policy(&self.identity),
        };
        let now = self.clock.now();
        let mut key = Key {
            id: Uuid::new_v4(),
            created_at: now,
            description: new.description,
            usage: new.usage,
            spec: new.spec,
            origin: new.origin,
            state: KeyState::Enabled,
            policy,
            current_material: None,
            materials: Vec::new(),
            deletion_date: None,
            pending_window_days: None,
            rotation: Rotation::default(),
        };
        let tags = new.tags;
        if key.origin == Origin::External {
            // No material until the caller imports some; nothing is made in the token yet.
            key.state = KeyState::PendingImport;
            let live = key.clone();
            self.blocking(move |store| store.insert_key(&live, &tags, false))
                .await?;
            tracing::info!(key_id = %key.id, "created key awaiting imported material");
            return Ok(self.remember(key));
        }
        let material_id = Uuid::new_v4();
        key.current_material = Some(material_id);
        key.materials.push(Material {
            id: material_id,
            state: MaterialState::PendingGeneration,
            custody: Custody::TokenObject,
            created_at: now,
            rotation_type: None,
        });
        let pending = key.clone();
        self.blocking(move |store| store.insert_key(&pending, &tags, true))
            .await?;
        if let Err(e) = self.hsm.generate_key(material_id, key.id.to_string()).await {
            self.undo_create(&key).await;
            return Err(KmsError::from_hsm(e, &self.arn(&key)));
        }
        key.materials[0].state = MaterialState::Enabled;
        let live = key.clone();
        if let Err(e) = self
            .blocking(move |store| store.finish_creating(&live))
            .await
        {
            self.undo_create(&key).await;
            return Err(e);
        }
        tracing::info!(key_id = %key.id, %material_id, "created key");
        Ok(self.remember(key))
    }

    /// Best-effort rollback of a key that will not be acknowledged; whatever fails here is
    /// rolled back again at the next start.
    async fn undo_create(&self, key: &Key) {
        for m in &key.materials {
            if let Err(e) = self.hsm.destroy_key(m.id).await {
                tracing::error!(key_id = %key.id, error = %e, "rollback: cannot destroy token object");
            }
        }
        let id = key.id;
        if let Err(e) = self
            .blocking(move |store| store.delete_unfinished(id))
            .await
        {
            tracing::error!(key_id = %id, error = %e, "rollback: cannot delete sidecar row");
        }
    }
}

/// Tag rules beyond the wire constraints: no `aws:` prefix, no repeats, at most 50.
fn check_tags(tags: &[(String, String)]) -> Result<(), KmsError> {
    let tag_error = |message: &str| Err(KmsError::new(ErrorKind::Tag, message));
    if tags.len() > MAX_TAGS {
        return tag_error("Too many tags");
    }
    let mut seen = HashSet::new();
    for (k, _) in tags {
        if k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
            return tag_error("Tags beginning with aws: are reserved");
        }
        if !seen.insert(k.as_str()) {
            return tag_error("Duplicate tag keys");
        }
    }
    Ok(())
}

/// A key policy must be a JSON object; it is stored as given.
fn check_policy(text: String) -> Result<String, KmsError> {
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(_)) => Ok(text),
        _ => Err(KmsError::new(
            ErrorKind::MalformedPolicyDocument,
            "The new key policy is not a valid JSON policy document.",
        )),
    }
}

/// AWS's default key policy: the account root may do everything.
fn default_policy(identity: &Identity) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": { "AWS": format!("arn:aws:iam::{}:root", identity.account) },
            "Action": "kms:*",
            "Resource": "*"
        }]
    })
    .to_string()
}
