//! Key rings and crypto keys: create, get, list, patch, and the primary version.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::algorithms::{self, Algorithm};
use super::{
    invalid, not_found, precondition, valid_id, CryptoKey, KeyRing, Name, AWS_RING,
    DEFAULT_DESTROY_MS, MAX_DESTROY_MS, MIN_DESTROY_MS,
};
use crate::kms::model::{Key, Origin};
use crate::kms::{Caller, ErrorKind, Kms, KmsError, NewKey};

/// What CreateCryptoKey asks for, checked against the wire constraints.
#[derive(Debug, Clone)]
pub struct NewCryptoKey {
    /// The purpose.
    pub purpose: String,
    /// versionTemplate.algorithm, if given.
    pub algorithm: Option<String>,
    /// versionTemplate.protectionLevel, if given.
    pub protection_level: Option<String>,
    /// destroyScheduledDuration in milliseconds, if given.
    pub destroy_scheduled_ms: Option<i64>,
    /// importOnly.
    pub import_only: bool,
    /// skipInitialVersionCreation.
    pub skip_initial_version: bool,
    /// labels.
    pub labels: BTreeMap<String, String>,
}

/// A crypto key as the API shows it.
#[derive(Debug, Clone)]
pub struct View {
    /// The Cloud KMS attributes.
    pub crypto: CryptoKey,
    /// The key behind it.
    pub key: Arc<Key>,
    /// The primary version's number (ENCRYPT_DECRYPT keys only).
    pub primary: Option<u32>,
}

/// Only admin principals act through this API (no per-resource IAM bindings yet).
pub(super) fn admitted(caller: &Caller) -> Result<(), KmsError> {
    match caller.admin {
        true => Ok(()),
        false => Err(KmsError::new(
            ErrorKind::AccessDenied,
            format!(
                "Permission denied for {} on this resource.",
                caller.principal
            ),
        )),
    }
}

/// The version number of material `id` of `key`: its place in creation order, from 1.
pub(super) fn version_number(key: &Key, id: uuid::Uuid) -> Option<u32> {
    let index = key.materials.iter().position(|m| m.id == id)?;
    u32::try_from(index + 1).ok()
}

fn parsed(name: &str) -> Result<Name, KmsError> {
    Name::parse(name).ok_or_else(|| invalid(format!("Invalid resource name: {name}.")))
}

impl Kms {
    /// CreateKeyRing.
    pub async fn create_key_ring(
        &self,
        caller: &Caller,
        parent: &str,
        id: &str,
    ) -> Result<KeyRing, KmsError> {
        admitted(caller)?;
        let location = parsed(parent)?;
        if location.ring.is_some() {
            return Err(invalid("parent must be a location."));
        }
        if !valid_id(id) {
            return Err(invalid("keyRingId must match [a-zA-Z0-9_-]{1,63}."));
        }
        let name = format!("{}/keyRings/{id}", location.location);
        let _writing = self.writes.lock().await;
        if id == AWS_RING || self.cloud_index().rings.contains_key(&name) {
            return Err(KmsError::new(
                ErrorKind::AlreadyExists,
                format!("KeyRing {name} already exists."),
            ));
        }
        let ring = KeyRing {
            name,
            created_at: self.clock.now(),
        };
        let saved = ring.clone();
        self.blocking(move |s| s.insert_key_ring(&saved)).await?;
        self.cloud_index_mut()
            .rings
            .insert(ring.name.clone(), ring.clone());
        Ok(ring)
    }

    /// GetKeyRing.
    pub fn get_key_ring(&self, caller: &Caller, name: &str) -> Result<KeyRing, KmsError> {
        admitted(caller)?;
        let parsed = parsed(name)?;
        let full = parsed.ring_name().filter(|_| parsed.key.is_none());
        let full = full.ok_or_else(|| invalid("Not a key ring name."))?;
        if full == self.aws_ring(&parsed.location) {
            return Ok(KeyRing {
                name: full,
                created_at: 0,
            });
        }
        let found = self.cloud_index().rings.get(&full).cloned();
        found.ok_or_else(|| not_found(&full))
    }

