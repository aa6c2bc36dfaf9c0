//! The PKCS#11 token: one module load and login per process, a session pool, an object
//! handle cache, and the few operations the domain needs. Every call runs on a blocking
//! thread, never on the async reactor. Nothing outside this module touches `cryptoki`.

mod agree;
mod asym;
mod data_pair;
mod dispatch;
mod error;
mod health;
mod import;
mod import_asym;
mod oaep;
mod recovery;
mod rsa_crypt;
mod self_test;
mod spki;
mod system_keys;
mod templates;
mod vetting;
mod wrapped;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use uuid::Uuid;
use zeroize::Zeroizing;

pub use agree::PeerPoint;
pub use asym::{Curve, Hash, PairKind, PairUse, SignScheme};
pub use data_pair::DataPair;
pub use error::{Fault, HsmError};
pub use health::PoolStats;
pub use import::{Capabilities, ImportedKey, OaepHash, Wrapping, WrappingKey, KCV_LEN};
pub use rsa_crypt::OaepPath;
pub use system_keys::SystemKey;
use vetting::Kind;
pub use vetting::Origin;
pub use wrapped::{create_kek, WrappedBlob, WrappedSource};

use crate::config::HsmSettings;
use crate::metrics::{self, Latencies};

/// Length of the AES-GCM initialisation vector, in bytes.
pub const IV_LEN: usize = 12;

/// Output of an AES-GCM encryption: the IV the token's RNG chose and ciphertext || tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Fresh random IV.
    pub iv: [u8; IV_LEN],
    /// Ciphertext followed by the 16-byte tag.
    pub data: Vec<u8>,
}

/// A key object we found and vetted: its handle, what it is for and how it was made.
#[derive(Debug, Clone, Copy)]
struct Indexed {
    handle: ObjectHandle,
    kind: Kind,
    origin: Origin,
}

/// Handle to the token. Cheap to clone; all clones share one pool and one login.
#[derive(Clone)]
pub struct Hsm {
    inner: Arc<Inner>,
}

struct Inner {
    /// The loaded, initialised module.
    ctx: Pkcs11,
    /// The slot that held our token when we started.
    slot: Slot,
    /// Kept to log in again if the token forgets us.
    pin: AuthPin,
    /// Whether the token is SoftHSM2, a software token (development switches need it).
    software: bool,
    /// Import mechanisms found by probing at start-up.
    capabilities: Capabilities,
    /// Whether new keys carry CKA_ALLOWED_MECHANISMS (the token supports it).
    restrict: bool,
    /// From settings: encryptions allowed per key, and reserved per sidecar write.
    encryption_budget: (u64, u64),
    /// Whether OAEP may be decoded in the daemon when the token cannot (opt-in).
    host_decoding: bool,
    /// Holds the login for the life of the process: closing the last session logs out.
    anchor: Mutex<Option<Session>>,
    /// Idle sessions ready for the next call.
    idle: Mutex<Vec<Session>>,
    /// The token threads, one per pooled session, and the calls waiting for them.
    calls: dispatch::Dispatcher,
    /// How many sessions the pool holds.
    pool_size: usize,
    /// CKA_ID to vetted object: lookups on a token are linear scans.
    handles: RwLock<HashMap<Uuid, Indexed>>,
    /// CKA_IDs whose objects the domain refused: never indexed again in this process.
    refused: RwLock<HashSet<Uuid>>,
    /// Key-material id to the handle of a key pair's public half, cached on first use.
    public: RwLock<HashMap<Uuid, ObjectHandle>>,
    /// Asymmetric and HMAC mechanisms found by probing at start-up.
    mechanisms: asym::Mechanisms,
    /// Latency of each token operation (session wait excluded), for the metrics.
    call_seconds: Latencies<metrics::Function>,
    /// Whether the token answers, and the state of its recovery after a loss.
    availability: recovery::Availability,
    /// Whether new symmetric keys are made in wrapped custody.
    wrap_new_keys: bool,
    /// The key-encryption key of wrapped custody, when the token has one.
    kek: Option<wrapped::Kek>,
    /// Wrapped material unwrapped into session objects, bounded.
    cache: Mutex<wrapped::Cache>,
    /// Where a cache miss finds wrapped material (the sidecar), once set.
    wrapped_source: RwLock<Option<WrappedSource>>,
}

