//! Bring your own key: GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial,
//! and the expiry of import parameters and of imported material.

use std::sync::{Arc, PoisonError};

use uuid::Uuid;

use super::asym;
use super::changes::Change;
use super::clock::days;
use super::import_token::ImportToken;
use super::model::{
    Custody, ImportJob, ImportJobState, Imported, Key, KeySpec, Material, MaterialState, Origin,
    UnwrappedBy, WrappingAlgorithm, WrappingKeySpec,
};
use super::rules::{KeyState, Op, Verdict};
use super::startup::pending_material;
use super::{ErrorKind, Kms, KmsError, Millis};
use crate::hsm::{OaepHash, OaepPath, Wrapping};

/// How long import parameters stay valid, as in AWS KMS.
const PARAMETERS_VALID_MS: Millis = 24 * 3_600_000;
/// The furthest ahead imported material may expire.
const MAX_VALID_DAYS: i64 = 365;

/// What GetParametersForImport hands out.
pub struct ImportParameters {
    /// The key the parameters are for.
    pub key: Arc<Key>,
    /// DER SubjectPublicKeyInfo of the wrapping key.
    pub public_key: Vec<u8>,
    /// The opaque, authenticated import token.
    pub import_token: Vec<u8>,
    /// When the parameters expire.
    pub valid_to: Millis,
}

/// ImportType of ImportKeyMaterial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportType {
    /// Material never imported into this key before.
    New,
    /// Material this key had before (after deletion or expiry, or to change its expiry).
    Existing,
}

/// What ImportKeyMaterial asks for, already checked against the wire constraints.
pub struct MaterialImport {
    /// The import token from GetParametersForImport.
    pub import_token: Vec<u8>,
    /// The material, wrapped as the token's algorithm says.
    pub encrypted_material: Vec<u8>,
    /// When the material expires; `None` for KEY_MATERIAL_DOES_NOT_EXPIRE.
    pub valid_to: Option<Millis>,
    /// ImportType, when given.
    pub import_type: Option<ImportType>,
    /// KeyMaterialId, when given.
    pub material_id: Option<Uuid>,
    /// KeyMaterialDescription, when given.
    pub description: Option<String>,
}

impl Kms {
    /// GetParametersForImport: a new RSA wrapping key pair in the token (seconds for
    /// RSA-4096, on a blocking thread), superseding the key's earlier parameters.
    pub async fn get_parameters_for_import(
        &self,
        key_id: &str,
        algorithm: WrappingAlgorithm,
        spec: WrappingKeySpec,
    ) -> Result<ImportParameters, KmsError> {
        let key = self.checked_by_id(key_id, Op::GetParametersForImport)?;
        let wrapping = self.wrapping(algorithm)?;
        if asym::is_rsa(&key) && !wrapping.two_step {
            return Err(KmsError::new(
                ErrorKind::Validation,
                format!(
                    "WrappingAlgorithm {} cannot wrap RSA private key material: use RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256.",
                    algorithm.as_str()
                ),
            ));
        }
        let _slot = self.generation_slot()?;
        let now = self.clock.now();
        let job = ImportJob {
            id: Uuid::new_v4(),
            key_id: key.id,
            state: ImportJobState::PendingGeneration,
            algorithm,
            spec,
            valid_to: now.saturating_add(PARAMETERS_VALID_MS),
            created_at: now,
        };
        let pending = job.clone();
        self.blocking(move |store| store.insert_import_job(&pending))
            .await?;
        let bits = match spec {
            WrappingKeySpec::Rsa2048 => 2048,
            WrappingKeySpec::Rsa3072 => 3072,
            WrappingKeySpec::Rsa4096 => 4096,
        };
        let generated = self
            .hsm
            .generate_wrapping_key(job.id, key.id.to_string(), bits, wrapping.host_decoding)
            .await;
        let wrapping_key = match generated {
            Ok(k) => k,
            Err(e) => {
                let _ = self.expire_import_job(job.id).await;
                return Err(KmsError::from_hsm(e, &self.arn(&key)));
            }
        };
        for older in self
            .blocking(move |s| s.unexpired_import_jobs_of(job.key_id))
            .await?
        {
            if older.id != job.id {
                let _ = self.expire_import_job(older.id).await;
            }
        }
        let public = wrapping_key.public_key.clone();
        self.blocking(move |s| {
            s.set_import_job_state(job.id, ImportJobState::Active, Some(&public))
        })
        .await?;
        let token = ImportToken::for_job(&job);
        let import_token = token.seal(&self.hsm).await.map_err(KmsError::internal)?;
        tracing::info!(key_id = %key.id, import_job = %job.id, algorithm = algorithm.as_str(), "import parameters issued");
        Ok(ImportParameters {
            key,
            public_key: wrapping_key.public_key,
            import_token,
            valid_to: job.valid_to,
        })
    }

