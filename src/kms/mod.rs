//! The domain: keys and their material versions, the key-state rules, and one function per
//! operation that orchestrates the sidecar and the token.

pub mod aliases;
pub mod asym;
mod authorize;
mod changes;
pub mod ciphertext;
pub mod clock;
pub mod cloud;
mod create_key;
mod crypto;
mod custody;
mod data_pair;
mod encryptions;
pub mod error;
pub mod grants;
mod health;
mod import;
mod import_token;
pub mod keyref;
mod lifecycle;
mod list_keys;
pub mod model;
pub mod paging;
pub mod policies;
pub mod policy_eval;
mod rotation;
pub mod rules;
pub mod scheduler;
mod startup;
mod tags;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use uuid::Uuid;
use zeroize::Zeroizing;

use crate::audit::AuditLog;
use crate::hsm::Hsm;
use crate::store::Store;

pub use authorize::{Action, Caller};
pub use clock::Clock;
pub use create_key::{default_policy, NewKey};
pub use crypto::{DataKey, Decrypted, Encrypted, ReEncryptSide, ReEncrypted};
pub use data_pair::{DataKeyPair, PairSpec};
pub use error::{ErrorKind, KmsError};
pub use import::{ImportParameters, ImportType, MaterialImport};
pub use keyref::{Identity, KeyRef};
pub use model::{Key, Millis};
pub use policies::Principals;
pub use rotation::{RotationEntry, DEFAULT_PERIOD_DAYS};

/// The key management service: the token, the sidecar and an in-memory view of the keys.
pub struct Kms {
    /// Where key material lives and works.
    hsm: Hsm,
    /// Where key metadata is durably recorded.
    store: Store,
    /// Region and account for ARNs.
    identity: Identity,
    /// Time source for creation dates and schedules.
    clock: Arc<Clock>,
    /// Acknowledged keys by id, ordered for ListKeys. Metadata only, never material; this
    /// daemon is the sidecar's only writer (the database is opened exclusively), so the
    /// copy is updated after each durable write and never goes stale.
    keys: RwLock<BTreeMap<Uuid, Arc<Key>>>,
    /// Alias name to key id.
    aliases: RwLock<HashMap<String, Uuid>>,
    /// Serialises metadata changes, so two read-modify-write cycles never interleave.
    writes: tokio::sync::Mutex<()>,
    /// Parsed key policies by policy text, parsed when first needed: keys with the same
    /// text share one entry, and the text is the keys' own (shared), not a copy.
    policies: RwLock<HashMap<Arc<str>, Arc<policy_eval::Policy>>>,
    /// The text of the default key policy, shared by every key that has it.
    default_policy: Arc<str>,
    /// Key-pair generations in flight: each holds a token session for up to seconds, so at
    /// most half the pool may, and callers beyond that are throttled rather than queued.
    generations: tokio::sync::Semaphore,
    /// The principals a key policy may name.
    principals: policies::Principals,
    /// AES-GCM encryptions left per material version.
    budget: encryptions::Budget,
    /// Where the scheduler's own changes are recorded.
    audit: Arc<AuditLog>,
    /// Runs of the scheduler's due work, for the metrics.
    runs: prometheus_client::metrics::counter::Counter,
    /// The Cloud KMS names of the keys.
    cloud: RwLock<cloud::Index>,
    /// Serialises CreateCryptoKey, so two requests cannot make one name twice.
    cloud_creates: tokio::sync::Mutex<()>,
}

