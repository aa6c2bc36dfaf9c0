//! The Google Cloud KMS model over the same keys: key rings, crypto keys (each one of our
//! keys), and crypto key versions (each one of its material versions, numbered from 1 in
//! creation order). The version states are the materials' own; the AWS key state of the
//! same key still applies on top (a key disabled through the AWS API refuses use here
//! too). Keys made through the AWS API appear in the key ring `aws` of the account's
//! project and the region's location, named by their key id.

mod algorithms;
mod crypto;
mod resources;
pub mod rules;
mod versions;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError};

use uuid::Uuid;

pub use algorithms::Algorithm;
pub use crypto::{Decrypted as CloudDecrypted, Encrypted as CloudEncrypted};
pub use resources::{NewCryptoKey, View as CryptoKeyView};
pub use versions::VersionView;

use super::model::Key;
use super::{ErrorKind, Kms, KmsError, Millis};

/// The key ring holding the keys made through the AWS API.
pub const AWS_RING: &str = "aws";
/// Default and bounds of `destroyScheduledDuration`, in milliseconds.
pub const DEFAULT_DESTROY_MS: i64 = 30 * DAY_MS;
const MIN_DESTROY_MS: i64 = DAY_MS;
const MAX_DESTROY_MS: i64 = 120 * DAY_MS;
const DAY_MS: i64 = 86_400_000;

/// A key ring: a name and when it was made (it has no other state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRing {
    /// `projects/P/locations/L/keyRings/R`.
    pub name: String,
    /// Creation time.
    pub created_at: Millis,
}

/// The Cloud KMS attributes of one of our keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoKey {
    /// `<key ring>/cryptoKeys/K`.
    pub name: String,
    /// The key ring's name.
    pub ring: String,
    /// Our key.
    pub key_id: Uuid,
    /// ENCRYPT_DECRYPT, ASYMMETRIC_SIGN, ASYMMETRIC_DECRYPT or MAC.
    pub purpose: String,
    /// The version template's algorithm.
    pub algorithm: String,
    /// How long a version stays DESTROY_SCHEDULED.
    pub destroy_scheduled_ms: i64,
    /// Whether versions may only be imported.
    pub import_only: bool,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// The Cloud KMS names in memory, loaded at start-up and updated after each durable write.
#[derive(Debug, Default)]
pub struct Index {
    rings: BTreeMap<String, KeyRing>,
    keys: BTreeMap<String, CryptoKey>,
    by_key: HashMap<Uuid, String>,
    destroy_at: HashMap<Uuid, Millis>,
}

/// A parsed resource name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// `projects/P/locations/L`.
    pub location: String,
    /// The key ring id, the crypto key id and the version number, as far as given.
    pub ring: Option<String>,
    pub key: Option<String>,
    pub version: Option<u32>,
}

impl Name {
    /// Parses `projects/P/locations/L[/keyRings/R[/cryptoKeys/K[/cryptoKeyVersions/N]]]`.
    pub fn parse(text: &str) -> Option<Name> {
        let parts: Vec<&str> = text.split('/').collect();
        let (fixed, ids) = (
            [
                "projects",
                "",
                "locations",
                "",
                "keyRings",
                "",
                "cryptoKeys",
                "",
                "cryptoKeyVersions",
            ],
            &parts,
        );
        if parts.len() < 4 || !parts.len().is_multiple_of(2) || parts.len() > 10 {
            return None;
        }
        for (i, part) in ids.iter().enumerate() {
            let ok = match i % 2 {
                0 => fixed[i] == *part,
                _ => valid_id(part),
            };
            if !ok {
                return None;
            }
        }
        let version = match parts.get(9) {
            Some(n) => Some(n.parse().ok().filter(|n| *n > 0)?),
            None => None,
        };
        Some(Name {
            location: parts[..4].join("/"),
            ring: parts.get(5).map(|s| (*s).to_owned()),
            key: parts.get(7).map(|s| (*s).to_owned()),
            version,
        })
    }

    /// The key ring's full name.
    pub fn ring_name(&self) -> Option<String> {
        Some(format!(
            "{}/keyRings/{}",
            self.location,
            self.ring.as_ref()?
        ))
    }

    /// The crypto key's full name.
    pub fn key_name(&self) -> Option<String> {
        Some(format!(
            "{}/cryptoKeys/{}",
            self.ring_name()?,
            self.key.as_ref()?
        ))
    }
}

/// Resource ids: letters, digits, `_` and `-`, 1 to 63 characters.
pub fn valid_id(id: &str) -> bool {
    (1..=63).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub(crate) fn invalid(message: impl Into<String>) -> KmsError {
    KmsError::new(ErrorKind::Validation, message)
}

pub(crate) fn not_found(what: &str) -> KmsError {
    KmsError::new(ErrorKind::NotFound, format!("{what} not found."))
}

fn precondition(message: impl Into<String>) -> KmsError {
    KmsError::new(ErrorKind::InvalidState, message)
}

impl Kms {
    /// Loads the Cloud KMS names from the sidecar (after the keys are loaded).
    pub(super) async fn load_cloud(&self) -> Result<(), KmsError> {
        let rings = self.blocking(|s| s.key_rings()).await?;
        let keys = self.blocking(|s| s.crypto_keys()).await?;
        let schedule = self.blocking(|s| s.destroy_schedule()).await?;
        let mut index = self.cloud_index_mut();
        for ring in rings {
            index.rings.insert(ring.name.clone(), ring);
        }
        for key in keys {
            index.by_key.insert(key.key_id, key.name.clone());
            index.keys.insert(key.name.clone(), key);
        }
        index.destroy_at.extend(schedule);
        Ok(())
    }

    fn cloud_index(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.cloud.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn cloud_index_mut(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.cloud.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key a crypto key name means, with its Cloud KMS attributes: a key of the `aws`
    /// ring is any key by id, with attributes derived from its spec.
    fn crypto_key(&self, name: &Name) -> Result<(Arc<Key>, CryptoKey), KmsError> {
        let full = name
            .key_name()
            .ok_or_else(|| invalid("Not a crypto key name."))?;
        let aws_ring = self.aws_ring(&name.location);
        if name.ring_name().as_deref() == Some(aws_ring.as_str()) {
            let id = name.key.as_deref().and_then(|k| Uuid::parse_str(k).ok());
            let key = id
                .and_then(|id| self.key(id))
                .ok_or_else(|| not_found(&full))?;
            if let Some(cloud) = self.cloud_index().by_key.get(&key.id) {
                // Made through this API: it lives under its own name only.
                let _ = cloud;
                return Err(not_found(&full));
            }
            let derived = algorithms::derived(&key, &full, &aws_ring);
            return Ok((key, derived));
        }
        let cloud = self
            .cloud_index()
            .keys
            .get(&full)
            .cloned()
            .ok_or_else(|| not_found(&full))?;
        let key = self.key(cloud.key_id).ok_or_else(|| not_found(&full))?;
        Ok((key, cloud))
    }

    /// The full name of the `aws` key ring in `location`, which must be the account's
    /// project and the region's location to hold anything.
    fn aws_ring(&self, location: &str) -> String {
        let own = format!(
            "projects/{}/locations/{}",
            self.identity.account, self.identity.region
        );
        match location == own {
            true => format!("{own}/keyRings/{AWS_RING}"),
            false => String::new(),
        }
    }
}
