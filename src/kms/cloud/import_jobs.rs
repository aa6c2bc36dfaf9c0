//! Import jobs (seed 000): PENDING_GENERATION while the wrapping key pair is generated in
//! the token, ACTIVE for three days and many imports, then EXPIRED with the wrapping key
//! destroyed. ImportCryptoKeyVersion unwraps in the token into a new version of an
//! importOnly key; material the token cannot unwrap becomes an IMPORT_FAILED version.

use uuid::Uuid;

use super::resources::admitted;
use super::versions::VersionView;
use super::{invalid, not_found, precondition, valid_id, Name, VersionNote, DAY_MS};
use crate::kms::asym;
use crate::kms::changes::Change;
use crate::kms::model::{
    Custody, ImportJobState, Imported, Key, Material, MaterialState, UnwrappedBy, WrappingAlgorithm,
};
use crate::kms::rules::KeyState;
use crate::kms::startup::pending_material;
use crate::kms::{Caller, ErrorKind, Kms, KmsError, Millis};

/// How long an import job stays ACTIVE, as in Cloud KMS.
const JOB_LIFETIME_MS: Millis = 3 * DAY_MS;

/// An import job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudImportJob {
    /// `<key ring>/importJobs/J`.
    pub name: String,
    /// The wrapping key pair's CKA_ID.
    pub id: Uuid,
    /// The ImportMethod name.
    pub method: String,
    /// PENDING_GENERATION, ACTIVE or EXPIRED.
    pub state: ImportJobState,
    /// The wrapping key's DER SubjectPublicKeyInfo, once generated.
    pub public_key: Option<Vec<u8>>,
    /// Creation time.
    pub created_at: Millis,
    /// When it expires.
    pub expires_at: Millis,
}

/// What ImportCryptoKeyVersion asks for.
pub struct VersionImport<'a> {
    /// The import job's name.
    pub import_job: &'a str,
    /// The algorithm named in the request; it must be the key's.
    pub algorithm: &'a str,
    /// The wrapped key (RSA-OAEP of an AES key, then AES-KWP of the key, for the
    /// `_AES_256` methods).
    pub wrapped: Vec<u8>,
}

/// The RSA size and our wrapping algorithm of an ImportMethod.
fn method(name: &str) -> Option<(u64, WrappingAlgorithm)> {
    use WrappingAlgorithm as W;
    Some(match name {
        "RSA_OAEP_3072_SHA1_AES_256" => (3072, W::RsaAesKeyWrapSha1),
        "RSA_OAEP_4096_SHA1_AES_256" => (4096, W::RsaAesKeyWrapSha1),
        "RSA_OAEP_3072_SHA256_AES_256" => (3072, W::RsaAesKeyWrapSha256),
        "RSA_OAEP_4096_SHA256_AES_256" => (4096, W::RsaAesKeyWrapSha256),
        "RSA_OAEP_3072_SHA256" => (3072, W::RsaesOaepSha256),
        "RSA_OAEP_4096_SHA256" => (4096, W::RsaesOaepSha256),
        _ => return None,
    })
}

impl Kms {
    /// CreateImportJob: the wrapping key pair is generated in the token before it answers.
    pub async fn create_import_job(
        &self,
        caller: &Caller,
        parent: &str,
        id: &str,
        import_method: &str,
    ) -> Result<CloudImportJob, KmsError> {
        let ring = self.get_key_ring(caller, parent)?;
        if !valid_id(id) {
            return Err(invalid("importJobId must match [a-zA-Z0-9_-]{1,63}."));
        }
        let (bits, algorithm) = method(import_method)
            .ok_or_else(|| invalid(format!("import_method {import_method} is not supported.")))?;
        let wrapping = self
            .wrapping(algorithm)
            .map_err(|e| precondition(e.message))?;
        let _slot = self.generation_slot()?;
        let now = self.clock.now();
        let mut job = CloudImportJob {
            name: format!("{}/importJobs/{id}", ring.name),
            id: Uuid::new_v4(),
            method: import_method.to_owned(),
            state: ImportJobState::PendingGeneration,
            public_key: None,
            created_at: now,
            expires_at: now.saturating_add(JOB_LIFETIME_MS),
        };
        {
            let _creating = self.cloud_creates.lock().await;
            if self.cloud_index().jobs.contains_key(&job.name) {
                return Err(KmsError::new(
                    ErrorKind::AlreadyExists,
                    format!("ImportJob {} already exists.", job.name),
                ));
            }
            self.save_import_job(&job).await?;
        }
        let generated = self
            .hsm
            .generate_wrapping_key(job.id, job.name.clone(), bits, wrapping.host_decoding)
            .await;
        match generated {
            Ok(key) => {
                job.public_key = Some(key.public_key);
                job.state = ImportJobState::Active;
                self.save_import_job(&job).await?;
                tracing::info!(import_job = %job.name, method = import_method, "import job active");
                Ok(job)
            }
            Err(e) => {
                job.state = ImportJobState::Expired;
                self.save_import_job(&job).await?;
                Err(KmsError::from_hsm(e, &job.name))
            }
        }
    }

    async fn save_import_job(&self, job: &CloudImportJob) -> Result<(), KmsError> {
        let saved = job.clone();
        self.blocking(move |s| s.save_cloud_import_job(&saved))
            .await?;
        self.cloud_index_mut()
            .jobs
            .insert(job.name.clone(), job.clone());
        Ok(())
    }

    /// GetImportJob.
    pub fn get_import_job(&self, caller: &Caller, name: &str) -> Result<CloudImportJob, KmsError> {
        admitted(caller)?;
        if !is_job_name(name) {
            return Err(invalid(format!("Invalid import job name: {name}.")));
        }
        let found = self.cloud_index().jobs.get(name).cloned();
        found.ok_or_else(|| not_found(name))
    }