impl Kms {
    /// The service over an opened token and sidecar. Reconciles the two first.
    pub async fn start(
        hsm: Hsm,
        store: Store,
        identity: Identity,
        principals: policies::Principals,
        clock: Arc<Clock>,
        audit: Arc<AuditLog>,
    ) -> Result<Kms, KmsError> {
        let kms = Kms {
            generations: tokio::sync::Semaphore::new((hsm.session_pool_size() / 2).max(1)),
            budget: {
                let (limit, block) = hsm.encryption_budget();
                encryptions::Budget::new(limit, block)
            },
            hsm,
            store,
            clock,
            keys: RwLock::new(BTreeMap::new()),
            aliases: RwLock::new(HashMap::new()),
            writes: tokio::sync::Mutex::new(()),
            policies: RwLock::new(HashMap::new()),
            default_policy: default_policy(&identity).into(),
            principals,
            audit,
            runs: Default::default(),
            cloud: RwLock::new(cloud::Index::default()),
            cloud_creates: tokio::sync::Mutex::new(()),
            identity,
        };
        kms.reconcile().await?;
        kms.load_cloud().await?;
        let reservations = kms
            .blocking(|store| store.encryption_reservations())
            .await?;
        kms.budget.resume(reservations);
        kms.run_due_work().await;
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

    /// DescribeKey, once `caller` may.
    pub async fn describe_key(&self, caller: &Caller, key_id: &str) -> Result<Arc<Key>, KmsError> {
        let action = Action::plain("DescribeKey");
        let key = self.authorized(caller, key_id, action).await?;
        self.check(rules::Op::DescribeKey, &key)?;
        Ok(key)
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

    /// The key a key id or key ARN names: for operations AWS does not let aliases reach.
    fn resolve_by_id(&self, key_id: &str) -> Result<Arc<Key>, KmsError> {
        if let KeyRef::Alias(_) = self.identity.parse_key_ref(key_id)? {
            return Err(KmsError::new(
                ErrorKind::InvalidArn,
                "Key Aliases are not supported for this operation.",
            ));
        }
        self.resolve(key_id)
    }

    /// The key a key id or ARN names, once the state table allows `op` on it.
    pub(super) fn checked_by_id(&self, key_id: &str, op: rules::Op) -> Result<Arc<Key>, KmsError> {
        let key = self.resolve_by_id(key_id)?;
        self.check(op, &key)?;
        Ok(key)
    }

    /// Changes the key named by `key_id` (a key id or ARN) under the write lock, after the
    /// state table allows `op`; the change is durable before the new key is returned.
    async fn update_key(
        &self,
        key_id: &str,
        op: rules::Op,
        change: impl FnOnce(&mut Key) -> Result<(), KmsError>,
    ) -> Result<Arc<Key>, KmsError> {
        let _writing = self.writes.lock().await;
        let current = self.resolve_by_id(key_id)?;
        self.check(op, &current)?;
        let mut key = Key::clone(&current);
        change(&mut key)?;
        self.save(key).await
    }

    /// Persists `key` and makes it the cached copy. Call with the write lock held.
    async fn save(&self, key: Key) -> Result<Arc<Key>, KmsError> {
        let saved = key.clone();
        self.blocking(move |store| store.save_key(&saved)).await?;
        let key = self.remember(key);
        self.evict_unusable(&key).await;
        Ok(key)
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

    /// The state a client sees: the recorded state, or Unavailable while the token object
    /// of the key's current material cannot be reached.
    pub fn state_of(&self, key: &Key) -> rules::KeyState {
        use rules::KeyState::{Disabled, Enabled, Unavailable};
        match (key.state, key.current_material) {
            (Enabled | Disabled, Some(m)) if !self.reachable(key, m) => Unavailable,
            (state, _) => state,
        }
    }

    fn any_key_unavailable(&self) -> bool {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.values()
            .any(|k| self.state_of(k) == rules::KeyState::Unavailable)
    }

    /// Applies the key-usage rules, then the key-state table, to `op` on `key`.
    fn check(&self, op: rules::Op, key: &Key) -> Result<rules::Verdict, KmsError> {
        asym::usage::permits(op, key, &self.arn(key))?;
        let facts = rules::KeyFacts {
            state: self.state_of(key),
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

    /// A slot for a key-pair generation, or ThrottlingException when half the session pool
    /// is already generating. Hold it until the generation ends.
    fn generation_slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, KmsError> {
        self.generations
            .try_acquire()
            .map_err(|_| KmsError::new(ErrorKind::Throttling, "Rate exceeded"))
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