    /// ListKeyRings: the location's key rings in name order, after `after` (a page token).
    pub fn list_key_rings(
        &self,
        caller: &Caller,
        parent: &str,
        after: Option<&str>,
    ) -> Result<Vec<KeyRing>, KmsError> {
        admitted(caller)?;
        let location = parsed(parent)?.location;
        let prefix = format!("{location}/keyRings/");
        let mut rings: Vec<KeyRing> = self
            .cloud_index()
            .rings
            .values()
            .filter(|r| r.name.starts_with(&prefix))
            .cloned()
            .collect();
        let aws = self.aws_ring(&location);
        if !aws.is_empty() {
            rings.push(KeyRing {
                name: aws,
                created_at: 0,
            });
            rings.sort_by(|a, b| a.name.cmp(&b.name));
        }
        Ok(rings
            .into_iter()
            .filter(|r| after.is_none_or(|a| r.name.as_str() > a))
            .collect())
    }

    /// CreateCryptoKey: one of our keys, with its first version unless skipped.
    pub async fn create_crypto_key(
        &self,
        caller: &Caller,
        parent: &str,
        id: &str,
        new: NewCryptoKey,
    ) -> Result<View, KmsError> {
        let ring = self.get_key_ring(caller, parent)?;
        if !valid_id(id) {
            return Err(invalid("cryptoKeyId must match [a-zA-Z0-9_-]{1,63}."));
        }
        if ring.name.ends_with(&format!("/keyRings/{AWS_RING}")) {
            return Err(precondition(
                "Keys of the aws key ring are made through the AWS KMS API.",
            ));
        }
        let algorithm = checked_algorithm(&new)?;
        let destroy_ms = checked_destroy(&new)?;
        let name = format!("{}/cryptoKeys/{id}", ring.name);
        let _creating = self.cloud_creates.lock().await;
        if self.cloud_index().keys.contains_key(&name) {
            return Err(KmsError::new(
                ErrorKind::AlreadyExists,
                format!("CryptoKey {name} already exists."),
            ));
        }
        let origin =
            match (new.import_only, new.skip_initial_version) {
                (true, true) => Origin::External,
                (false, false) => Origin::AwsKms,
                (true, false) => return Err(invalid(
                    "importOnly keys need skipInitialVersionCreation: their versions are imported.",
                )),
                (false, true) => {
                    return Err(invalid(
                        "skipInitialVersionCreation is served for importOnly keys only.",
                    ))
                }
            };
        let key = self
            .create_key(NewKey {
                description: format!("Cloud KMS {name}"),
                usage: algorithm.usage,
                spec: algorithm.spec,
                origin,
                policy: None,
                tags: Vec::new(),
            })
            .await?;
        let crypto = CryptoKey {
            name: name.clone(),
            ring: ring.name,
            key_id: key.id,
            purpose: new.purpose,
            algorithm: algorithm.name.to_owned(),
            destroy_scheduled_ms: destroy_ms,
            import_only: new.import_only,
            labels: new.labels,
        };
        self.save_crypto_key(crypto).await?;
        self.get_crypto_key(caller, &name)
    }

    async fn save_crypto_key(&self, crypto: CryptoKey) -> Result<(), KmsError> {
        let saved = crypto.clone();
        self.blocking(move |s| s.save_crypto_key(&saved)).await?;
        let mut index = self.cloud_index_mut();
        index.by_key.insert(crypto.key_id, crypto.name.clone());
        index.keys.insert(crypto.name.clone(), crypto);
        Ok(())
    }

    /// GetCryptoKey.
    pub fn get_crypto_key(&self, caller: &Caller, name: &str) -> Result<View, KmsError> {
        admitted(caller)?;
        let parsed = parsed(name)?;
        if parsed.version.is_some() {
            return Err(invalid("Not a crypto key name."));
        }
        let (key, crypto) = self.crypto_key(&parsed)?;
        Ok(view(key, crypto))
    }

    /// ListCryptoKeys: the ring's keys in name order, after `after` (a page token).
    pub fn list_crypto_keys(
        &self,
        caller: &Caller,
        parent: &str,
        after: Option<&str>,
    ) -> Result<Vec<View>, KmsError> {
        let ring = self.get_key_ring(caller, parent)?;
        let prefix = format!("{}/cryptoKeys/", ring.name);
        let names: Vec<String> = match ring.name.ends_with(&format!("/keyRings/{AWS_RING}")) {
            true => {
                let index = self.cloud_index();
                let keys = self
                    .keys
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let mut names: Vec<String> = keys
                    .keys()
                    .filter(|id| !index.by_key.contains_key(id))
                    .map(|id| format!("{prefix}{id}"))
                    .collect();
                names.sort();
                names
            }
            false => {
                let index = self.cloud_index();
                let names = index.keys.keys().filter(|n| n.starts_with(&prefix));
                names.cloned().collect()
            }
        };
        let mut views = Vec::new();
        for name in names
            .iter()
            .filter(|n| after.is_none_or(|a| n.as_str() > a))
        {
            let parsed = parsed(name)?;
            if let Ok((key, crypto)) = self.crypto_key(&parsed) {
                views.push(view(key, crypto));
            }
        }
        Ok(views)
    }