    /// ImportKeyMaterial: unwraps in the token into a sensitive, non-extractable key.
    /// Returns the key and the material id. Every check runs under the write lock, so the
    /// key cannot change state between the check and the import.
    ///
    /// Crash safety: an object under a new id is recorded as a PENDING_GENERATION version
    /// before it exists in the token, and the object of re-imported material goes under its
    /// PENDING_IMPORT version; start-up destroys objects in either state, so no unverified
    /// or unacknowledged material survives a crash.
    pub async fn import_key_material(
        &self,
        key_id: &str,
        import: MaterialImport,
    ) -> Result<(Arc<Key>, Uuid), KmsError> {
        let _writing = self.writes.lock().await;
        let key = self.checked_by_id(key_id, Op::ImportKeyMaterial)?;
        let job = self.usable_job(&key, &import.import_token).await?;
        self.check_valid_to(import.valid_to)?;
        let wrapping = self.wrapping(job.algorithm)?;
        let target = self.import_target(&key, &import)?;
        // Unwrap under the material id when its object is gone, else under a scratch id
        // whose object only serves to compare check values.
        let live = target.existing.is_some() && self.hsm.is_known(target.id);
        let object_id = if live { Uuid::new_v4() } else { target.id };
        let fresh_id = live || target.existing.is_none();
        if fresh_id {
            self.record_pending_material(&key, pending_material(object_id, None, self.clock.now()))
                .await?;
        }
        let arn = self.arn(&key);
        let kind = asym::imported_key(key.spec, key.usage);
        let unwrapped = self
            .hsm
            .unwrap_material(
                (job.id, wrapping),
                import.encrypted_material,
                (object_id, key.id.to_string()),
                kind,
            )
            .await;
        let kcv = match unwrapped {
            Ok(kcv) => kcv,
            Err(e) => {
                if fresh_id {
                    self.forget_pending_material(object_id).await;
                }
                return Err(asym::import_error(e, &key, &arn));
            }
        };
        let same = target
            .existing
            .as_ref()
            .is_none_or(|m| m.import.as_ref().is_some_and(|i| i.key_check_value == kcv));
        if live || !same {
            self.hsm
                .destroy_key(object_id)
                .await
                .map_err(|e| KmsError::from_hsm(e, &arn))?;
        }
        if live {
            self.forget_pending_material(object_id).await;
        }
        if !same {
            return Err(KmsError::new(
                ErrorKind::IncorrectKeyMaterial,
                "The key material in the request is not the key material previously imported into this KMS key.",
            ));
        }
        let unwrapped_by = if wrapping.host_decoding {
            UnwrappedBy::Host
        } else {
            UnwrappedBy::Token
        };
        let imported = Imported {
            key_check_value: kcv.to_vec(),
            unwrapped_by,
            valid_to: import.valid_to,
            description: import.description,
        };
        let material_id = target.id;
        let saved = self
            .save(with_imported(&key, target, imported, self.clock.now()))
            .await?;
        match unwrapped_by {
            UnwrappedBy::Host => {
                tracing::warn!(key_id = %key.id, %material_id, host_unwrapped = true, "key material imported; OAEP was decoded in the daemon (fallback)")
            }
            UnwrappedBy::Token => {
                tracing::info!(key_id = %key.id, %material_id, host_unwrapped = false, "key material imported; unwrapped in the token")
            }
        }
        Ok((saved, material_id))
    }

    /// DeleteImportedKeyMaterial: destroys the material's token object; the key waits for
    /// the same material again (a key pending deletion keeps that state, as AWS does today).
    pub async fn delete_imported_key_material(
        &self,
        key_id: &str,
        material_id: Option<Uuid>,
    ) -> Result<(Arc<Key>, Option<Uuid>), KmsError> {
        let _writing = self.writes.lock().await;
        let key = self.resolve_by_id(key_id)?;
        let verdict = self.check(Op::DeleteImportedKeyMaterial, &key)?;
        let target = material_id.or(key.current_material);
        if verdict == Verdict::NoEffect {
            return Ok((key, target));
        }
        let Some(target) = target.filter(|id| key.material(*id).is_some()) else {
            return Err(KmsError::new(
                ErrorKind::NotFound,
                format!(
                    "Key material {} is not associated with {}.",
                    material_id.map(|m| m.to_string()).unwrap_or_default(),
                    self.arn(&key)
                ),
            ));
        };
        let saved = self.remove_material(&key, target).await?;
        tracing::info!(key_id = %key.id, material_id = %target, "imported key material deleted");
        Ok((saved, Some(target)))
    }