impl Hsm {
    /// Loads the module, finds the token by label or serial, logs in and indexes our objects.
    /// Blocking: call before serving or from a blocking thread.
    pub fn open(settings: &HsmSettings, pin: Zeroizing<String>) -> Result<Hsm, HsmError> {
        let ctx = load_module(settings)?;
        let (slot, manufacturer) = find_slot(&ctx, settings)?;
        let mut inner = Inner {
            ctx,
            slot,
            software: manufacturer.starts_with("SoftHSM"),
            capabilities: Capabilities::default(),
            restrict: false,
            encryption_budget: (
                settings.gcm_encryption_limit,
                settings.gcm_reservation_block,
            ),
            host_decoding: settings.host_unwrap_fallback,
            pin: AuthPin::from(pin.as_str()),
            anchor: Mutex::new(None),
            idle: Mutex::new(Vec::new()),
            calls: dispatch::Dispatcher::start(
                settings.session_pool_size,
                settings.max_waiters,
                Duration::from_millis(settings.acquire_timeout_ms),
            )?,
            pool_size: settings.session_pool_size,
            handles: RwLock::new(HashMap::new()),
            refused: RwLock::new(HashSet::new()),
            public: RwLock::new(HashMap::new()),
            mechanisms: asym::Mechanisms::default(),
            call_seconds: metrics::latencies(),
            availability: recovery::Availability::new(Duration::from_millis(
                settings.recovery_interval_ms,
            )),
            wrap_new_keys: settings.custody == crate::config::CustodyMode::Wrapped,
            kek: None,
            cache: Mutex::new(wrapped::Cache::new(
                settings.wrapped_cache_size,
                Duration::from_secs(settings.wrapped_cache_idle_seconds),
            )),
            wrapped_source: RwLock::new(None),
        };
        inner.log_in_again()?;
        inner.run(&|inner: &Inner, session: &Session| inner.index_objects(session))?;
        inner.restrict = inner.run(&|inner: &Inner, session: &Session| inner.self_test(session))?;
        inner.run(&|inner: &Inner, session: &Session| inner.ensure_system_keys(session))?;
        let label = settings.kek_label.as_str();
        inner.kek =
            inner.run(&|inner: &Inner, session: &Session| inner.find_kek(session, label))?;
        if inner.wrap_new_keys && inner.kek.is_none() {
            return Err(HsmError::new(
                Fault::KeyMissing,
                format!(
                    "hsm.custody is wrapped but the token holds no key-encryption key labelled \
                     {label:?}: create it with `hsmkms token create-kek --so-pin-file FILE`"
                ),
            ));
        }
        inner.capabilities = inner.run(&|inner: &Inner, session: &Session| inner.probe(session))?;
        inner.mechanisms =
            inner.run(&|inner: &Inner, session: &Session| inner.probe_mechanisms(session))?;
        if inner.host_decoding {
            tracing::warn!(
                "hsm.host_unwrap_fallback is ON: material wrapped with RSA-OAEP SHA-256 is \
                 decoded in the daemon when the token cannot, and recorded as host-unwrapped"
            );
        }
        Ok(Hsm {
            inner: Arc::new(inner),
        })
    }

    /// AES-GCM encryptions allowed per key, and how many to reserve per sidecar write.
    pub fn encryption_budget(&self) -> (u64, u64) {
        self.inner.encryption_budget
    }

    /// How many token calls may run at once.
    pub fn session_pool_size(&self) -> usize {
        self.inner.pool_size
    }

    /// Whether the token is a software token (SoftHSM2) rather than a hardware module.
    pub fn is_software_token(&self) -> bool {
        self.inner.software
    }

    /// Whether the key object `id` is known to be on the token (cached, no token call).
    pub fn is_known(&self, id: Uuid) -> bool {
        read(&self.inner.handles)
            .get(&id)
            .is_some_and(|i| i.kind == Kind::Material)
    }