    /// ListImportJobs of a key ring, in name order.
    pub fn list_import_jobs(
        &self,
        caller: &Caller,
        parent: &str,
    ) -> Result<Vec<CloudImportJob>, KmsError> {
        let ring = self.get_key_ring(caller, parent)?;
        let prefix = format!("{}/importJobs/", ring.name);
        let index = self.cloud_index();
        let jobs = index.jobs.values().filter(|j| j.name.starts_with(&prefix));
        Ok(jobs.cloned().collect())
    }

    /// ImportCryptoKeyVersion: a new version of the importOnly key `parent`, unwrapped in
    /// the token under the job's wrapping key.
    pub async fn import_version(
        &self,
        caller: &Caller,
        parent: &str,
        import: VersionImport<'_>,
    ) -> Result<VersionView, KmsError> {
        let view = self.get_crypto_key(caller, parent)?;
        if !view.crypto.import_only {
            return Err(precondition(format!(
                "{parent} is not importOnly: its versions are generated in the token."
            )));
        }
        if import.algorithm != view.crypto.algorithm {
            return Err(invalid(format!(
                "algorithm {} does not match the crypto key's {}.",
                import.algorithm, view.crypto.algorithm
            )));
        }
        let job = self.get_import_job(caller, import.import_job)?;
        if job.state != ImportJobState::Active || job.expires_at <= self.clock.now() {
            return Err(precondition(format!(
                "ImportJob {} is not active, current state is: {}.",
                job.name,
                job.state.as_str()
            )));
        }
        let (_, algorithm) =
            method(&job.method).ok_or_else(|| invalid("Unknown import method."))?;
        let wrapping = self
            .wrapping(algorithm)
            .map_err(|e| precondition(e.message))?;
        let _writing = self.writes.lock().await;
        let key = self.key(view.key.id).ok_or_else(|| not_found(parent))?;
        let material_id = Uuid::new_v4();
        self.record_pending_material(&key, pending_material(material_id, None, self.clock.now()))
            .await?;
        let unwrapped = self
            .hsm
            .unwrap_material(
                (job.id, wrapping),
                import.wrapped,
                (material_id, key.id.to_string()),
                asym::imported_key(key.spec, key.usage),
            )
            .await;
        let mut note = VersionNote {
            import_job: Some(job.name.clone()),
            failure_reason: None,
        };
        let material = match unwrapped {
            Ok(kcv) => {
                let unwrapped_by = match wrapping.host_decoding {
                    true => UnwrappedBy::Host,
                    false => UnwrappedBy::Token,
                };
                imported_material(material_id, self.clock.now(), kcv.to_vec(), unwrapped_by)
            }
            Err(e) => {
                let reason = format!(
                    "The wrapped key could not be unwrapped with {}: {e}.",
                    job.name
                );
                note.failure_reason = Some(reason);
                Material {
                    state: MaterialState::ImportFailed,
                    ..pending_material(material_id, None, self.clock.now())
                }
            }
        };
        let mut next = Key::clone(&key);
        next.materials.push(material.clone());
        if material.state == MaterialState::Enabled {
            next.current_material.get_or_insert(material_id);
            if next.state == KeyState::PendingImport {
                next.state = KeyState::Enabled;
            }
        }
        let saved = self.save(next).await?;
        let kept = note.clone();
        self.blocking(move |s| s.save_version_note(material_id, &kept))
            .await?;
        self.cloud_index_mut().notes.insert(material_id, note);
        tracing::info!(key_id = %key.id, %material_id, state = ?material.state, "crypto key version imported");
        Ok(self.version_view(&saved, &view.crypto, &material))
    }

    /// Expires ACTIVE import jobs whose time came and destroys their wrapping keys.
    pub(in crate::kms) async fn expire_due_import_jobs(&self, now: Millis) {
        let due: Vec<CloudImportJob> = {
            let index = self.cloud_index();
            let jobs = index.jobs.values();
            let due = jobs.filter(|j| j.state != ImportJobState::Expired && j.expires_at <= now);
            due.cloned().collect()
        };
        for mut job in due {
            if let Err(e) = self.hsm.destroy_wrapping_key(job.id).await {
                tracing::error!(import_job = %job.name, error = %e, "cannot destroy an import job's wrapping key; will retry");
                continue;
            }
            let from = job.state.as_str();
            job.state = ImportJobState::Expired;
            if let Err(e) = self.save_import_job(&job).await {
                tracing::error!(import_job = %job.name, error = %e, "cannot expire an import job; will retry");
                continue;
            }
            tracing::info!(import_job = %job.name, "import job expired; wrapping key destroyed");
            self.record_change(Change {
                what: "ImportJobExpired",
                key_id: Uuid::nil(),
                subject: Some(job.id),
                from,
                to: ImportJobState::Expired.as_str(),
                trigger: "scheduler: the import job's expire time passed",
            })
            .await;
        }
    }
}

fn imported_material(id: Uuid, now: Millis, kcv: Vec<u8>, unwrapped_by: UnwrappedBy) -> Material {
    Material {
        id,
        state: MaterialState::Enabled,
        custody: Custody::TokenObject,
        created_at: now,
        rotation_type: None,
        import: Some(Imported {
            key_check_value: kcv,
            unwrapped_by,
            valid_to: None,
            description: None,
        }),
    }
}

/// Whether `name` is an import job's name.
fn is_job_name(name: &str) -> bool {
    name.rsplit_once("/importJobs/").is_some_and(|(ring, id)| {
        valid_id(id) && Name::parse(ring).is_some_and(|n| n.ring.is_some() && n.key.is_none())
    })
}
