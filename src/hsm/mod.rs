//! The PKCS#11 token: one module load and login per process, a session pool, an object
//! handle cache, and the few operations the domain needs. Every call runs on a blocking
//! thread, never on the async reactor. Nothing outside this module touches `cryptoki`.

mod error;
mod health;
mod import;
mod oaep;
mod spki;
mod system_keys;
mod templates;

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use tokio::sync::Semaphore;
use uuid::Uuid;
use zeroize::Zeroizing;

pub use error::{Fault, HsmError};
pub use health::PoolStats;
pub use import::{Capabilities, OaepHash, Wrapping, WrappingKey};
pub use system_keys::SystemKey;

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
    /// Whether OAEP may be decoded in the daemon when the token cannot (opt-in).
    host_decoding: bool,
    /// Holds the login for the life of the process: closing the last session logs out.
    anchor: Mutex<Option<Session>>,
    /// Idle sessions ready for the next call.
    idle: Mutex<Vec<Session>>,
    /// Bounds the sessions in use at once.
    permits: Arc<Semaphore>,
    /// How many sessions the pool holds.
    pool_size: usize,
    /// How long a request waits for a free session before giving up.
    acquire_timeout: Duration,
    /// Key-material id (CKA_ID) to object handle: lookups on a token are linear scans.
    handles: RwLock<HashMap<Uuid, ObjectHandle>>,
    /// Latency of each token operation (session wait excluded), for the metrics.
    call_seconds: Latencies<metrics::Function>,
    /// Calls waiting for a free session, for the metrics.
    waiting: AtomicUsize,
}

impl Hsm {
    /// Loads the module, finds the token by label or serial, logs in and indexes our objects.
    /// Blocking: call before serving or from a blocking thread.
    pub fn open(settings: &HsmSettings, pin: Zeroizing<String>) -> Result<Hsm, HsmError> {
        let ctx = Pkcs11::new(&settings.module).map_err(|e| {
            HsmError::new(
                Fault::TokenUnavailable,
                format!("cannot load {}: {e}", settings.module.display()),
            )
        })?;
        ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))?;
        let (slot, manufacturer) = find_slot(&ctx, settings)?;
        let mut inner = Inner {
            ctx,
            slot,
            software: manufacturer.starts_with("SoftHSM"),
            capabilities: Capabilities::default(),
            host_decoding: settings.host_unwrap_fallback,
            pin: AuthPin::from(pin.as_str()),
            anchor: Mutex::new(None),
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(settings.session_pool_size)),
            pool_size: settings.session_pool_size,
            acquire_timeout: Duration::from_millis(settings.acquire_timeout_ms),
            handles: RwLock::new(HashMap::new()),
            call_seconds: metrics::latencies(),
            waiting: AtomicUsize::new(0),
        };
        inner.log_in_again()?;
        inner.run(&|inner: &Inner, session: &Session| inner.index_objects(session))?;
        inner.run(&|inner: &Inner, session: &Session| inner.ensure_system_keys(session))?;
        inner.capabilities = inner.run(&|inner: &Inner, session: &Session| inner.probe(session))?;
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
        read(&self.inner.handles).contains_key(&id)
    }

    /// Looks for our key objects on the token again, so keys whose objects came back
    /// become usable. A linear scan of the token: for the scheduler, not for requests.
    pub async fn reindex(&self) -> Result<(), HsmError> {
        self.call(|inner, session| inner.index_objects(session))
            .await
    }

    /// Material ids of every key object of ours found on the token at start-up or since.
    pub fn known_keys(&self) -> Vec<Uuid> {
        read(&self.inner.handles).keys().copied().collect()
    }

    /// Generates a persistent AES-256 key with CKA_ID = `id`, labelled with its owner.
    pub async fn generate_key(&self, id: Uuid, owner: String) -> Result<(), HsmError> {
        self.call(move |inner, session| {
            let template = templates::aes_256_token_key(id, &owner);
            let handle = session.generate_key(&Mechanism::AesKeyGen, &template)?;
            write(&inner.handles).insert(id, handle);
            Ok(())
        })
        .await
    }

    /// Destroys the key object with CKA_ID = `id`; succeeds if it is already gone.
    pub async fn destroy_key(&self, id: Uuid) -> Result<(), HsmError> {
        self.call(move |inner, session| {
            let result = inner.with_key(session, id, |handle| session.destroy_object(handle));
            write(&inner.handles).remove(&id);
            match result {
                Err(e) if e.fault == Fault::KeyMissing => Ok(()),
                other => other,
            }
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

    /// Runs `op` with a pooled session on a blocking thread.
    async fn call<R, F>(&self, op: F) -> Result<R, HsmError>
    where
        R: Send + 'static,
        F: Fn(&Inner, &Session) -> Result<R, HsmError> + Send + 'static,
    {
        let function = health::operation_name::<F>();
        let acquire = self.inner.permits.clone().acquire_owned();
        let waiting = health::Waiting::start(&self.inner.waiting);
        let permit = tokio::time::timeout(self.inner.acquire_timeout, acquire)
            .await
            .map_err(|_| HsmError::new(Fault::Busy, "no token session free in time"))?
            .map_err(|e| HsmError::new(Fault::Other, e.to_string()))?;
        drop(waiting);
        let inner = self.inner.clone();
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            inner.run(&op)
        })
        .await
        .map_err(|e| HsmError::new(Fault::Other, format!("token call failed: {e}")))?;
        let histogram = self
            .inner
            .call_seconds
            .get_or_create_owned(&metrics::Function { function });
        metrics::observe(&histogram, started.elapsed());
        result
    }
}