    /// Stops using the key object `id` for the life of the process (its origin does not
    /// match the sidecar's record).
    pub fn refuse(&self, id: Uuid) {
        write(&self.inner.refused).insert(id);
        write(&self.inner.handles).remove(&id);
    }

    /// Looks for our key objects on the token again, so keys whose objects came back
    /// become usable. A linear scan of the token: for the scheduler, not for requests.
    pub async fn reindex(&self) -> Result<(), HsmError> {
        self.call(|inner, session| inner.index_objects(session))
            .await
    }

    /// Material ids and origins of the vetted key objects found at start-up or since.
    pub fn known_keys(&self) -> Vec<(Uuid, Origin)> {
        read(&self.inner.handles)
            .iter()
            .filter(|(_, i)| i.kind == Kind::Material)
            .map(|(id, i)| (*id, i.origin))
            .collect()
    }

    /// Generates a persistent AES-256 key with CKA_ID = `id`, labelled with its owner.
    /// Refused when an object with that CKA_ID is already indexed.
    pub async fn generate_key(&self, id: Uuid, owner: String) -> Result<(), HsmError> {
        self.call_once(move |inner, session| {
            if read(&inner.handles).contains_key(&id) {
                return Err(duplicate_id(id));
            }
            let template = templates::aes_256_token_key(id, &owner, inner.restrict);
            let handle = session.generate_key(&Mechanism::AesKeyGen, &template)?;
            inner.remember(id, handle, Origin::Generated);
            Ok(())
        })
        .await
    }

    /// Destroys every key object with CKA_ID = `id` (a pair's both halves), vetted or not,
    /// and answers how many secret or private ones there were; succeeds if none is left.
    pub async fn destroy_key(&self, id: Uuid) -> Result<usize, HsmError> {
        self.call(move |inner, session| {
            write(&inner.handles).remove(&id);
            inner.forget_unwrapped(id);
            inner.destroy_public(session, id)?;
            let mut found = session.find_objects(&templates::by_id(id))?;
            found.extend(session.find_objects(&templates::private_by_id(id))?);
            for handle in &found {
                session.destroy_object(*handle)?;
            }
            Ok(found.len())
        })
        .await
    }

    /// AES-GCM encrypts `plaintext` under key `id` with a fresh IV from the token's RNG.
    pub async fn encrypt(
        &self,
        id: Uuid,
        aad: Vec<u8>,
        plaintext: Zeroizing<Vec<u8>>,
    ) -> Result<Sealed, HsmError> {
        self.call(move |inner, session| inner.seal(session, id, &aad, &plaintext))
            .await
    }

