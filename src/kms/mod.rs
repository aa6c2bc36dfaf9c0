//! The domain: keys and their material versions, the key-state rules, and one function per
//! operation that orchestrates the sidecar and the token.

pub mod ciphertext;
mod create_key;
mod crypto;
pub mod error;
pub mod keyref;
mod list_keys;
pub mod model;
pub mod paging;
pub mod rules;
mod startup;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use uuid::Uuid;
use zeroize::Zeroizing;

use crate::hsm::Hsm;
use crate::store::Store;

pub use create_key::NewKey;
pub use crypto::{DataKey, Decrypted, Encrypted, ReEncryptSide, ReEncrypted};
pub use error::{ErrorKind, KmsError};
pub use keyref::{Identity, KeyRef};
pub use model::{Key, Millis};

/// Reads the time, so tests can move it.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now(&self) -> Millis;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    }
}

/// The key management service: the token, the sidecar and an in-memory view of the keys.
pub struct Kms {
    /// Where key material lives and works.
    hsm: Hsm,
    /// Where key metadata is durably recorded.
    store: Store,
    /// Region and account for ARNs.
    identity: Identity,
    /// Time source for creation dates and, later, schedules.
    clock: Arc<dyn Clock>,
    /// Acknowledged keys by id, ordered for ListKeys. Metadata only, never material; this
    /// daemon is the sidecar's only writer (the database is opened exclusively), so the
    /// copy is updated after each durable write and never goes stale.
    keys: RwLock<BTreeMap<Uuid, Arc<Key>>>,
    /// Alias name to key id.
    aliases: RwLock<HashMap<String, Uuid>>,
}

impl Kms {
    /// The service over an opened token and sidecar. Reconciles the two first.
    pub async fn start(
        hsm: Hsm,
        store: Store,
        identity: Identity,
        clock: Arc<dyn Clock>,
    ) -> Result<Kms, KmsError> {
        let kms = Kms {
            hsm,
            store,
            identity,
            clock,
            keys: RwLock::new(BTreeMap::new()),
            aliases: RwLock::new(HashMap::new()),
        };
        kms.reconcile().await?;
        Ok(kms)
    }

    /// Region and account for ARNs.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The ARN of `key`.
    pub fn arn(&self, key: &Key) -> String {
        self.identity.key_arn(key.id)
    }

    /// DescribeKey.
    pub fn describe_key(&self, key_id: &str) -> Result<Arc<Key>, KmsError> {
        let key = self.resolve(key_id)?;
        self.check(rules::Op::DescribeKey, &key)?;
        Ok(key)
    }

    /// Tags of a key, sorted by tag key.
    pub async fn tags(&self, key: &Key) -> Result<Vec<(String, String)>, KmsError> {
        let id = key.id;
        self.blocking(move |store| store.tags(id)).await
    }

    /// GenerateRandom: bytes from the token's RNG.
    pub async fn generate_random(&self, len: usize) -> Result<Zeroizing<Vec<u8>>, KmsError> {
        self.hsm
            .random(len)
            .await
            .map_err(|e| KmsError::from_hsm(e, "the token"))
    }

    /// The key a `KeyId` member names, or NotFoundException as AWS words it.
    fn resolve(&self, key_id: &str) -> Result<Arc<Key>, KmsError> {
        let id = match self.identity.parse_key_ref(key_id)? {
            KeyRef::Id(id) => id,
            KeyRef::Alias(name) => self.alias_target(&name)?,
        };
        self.key(id).ok_or_else(|| {
            KmsError::new(
                ErrorKind::NotFound,
                format!("Key '{}' does not exist", self.identity.key_arn(id)),
            )
        })
    }

    fn alias_target(&self, name: &str) -> Result<Uuid, KmsError> {
        let aliases = self.aliases.read().unwrap_or_else(PoisonError::into_inner);
        aliases.get(name).copied().ok_or_else(|| {
            KmsError::new(
                ErrorKind::NotFound,
                format!("Alias {} is not found.", self.identity.alias_arn(name)),
            )
        })
    }

    fn key(&self, id: Uuid) -> Option<Arc<Key>> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.get(&id).cloned()
    }

    fn remember(&self, key: Key) -> Arc<Key> {
        let key = Arc::new(key);
        let mut keys = self.keys.write().unwrap_or_else(PoisonError::into_inner);
        keys.insert(key.id, key.clone());
        key
    }

    /// Applies the key-state table to `op` on `key`.
    fn check(&self, op: rules::Op, key: &Key) -> Result<rules::Verdict, KmsError> {
        let facts = rules::KeyFacts {
            state: key.state,
            external: key.origin == model::Origin::External,
        };
        rules::check(op, facts, &self.arn(key)).map_err(|refusal| {
            let kind = match refusal.denial {
                rules::Denial::Disabled => ErrorKind::Disabled,
                rules::Denial::InvalidState => ErrorKind::InvalidState,
                rules::Denial::UnsupportedOperation => ErrorKind::UnsupportedOperation,
            };
            KmsError::new(kind, refusal.message)
        })
    }

    /// Runs a sidecar call on a blocking thread: commits wait for the disk.
    async fn blocking<R, F>(&self, call: F) -> Result<R, KmsError>
    where
        R: Send + 'static,
        F: FnOnce(&Store) -> Result<R, crate::store::StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || call(&store))
            .await
            .map_err(KmsError::internal)?
            .map_err(KmsError::from)
    }
}