impl Inner {
    /// Runs `op` on a checked-out session, recovering from a lost session and a lost login
    /// (a closed session can be followed by a logged-out token, hence two rounds).
    fn run<R>(&self, op: &dyn Fn(&Inner, &Session) -> Result<R, HsmError>) -> Result<R, HsmError> {
        let mut session = self.checkout()?;
        let mut result = op(self, &session);
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
                _ => break,
            }
            result = op(self, &session);
        }
        match &result {
            Err(e) if matches!(e.fault, Fault::SessionLost | Fault::TokenUnavailable) => {}
            _ => lock(&self.idle).push(session),
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
        lock(&self.anchor).replace(session);
        Ok(())
    }

    /// Fills the handle cache with every secret key whose label marks it as ours.
    fn index_objects(&self, session: &Session) -> Result<(), HsmError> {
        let template = [Attribute::Class(ObjectClass::SECRET_KEY)];
        let wanted = [AttributeType::Id, AttributeType::Label];
        let mut found = HashMap::new();
        for handle in session.find_objects(&template)? {
            if let Some(id) = our_id(&session.get_attributes(handle, &wanted)?) {
                found.insert(id, handle);
            }
        }
        tracing::info!(objects = found.len(), "indexed key objects on the token");
        *write(&self.handles) = found;
        Ok(())
    }

    /// The cached handle for `id`, or one found on the token (then cached).
    fn handle(&self, session: &Session, id: Uuid) -> Result<ObjectHandle, HsmError> {
        if let Some(handle) = read(&self.handles).get(&id) {
            return Ok(*handle);
        }
        match session.find_objects(&templates::by_id(id))?.as_slice() {
            [handle] => {
                write(&self.handles).insert(id, *handle);
                Ok(*handle)
            }
            [] => Err(self.why_missing(session, id)?),
            _ => Err(HsmError::new(
                Fault::Other,
                format!("several key objects have CKA_ID {id}"),
            )),
        }
    }

    /// A search found nothing: either the object is gone or the token logged us out, which
    /// hides private objects (and invalidates their handles) without saying so.
    fn why_missing(&self, session: &Session, id: Uuid) -> Result<HsmError, HsmError> {
        let state = session.get_session_info()?.session_state();
        Ok(match state {
            SessionState::RwUser | SessionState::RoUser => {
                HsmError::new(Fault::KeyMissing, format!("no key object {id}"))
            }
            _ => HsmError::new(Fault::LoggedOut, "the session is no longer logged in"),
        })
    }

    /// Calls `op` with the key's handle, looking the object up again once if the handle
    /// went stale (the token was replaced or the object re-created).
    fn with_key<R>(
        &self,
        session: &Session,
        id: Uuid,
        op: impl Fn(ObjectHandle) -> Result<R, CkError>,
    ) -> Result<R, HsmError> {
        match op(self.handle(session, id)?) {
            Ok(r) => Ok(r),
            Err(e) => {
                let e = HsmError::from(e);
                if e.fault != Fault::StaleHandle {
                    return Err(e);
                }
                write(&self.handles).remove(&id);
                Ok(op(self.handle(session, id)?)?)
            }
        }
    }

    fn seal(
        &self,
        session: &Session,
        id: Uuid,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Sealed, HsmError> {
        let mut iv = [0u8; IV_LEN];
        session.generate_random_slice(&mut iv)?;
        let data = self.with_key(session, id, |handle| {
            let mut nonce = iv;
            session.encrypt(&templates::aes_gcm(&mut nonce, aad)?, handle, plaintext)
        })?;
        Ok(Sealed { iv, data })
    }

    fn open(
        &self,
        session: &Session,
        id: Uuid,
        aad: &[u8],
        sealed: &Sealed,
    ) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        let plaintext = self.with_key(session, id, |handle| {
            let mut nonce = sealed.iv;
            session.decrypt(&templates::aes_gcm(&mut nonce, aad)?, handle, &sealed.data)
        })?;
        Ok(Zeroizing::new(plaintext))
    }
}

fn random_bytes(session: &Session, len: usize) -> Result<Zeroizing<Vec<u8>>, HsmError> {
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    session.generate_random_slice(&mut bytes)?;
    Ok(bytes)
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
            Attribute::Label(bytes) => ours = bytes.starts_with(templates::LABEL_PREFIX.as_bytes()),
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