    /// AES-GCM decrypts under key `id`; a failed tag check is `Fault::BadCiphertext`.
    pub async fn decrypt(
        &self,
        id: Uuid,
        aad: Vec<u8>,
        sealed: Sealed,
    ) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        self.call(move |inner, session| inner.open(session, id, &aad, &sealed))
            .await
    }

    /// Draws `len` random bytes from the token and seals them under key `id`.
    pub async fn generate_data_key(
        &self,
        id: Uuid,
        aad: Vec<u8>,
        len: usize,
    ) -> Result<(Zeroizing<Vec<u8>>, Sealed), HsmError> {
        self.call(move |inner, session| {
            let plaintext = random_bytes(session, len)?;
            let sealed = inner.seal(session, id, &aad, &plaintext)?;
            Ok((plaintext, sealed))
        })
        .await
    }

    /// Decrypts under one key and encrypts under another in one call, so the plaintext
    /// never leaves this module.
    pub async fn reencrypt(
        &self,
        from: (Uuid, Vec<u8>, Sealed),
        to: (Uuid, Vec<u8>),
    ) -> Result<Sealed, HsmError> {
        self.call(move |inner, session| {
            let plaintext = inner.open(session, from.0, &from.1, &from.2)?;
            inner.seal(session, to.0, &to.1, &plaintext)
        })
        .await
    }

    /// `len` bytes from the token's RNG.
    pub async fn random(&self, len: usize) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        self.call(move |_, session| random_bytes(session, len))
            .await
    }

    /// Runs `op` with a pooled session on a token thread, again after a lost session or
    /// login is re-established.
    async fn call<R, F>(&self, op: F) -> Result<R, HsmError>
    where
        R: Send + 'static,
        F: Fn(&Inner, &Session) -> Result<R, HsmError> + Send + 'static,
    {
        self.call_with(Retry::Again, op).await
    }

    /// Like `call`, for an `op` that makes an object (C_GenerateKey, C_UnwrapKey): it is never
    /// run a second time, as the first may have made the object before the failure.
    async fn call_once<R, F>(&self, op: F) -> Result<R, HsmError>
    where
        R: Send + 'static,
        F: Fn(&Inner, &Session) -> Result<R, HsmError> + Send + 'static,
    {
        self.call_with(Retry::Never, op).await
    }

    async fn call_with<R, F>(&self, retry: Retry, op: F) -> Result<R, HsmError>
    where
        R: Send + 'static,
        F: Fn(&Inner, &Session) -> Result<R, HsmError> + Send + 'static,
    {
        let function = health::operation_name::<F>();
        self.refuse_while_down()?;
        let inner = self.inner.clone();
        let result = self
            .inner
            .calls
            .run(move || {
                let started = Instant::now();
                let result = inner.run_with(retry, &op);
                let histogram = inner
                    .call_seconds
                    .get_or_create_owned(&metrics::Function { function });
                metrics::observe(&histogram, started.elapsed());
                result
            })
            .await;
        if matches!(&result, Err(e) if e.fault == Fault::TokenUnavailable) {
            self.recover();
        }
        result
    }
}

/// Whether a call may run again once a lost session or login is back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    Again,
    Never,
}

impl Inner {
    fn run<R>(&self, op: &dyn Fn(&Inner, &Session) -> Result<R, HsmError>) -> Result<R, HsmError> {
        self.run_with(Retry::Again, op)
    }

    /// Runs `op` unless the token is down, and marks it down when `op` still finds it gone
    /// after the recovery `run_recovering` tries.
    fn run_with<R>(
        &self,
        retry: Retry,
        op: &dyn Fn(&Inner, &Session) -> Result<R, HsmError>,
    ) -> Result<R, HsmError> {
        if self.availability.is_down() {
            return Err(recovery::token_down());
        }
        let generation = self.availability.generation();
        let result = self.run_recovering(retry, op, generation);
        if let Err(e) = &result {
            if e.fault == Fault::TokenUnavailable {
                self.token_lost(e);
            }
        }
        result
    }

    /// Runs `op` on a checked-out session, recovering from a lost session, a lost login and,
    /// once, a token that reports itself gone (a new login and session: a token that was
    /// pulled and put back, or reset, has forgotten both), and running `op` again after each
    /// unless `retry` says never. A closed session can be followed by a logged-out token,
    /// hence two rounds. The session goes back to the pool only if it may serve again and
    /// no loss of the token happened since `generation`.
    fn run_recovering<R>(
        &self,
        retry: Retry,
        op: &dyn Fn(&Inner, &Session) -> Result<R, HsmError>,
        generation: u64,
    ) -> Result<R, HsmError> {
        let mut session = self.checkout()?;
        let mut result = op(self, &session);
        let mut reconnected = false;
        for _ in 0..2 {
            let Err(e) = &result else { break };
            match e.fault {
                Fault::SessionLost => {
                    tracing::warn!(error = %e, "token session lost; opening another");
                    session = self.ctx.open_rw_session(self.slot)?;
                }
                Fault::LoggedOut => {
                    tracing::warn!(error = %e, "token login lost; logging in again");
                    self.log_in_again()?;
                }
                Fault::TokenUnavailable if !reconnected => {
                    reconnected = true;
                    tracing::warn!(error = %e, "the token reports it is gone; logging in again");
                    self.log_in_again()?;
                    session = self.ctx.open_rw_session(self.slot)?;
                }
                _ => break,
            }
            if retry == Retry::Never {
                break;
            }
            result = op(self, &session);
        }
        // A session that saw an unexplained failure may hold a half-finished operation:
        // dropping it closes it.
        let reusable = match &result {
            Err(e) => e.fault.session_reusable(),
            Ok(_) => true,
        };
        if reusable {
            let mut idle = lock(&self.idle);
            if generation == self.availability.generation() {
                idle.push(session);
            }
        }
        result
    }