    /// UpdateCryptoKey: the fields of `mask` from `labels` (the only mutable field served).
    pub async fn patch_crypto_key(
        &self,
        caller: &Caller,
        name: &str,
        mask: &[String],
        labels: BTreeMap<String, String>,
    ) -> Result<View, KmsError> {
        let current = self.get_crypto_key(caller, name)?;
        if let Some(field) = mask.iter().find(|f| f.as_str() != "labels") {
            return Err(invalid(format!(
                "updateMask field {field} cannot be updated here; only labels."
            )));
        }
        if current
            .crypto
            .ring
            .ends_with(&format!("/keyRings/{AWS_RING}"))
        {
            return Err(precondition(
                "Keys of the aws key ring have no labels; tag them through the AWS KMS API.",
            ));
        }
        let mut crypto = current.crypto;
        if !mask.is_empty() {
            crypto.labels = labels;
        }
        self.save_crypto_key(crypto).await?;
        self.get_crypto_key(caller, name)
    }

    /// UpdateCryptoKeyPrimaryVersion: version `number` becomes the one Encrypt uses.
    pub async fn update_primary_version(
        &self,
        caller: &Caller,
        name: &str,
        number: u32,
    ) -> Result<View, KmsError> {
        let current = self.get_crypto_key(caller, name)?;
        if current.crypto.purpose != "ENCRYPT_DECRYPT" {
            return Err(precondition(format!(
                "{name} has purpose {}; only ENCRYPT_DECRYPT keys have a primary version.",
                current.crypto.purpose
            )));
        }
        let writing = self.writes.lock().await;
        let key = self.key(current.key.id).ok_or_else(|| not_found(name))?;
        let index = usize::try_from(number).unwrap_or(0).wrapping_sub(1);
        let Some(material) = key.materials.get(index) else {
            return Err(not_found(&format!("{name}/cryptoKeyVersions/{number}")));
        };
        let mut next = Key::clone(&key);
        next.current_material = Some(material.id);
        self.save(next).await?;
        drop(writing);
        self.get_crypto_key(caller, name)
    }
}

fn view(key: Arc<Key>, crypto: CryptoKey) -> View {
    let primary = match crypto.purpose.as_str() {
        "ENCRYPT_DECRYPT" => key.current_material.and_then(|m| version_number(&key, m)),
        _ => None,
    };
    View {
        crypto,
        key,
        primary,
    }
}

fn checked_algorithm(new: &NewCryptoKey) -> Result<Algorithm, KmsError> {
    if let Some(level) = &new.protection_level {
        if level != "HSM" {
            return Err(invalid(format!(
                "protectionLevel {level} is not served: every key is in the HSM (HSM)."
            )));
        }
    }
    let algorithm = match &new.algorithm {
        Some(name) => algorithms::by_name(name).ok_or_else(|| {
            invalid(format!(
                "versionTemplate.algorithm {name} is not supported."
            ))
        })?,
        None => algorithms::default_for(&new.purpose).ok_or_else(|| {
            invalid(format!(
                "versionTemplate.algorithm is required for purpose {}.",
                new.purpose
            ))
        })?,
    };
    if algorithm.purpose != new.purpose {
        return Err(invalid(format!(
            "Algorithm {} is not compatible with purpose {}.",
            algorithm.name, new.purpose
        )));
    }
    Ok(algorithm)
}

fn checked_destroy(new: &NewCryptoKey) -> Result<i64, KmsError> {
    let ms = new.destroy_scheduled_ms.unwrap_or(DEFAULT_DESTROY_MS);
    let min = if new.import_only { 0 } else { MIN_DESTROY_MS };
    match (min..=MAX_DESTROY_MS).contains(&ms) {
        true => Ok(ms),
        false => Err(invalid(
            "destroyScheduledDuration must be between 24 hours (0 for importOnly keys) and 120 days.",
        )),
    }
}
