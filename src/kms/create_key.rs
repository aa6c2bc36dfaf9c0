//! CreateKey: write the intent, create the token object, then mark the key live.

use std::sync::Arc;

use uuid::Uuid;

use super::model::{Custody, Key, KeySpec, KeyUsage, Material, MaterialState, Origin, Rotation};
use super::rules::KeyState;
use super::tags::check_tags;
use super::{asym, ErrorKind, Identity, Kms, KmsError};

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
        check_tags(&new.tags, 0)?;
        self.check_spec(&new)?;
        // Key pairs hold a session for up to seconds: throttled, not queued.
        let _generating = match asym::material(new.spec) {
            asym::Material::Pair(_) => Some(self.generation_slot()?),
            _ => None,
        };
        let policy = match new.policy {
            Some(text) => self.check_policy(text)?,
            None => self.default_policy.clone(),
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
            self.blocking(move |store| store.insert_key(&live, &tags, false, &[]))
                .await?;
            tracing::info!(key_id = %key.id, "created key awaiting imported material");
            return Ok(self.remember(key));
        }
        let material_id = Uuid::new_v4();
        let custody = self.custody_for(&key);
        key.current_material = Some(material_id);
        key.materials.push(Material {
            id: material_id,
            state: MaterialState::PendingGeneration,
            custody,
            created_at: now,
            rotation_type: None,
            import: None,
        });
        if custody == Custody::Wrapped {
            return self.create_wrapped(key, tags).await;
        }
        let pending = key.clone();
        self.blocking(move |store| store.insert_key(&pending, &tags, true, &[]))
            .await?;
        if let Err(e) = self.generate_material(&key, material_id, custody).await {
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

    /// Refuses a spec and usage AWS does not pair, an origin these keys cannot have yet,
    /// and a spec the token lacks a mechanism for.
    fn check_spec(&self, new: &NewKey) -> Result<(), KmsError> {
        let spec = new.spec.as_str();
        if !asym::usage_allowed(new.spec, new.usage) {
            return Err(KmsError::new(
                ErrorKind::Validation,
                format!(
                    "KeyUsage {} is not compatible with KeySpec {spec}",
                    new.usage.as_str()
                ),
            ));
        }
        let missing = match asym::material(new.spec) {
            asym::Material::Aes => return Ok(()),
            asym::Material::Pair(kind) => {
                let usage = asym::pair_use(new.usage);
                self.hsm.missing_for_pair(kind, usage)
            }
            asym::Material::Hmac(_, hash) => self.hsm.missing_for_hmac(hash),
        };
        if new.origin == Origin::External && !asym::importable(new.spec) {
            return Err(KmsError::new(
                ErrorKind::UnsupportedOperation,
                format!("Origin EXTERNAL is not supported for KeySpec {spec}."),
            ));
        }
        match missing {
            Some(mechanism) => Err(KmsError::new(
                ErrorKind::UnsupportedOperation,
                format!("KeySpec {spec} is not supported: the token lacks {mechanism}."),
            )),
            None => Ok(()),
        }
    }

    /// CreateKey in wrapped custody: the material is made and wrapped first, and leaves
    /// nothing in the token, so one durable write records the key, live, with its blob.
    async fn create_wrapped(
        &self,
        mut key: Key,
        tags: Vec<(String, String)>,
    ) -> Result<Arc<Key>, KmsError> {
        let material_id = key.materials[0].id;
        let blob = (self
            .hsm
            .generate_wrapped(material_id, key.id.to_string())
            .await)
            .map_err(|e| KmsError::from_hsm(e, &self.arn(&key)))?;
        key.materials[0].state = MaterialState::Enabled;
        let live = key.clone();
        self.blocking(move |store| store.insert_key(&live, &tags, false, &[(material_id, blob)]))
            .await?;
        tracing::info!(key_id = %key.id, %material_id, "created key (wrapped custody)");
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

/// AWS's default key policy: the account root may do everything.
pub fn default_policy(identity: &Identity) -> String {
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