    fn checkout(&self) -> Result<Session, HsmError> {
        match lock(&self.idle).pop() {
            Some(session) => Ok(session),
            None => Ok(self.ctx.open_rw_session(self.slot)?),
        }
    }

    /// Opens a fresh anchor session and logs it in; the old anchor, if any, is closed after.
    fn log_in_again(&self) -> Result<(), HsmError> {
        let session = self.ctx.open_rw_session(self.slot)?;
        match session.login(UserType::User, Some(&self.pin)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(e.into()),
        }
        // The old login's session takes the unwrapped objects it holds with it.
        lock(&self.cache).clear();
        lock(&self.anchor).replace(session);
        Ok(())
    }

    /// Fills the handle cache with every secret and private key whose label marks it as a
    /// key's material (import wrapping keys are not) and whose attributes pass vetting. A
    /// CKA_ID carried by several objects names none of them.
    fn index_objects(&self, session: &Session) -> Result<(), HsmError> {
        let wanted = [AttributeType::Id, AttributeType::Label];
        let mut found: HashMap<Uuid, Vec<ObjectHandle>> = HashMap::new();
        for class in [ObjectClass::SECRET_KEY, ObjectClass::PRIVATE_KEY] {
            // Token objects only: unwrapped session objects are the cache's.
            let template = [Attribute::Class(class), Attribute::Token(true)];
            for handle in session.find_objects(&template)? {
                if let Some(id) = our_id(&session.get_attributes(handle, &wanted)?) {
                    found.entry(id).or_default().push(handle);
                }
            }
        }
        let mut index = HashMap::new();
        let refused = read(&self.refused).clone();
        for (id, handles) in found.into_iter().filter(|(id, _)| !refused.contains(id)) {
            let [handle] = handles.as_slice() else {
                tracing::error!(material_id = %id, objects = handles.len(), "several token objects carry one CKA_ID; none is used");
                continue;
            };
            if let Some(origin) = vetted(session, id, *handle, Kind::Material)? {
                index.insert(
                    id,
                    Indexed {
                        handle: *handle,
                        kind: Kind::Material,
                        origin,
                    },
                );
            }
        }
        tracing::info!(objects = index.len(), "indexed key objects on the token");
        *write(&self.handles) = index;
        Ok(())
    }

    fn remember(&self, id: Uuid, handle: ObjectHandle, origin: Origin) {
        let indexed = Indexed {
            handle,
            kind: Kind::Material,
            origin,
        };
        write(&self.handles).insert(id, indexed);
    }

    /// The cached handle for `id`, or else the one `find_handle` finds.
    fn handle(&self, session: &Session, id: Uuid, kind: Kind) -> Result<ObjectHandle, HsmError> {
        if let Some(indexed) = read(&self.handles).get(&id).filter(|i| i.kind == kind) {
            return Ok(indexed.handle);
        }
        if kind == Kind::Material {
            if let Some(handle) = self.unwrapped(session, id)? {
                return Ok(handle);
            }
        }
        self.find_handle(session, id, kind)
    }

    /// The one object found on the token with CKA_ID `id` once it passes vetting as `kind`,
    /// cached in place of any handle cached before.
    fn find_handle(
        &self,
        session: &Session,
        id: Uuid,
        kind: Kind,
    ) -> Result<ObjectHandle, HsmError> {
        if read(&self.refused).contains(&id) {
            return Err(HsmError::new(
                Fault::KeyMissing,
                format!("key object {id} was refused"),
            ));
        }
        let logged_in = is_logged_in(session)?;
        let mut found = session.find_objects(&templates::by_id(id))?;
        if found.is_empty() {
            found = session.find_objects(&templates::private_by_id(id))?;
        }
        match found.as_slice() {
            [handle] => {
                let Some(origin) = vetted(session, id, *handle, kind)? else {
                    return Err(HsmError::new(
                        Fault::KeyMissing,
                        format!("key object {id} failed vetting"),
                    ));
                };
                let indexed = Indexed {
                    handle: *handle,
                    kind,
                    origin,
                };
                write(&self.handles).insert(id, indexed);
                Ok(*handle)
            }
            [] => Err(why_missing(session, id, logged_in)?),
            _ => Err(duplicate_id(id)),
        }
    }