    /// Destroys expired imported material and expired import parameters.
    pub(super) async fn expire_due_imports(&self, now: Millis) {
        let due: Vec<(Uuid, Uuid)> = {
            let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
            keys.values()
                .flat_map(|k| k.materials.iter().map(move |m| (k.id, m)))
                .filter(|(_, m)| m.state == MaterialState::Enabled)
                .filter(|(_, m)| {
                    m.import
                        .as_ref()
                        .and_then(|i| i.valid_to)
                        .is_some_and(|t| t <= now)
                })
                .map(|(k, m)| (k, m.id))
                .collect()
        };
        for (key_id, material_id) in due {
            let _writing = self.writes.lock().await;
            let Some(key) = self.key(key_id) else {
                continue;
            };
            match self.remove_material(&key, material_id).await {
                Ok(saved) => {
                    tracing::info!(%key_id, %material_id, "imported key material expired and was destroyed");
                    self.record_change(Change {
                        what: "KeyMaterialExpired",
                        key_id,
                        subject: Some(material_id),
                        from: key.state.as_str(),
                        to: saved.state.as_str(),
                        trigger: "scheduler: the material's ValidTo passed",
                    })
                    .await
                }
                Err(e) => {
                    tracing::error!(%key_id, %material_id, error = %e, "cannot expire key material; will retry")
                }
            }
        }
        match self.blocking(move |s| s.import_jobs_due(now)).await {
            Ok(jobs) => {
                for job in jobs {
                    if self.expire_import_job(job.id).await {
                        self.record_change(Change {
                            what: "ImportParametersExpired",
                            key_id: job.key_id,
                            subject: Some(job.id),
                            from: job.state.as_str(),
                            to: ImportJobState::Expired.as_str(),
                            trigger: "scheduler: ParametersValidTo passed",
                        })
                        .await;
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read import jobs"),
        }
    }

    /// Destroys a material's token object and marks it PENDING_IMPORT; if it was current,
    /// the key goes to PendingImport (unless pending deletion). Call with the write lock.
    async fn remove_material(&self, key: &Key, material_id: Uuid) -> Result<Arc<Key>, KmsError> {
        self.hsm
            .destroy_key(material_id)
            .await
            .map_err(|e| KmsError::from_hsm(e, &self.arn(key)))?;
        let mut next = key.clone();
        for m in next.materials.iter_mut().filter(|m| m.id == material_id) {
            m.state = MaterialState::PendingImport;
        }
        if next.current_material == Some(material_id) && next.state != KeyState::PendingDeletion {
            next.state = KeyState::PendingImport;
        }
        self.save(next).await
    }

    /// An EXPIRED job never comes back; its wrapping key is destroyed. Failures are logged
    /// and retried by the scheduler. Whether it worked.
    pub(in crate::kms) async fn expire_import_job(&self, id: Uuid) -> bool {
        let expired = self
            .blocking(move |s| s.set_import_job_state(id, ImportJobState::Expired, None))
            .await;
        let destroyed = self.hsm.destroy_wrapping_key(id).await;
        match (expired, destroyed) {
            (Ok(()), Ok(())) => {
                tracing::info!(import_job = %id, "import parameters expired; wrapping key destroyed");
                true
            }
            (e1, e2) => {
                tracing::error!(import_job = %id, sidecar = ?e1.err(), token = ?e2.err(), "cannot expire import parameters");
                false
            }
        }
    }

    /// The active job behind `token`, or the AWS error saying why it cannot be used.
    async fn usable_job(&self, key: &Key, token: &[u8]) -> Result<ImportJob, KmsError> {
        let invalid = || {
            KmsError::new(
                ErrorKind::InvalidImportToken,
                "The import token is invalid or is not associated with the specified KMS key.",
            )
        };
        let token = ImportToken::open(token, &self.hsm)
            .await?
            .ok_or_else(invalid)?;
        if token.key_id != key.id {
            return Err(invalid());
        }
        if token.valid_to <= self.clock.now() {
            return Err(KmsError::new(
                ErrorKind::ExpiredImportToken,
                "The import token has expired. Call GetParametersForImport for a new one.",
            ));
        }
        let id = token.job_id;
        let job = self
            .blocking(move |s| s.import_job(id))
            .await?
            .ok_or_else(invalid)?;
        if job.state != ImportJobState::Active {
            return Err(invalid());
        }
        Ok(job)
    }

    fn check_valid_to(&self, valid_to: Option<Millis>) -> Result<(), KmsError> {
        let Some(valid_to) = valid_to else {
            return Ok(());
        };
        let now = self.clock.now();
        if valid_to <= now || valid_to > now.saturating_add(days(MAX_VALID_DAYS)) {
            return Err(KmsError::new(
                ErrorKind::Validation,
                format!("ValidTo must be in the future and at most {MAX_VALID_DAYS} days ahead."),
            ));
        }
        Ok(())
    }

    /// Which material an import fills, per ImportType and KeyMaterialId.
    fn import_target(&self, key: &Key, import: &MaterialImport) -> Result<Target, KmsError> {
        let imported_before = key.materials.iter().any(|m| m.import.is_some());
        let kind = import.import_type.unwrap_or(if imported_before {
            ImportType::Existing
        } else {
            ImportType::New
        });
        match kind {
            ImportType::New => {
                if imported_before && key.spec != KeySpec::SymmetricDefault {
                    return Err(KmsError::new(
                        ErrorKind::UnsupportedOperation,
                        format!(
                            "{} key spec {} does not support new key material: import the same material again.",
                            self.arn(key),
                            key.spec.as_str()
                        ),
                    ));
                }
                if import.material_id.is_some() {
                    return Err(KmsError::new(
                        ErrorKind::Validation,
                        "KeyMaterialId cannot be specified with ImportType NEW_KEY_MATERIAL.",
                    ));
                }
                if let Some(pending) = key
                    .materials
                    .iter()
                    .find(|m| m.state == MaterialState::PendingRotation)
                {
                    return Err(KmsError::new(
                        ErrorKind::InvalidState,
                        format!("New key material cannot be imported into KMS key {}, because another key material (id: {}) is pending rotation.", key.id, pending.id),
                    ));
                }
                Ok(Target {
                    id: Uuid::new_v4(),
                    existing: None,
                })
            }
            ImportType::Existing => {
                let id = import.material_id.or(key.current_material);
                match id.and_then(|id| key.material(id)) {
                    Some(m) if m.import.is_some() => Ok(Target {
                        id: m.id,
                        existing: Some(m.clone()),
                    }),
                    _ => Err(KmsError::new(
                        ErrorKind::IncorrectKeyMaterial,
                        format!(
                            "{} has no such previously imported key material.",
                            self.arn(key)
                        ),
                    )),
                }
            }
        }
    }

    /// The unwrap path for `algorithm` on this token, or UnsupportedOperationException
    /// naming the missing mechanism.
    pub(in crate::kms) fn wrapping(
        &self,
        algorithm: WrappingAlgorithm,
    ) -> Result<Wrapping, KmsError> {
        let caps = self.hsm.capabilities();
        let (hash, two_step) = match algorithm {
            WrappingAlgorithm::RsaesOaepSha1 => (OaepHash::Sha1, false),
            WrappingAlgorithm::RsaesOaepSha256 => (OaepHash::Sha256, false),
            WrappingAlgorithm::RsaAesKeyWrapSha1 => (OaepHash::Sha1, true),
            WrappingAlgorithm::RsaAesKeyWrapSha256 => (OaepHash::Sha256, true),
        };
        let missing = |mechanism: &str| {
            Err(KmsError::new(
                ErrorKind::UnsupportedOperation,
                format!(
                    "{} is not available: the token lacks {mechanism}.",
                    algorithm.as_str()
                ),
            ))
        };
        if two_step && !caps.aes_key_wrap_pad {
            return missing("CKM_AES_KEY_WRAP_PAD (RFC 5649)");
        }
        let host_decoding = match self.hsm.oaep_path(hash) {
            Some(OaepPath::Token) => false,
            Some(OaepPath::HostPadding) => true,
            None => return missing(asym::missing_oaep_mechanism(hash)),
        };
        Ok(Wrapping {
            hash,
            two_step,
            host_decoding,
        })
    }
}

/// The material an import fills.
#[derive(Clone)]
struct Target {
    /// Its material id.
    id: Uuid,
    /// The recorded material, for a re-import; `None` for new material.
    existing: Option<Material>,
}

/// The key after `imported` material was unwrapped for `target`.
fn with_imported(key: &Key, target: Target, imported: Imported, now: Millis) -> Key {
    let mut next = key.clone();
    let first = next.current_material.is_none();
    let state = if first || target.existing.is_some() {
        MaterialState::Enabled
    } else {
        MaterialState::PendingRotation
    };
    match next.materials.iter_mut().find(|m| m.id == target.id) {
        Some(m) => {
            m.state = MaterialState::Enabled;
            m.import = Some(imported);
        }
        None => next.materials.push(Material {
            id: target.id,
            state,
            custody: Custody::TokenObject,
            created_at: now,
            rotation_type: None,
            import: Some(imported),
        }),
    }
    if first {
        next.current_material = Some(target.id);
    }
    let current_ok = next
        .current_material
        .and_then(|id| next.material(id))
        .is_some_and(|m| m.state == MaterialState::Enabled);
    if next.state == KeyState::PendingImport && current_ok && next.origin == Origin::External {
        next.state = KeyState::Enabled;
    }
    next
}