    /// Calls `op` with the handle of key material `id`, looking the object up again once if
    /// the handle went stale (the token was reset or the object re-created).
    fn with_key<R>(
        &self,
        session: &Session,
        id: Uuid,
        op: impl Fn(ObjectHandle) -> Result<R, CkError>,
    ) -> Result<R, HsmError> {
        self.with_handle(session, id, Kind::Material, op)
    }

    /// `with_key` for an object vetted as `kind`.
    fn with_handle<R>(
        &self,
        session: &Session,
        id: Uuid,
        kind: Kind,
        op: impl Fn(ObjectHandle) -> Result<R, CkError>,
    ) -> Result<R, HsmError> {
        let lookup = || self.handle(session, id, kind);
        // The stale handle stays cached until the search says what replaces it: forgotten
        // first, the key would read as Unavailable to other calls meanwhile, and a search
        // in a session that lost its login finds nothing without the object being gone.
        let relookup = || {
            if kind == Kind::Material {
                if let Some(handle) = self.unwrap_again(session, id)? {
                    return Ok(handle);
                }
            }
            let found = self.find_handle(session, id, kind);
            if matches!(&found, Err(e) if e.fault == Fault::KeyMissing) {
                write(&self.handles).remove(&id);
            }
            found
        };
        retry_stale(lookup, relookup, op)
    }

    fn seal(
        &self,
        session: &Session,
        id: Uuid,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Sealed, HsmError> {
        self.with_key(session, id, |handle| {
            gcm_encrypt(session, handle, aad, plaintext)
        })
    }

    fn open(
        &self,
        session: &Session,
        id: Uuid,
        aad: &[u8],
        sealed: &Sealed,
    ) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        self.with_key(session, id, |handle| {
            gcm_decrypt(session, handle, aad, sealed)
        })
    }
}

/// AES-GCM encryption with a fresh IV from the token's RNG. Tokens that choose the IV
/// themselves write it back into the parameters: the IV kept is the one they report.
fn gcm_encrypt(
    session: &Session,
    key: ObjectHandle,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Sealed, CkError> {
    let mut iv = [0u8; IV_LEN];
    session.generate_random_slice(&mut iv)?;
    let data = session.encrypt(&templates::aes_gcm(&mut iv, aad)?, key, plaintext)?;
    Ok(Sealed { iv, data })
}

fn gcm_decrypt(
    session: &Session,
    key: ObjectHandle,
    aad: &[u8],
    sealed: &Sealed,
) -> Result<Zeroizing<Vec<u8>>, CkError> {
    let mut iv = sealed.iv;
    let plaintext = session.decrypt(&templates::aes_gcm(&mut iv, aad)?, key, &sealed.data)?;
    Ok(Zeroizing::new(plaintext))
}

/// Runs `op` on the handle `lookup` finds; when the token says the handle went stale, tries
/// once more on the handle `relookup` finds on the token.
fn retry_stale<R>(
    lookup: impl Fn() -> Result<ObjectHandle, HsmError>,
    relookup: impl Fn() -> Result<ObjectHandle, HsmError>,
    op: impl Fn(ObjectHandle) -> Result<R, CkError>,
) -> Result<R, HsmError> {
    match op(lookup()?) {
        Ok(r) => Ok(r),
        Err(e) => {
            let e = HsmError::from(e);
            if e.fault != Fault::StaleHandle {
                return Err(e);
            }
            Ok(op(relookup()?)?)
        }
    }
}

/// The object's origin if it passes vetting as `kind`; a refusal is logged.
fn vetted(
    session: &Session,
    id: Uuid,
    handle: ObjectHandle,
    kind: Kind,
) -> Result<Option<Origin>, HsmError> {
    match vetting::vet(session, handle, kind)? {
        Ok(origin) => Ok(Some(origin)),
        Err(why) => {
            tracing::error!(object_id = %id, reason = why, "a token object with our label fails vetting; not used");
            Ok(None)
        }
    }
}

/// Whether `session` is logged in now.
fn is_logged_in(session: &Session) -> Result<bool, HsmError> {
    let state = session.get_session_info()?.session_state();
    Ok(matches!(state, SessionState::RwUser | SessionState::RoUser))
}

/// A search found nothing: either the object is gone or the token logged us out, which
/// hides private objects (and invalidates their handles) without saying so. The login is
/// the application's, not the session's, so another call may log in again during the
/// search: the object is only missing if the session was logged in before the search
/// (`logged_in_before`) and still is after it. (A logout and a new login both within one
/// search still read as missing.)
fn why_missing(session: &Session, id: Uuid, logged_in_before: bool) -> Result<HsmError, HsmError> {
    Ok(match logged_in_before && is_logged_in(session)? {
        true => HsmError::new(Fault::KeyMissing, format!("no key object {id}")),
        false => HsmError::new(Fault::LoggedOut, "the session is no longer logged in"),
    })
}

fn duplicate_id(id: Uuid) -> HsmError {
    HsmError::new(
        Fault::Other,
        format!("several key objects have CKA_ID {id}"),
    )
}

fn random_bytes(session: &Session, len: usize) -> Result<Zeroizing<Vec<u8>>, HsmError> {
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    session.generate_random_slice(&mut bytes)?;
    Ok(bytes)
}

/// Loads and initialises the PKCS#11 module.
fn load_module(settings: &HsmSettings) -> Result<Pkcs11, HsmError> {
    let ctx = Pkcs11::new(&settings.module).map_err(|e| {
        HsmError::new(
            Fault::TokenUnavailable,
            format!("cannot load {}: {e}", settings.module.display()),
        )
    })?;
    ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))?;
    Ok(ctx)
}

/// The slot whose token matches the configured label or serial, and its manufacturer.
fn find_slot(ctx: &Pkcs11, settings: &HsmSettings) -> Result<(Slot, String), HsmError> {
    for slot in ctx.get_slots_with_token()? {
        let info = ctx.get_token_info(slot)?;
        let label_ok = settings
            .token_label
            .as_deref()
            .is_none_or(|l| info.label().trim_end() == l);
        let serial_ok = settings
            .token_serial
            .as_deref()
            .is_none_or(|s| info.serial_number().trim_end() == s);
        if label_ok && serial_ok {
            tracing::info!(
                label = info.label().trim_end(),
                serial = info.serial_number().trim_end(),
                model = info.model().trim_end(),
                manufacturer = info.manufacturer_id().trim_end(),
                "using token"
            );
            return Ok((slot, info.manufacturer_id().trim_end().to_owned()));
        }
    }
    Err(HsmError::new(
        Fault::TokenUnavailable,
        format!(
            "no token with label {:?} / serial {:?}",
            settings.token_label, settings.token_serial
        ),
    ))
}

/// The CKA_ID of an object labelled as ours, when it is a well-formed material id.
fn our_id(attributes: &[Attribute]) -> Option<Uuid> {
    let mut id = None;
    let mut ours = false;
    for attribute in attributes {
        match attribute {
            Attribute::Id(bytes) => id = Uuid::from_slice(bytes).ok(),
            Attribute::Label(bytes) => {
                ours = bytes.starts_with(templates::LABEL_PREFIX.as_bytes())
                    && !bytes.starts_with(templates::IMPORT_LABEL_PREFIX.as_bytes());
            }
            _ => {}
        }
    }
    id.filter(|_| ours)
}

// A panic while holding these locks cannot leave the maps half-updated (single inserts and
// removes), so a poisoned lock is still safe to use.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(PoisonError::into_inner)
}
