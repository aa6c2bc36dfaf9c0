//! Wrapped custody: one key-encryption key (KEK) stays in the token; each key's material is
//! generated in the token, wrapped under the KEK (CKM_AES_KEY_WRAP_PAD) for the sidecar and
//! destroyed. On use the wrapped material is unwrapped into a session object held in a
//! bounded cache; an object leaves the cache (and the token) when the cache is full, when it
//! sat idle too long, when its key is disabled or deleted, and at shutdown. A MAC from the
//! token binds each wrapped blob to its material id, so blobs swapped between sidecar rows
//! are refused instead of serving one key's material under another's id.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::{Session, UserType};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::system_keys::SystemKey;
use super::vetting::Kind;
use super::{find_slot, lock, templates, Fault, Hsm, HsmError, Inner};
use crate::config::HsmSettings;

/// Material as the sidecar keeps it in wrapped custody.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedBlob {
    /// CKA_ID of the KEK it is wrapped under.
    pub kek: Uuid,
    /// The RFC 5649 wrapping of the material.
    pub blob: Vec<u8>,
    /// HMAC-SHA256, in the token, over the material id, the KEK id and the blob.
    pub binding: Vec<u8>,
}

impl std::fmt::Debug for WrappedBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappedBlob")
            .field("kek", &self.kek)
            .finish_non_exhaustive()
    }
}

/// Where the cache finds the wrapped material of an id it does not hold (the sidecar).
/// Called on a token-call thread; answers `None` for material that is not wrapped.
pub type WrappedSource = Arc<dyn Fn(Uuid) -> Result<Option<WrappedBlob>, String> + Send + Sync>;

/// The KEK found on the token at start-up.
#[derive(Debug, Clone, Copy)]
pub(super) struct Kek {
    id: Uuid,
    handle: ObjectHandle,
}

/// Unwrapped session objects by material id, least recently used first.
pub(super) struct Cache {
    entries: HashMap<Uuid, Entry>,
    by_use: BTreeMap<u64, Uuid>,
    tick: u64,
    capacity: usize,
    idle: Duration,
}

struct Entry {
    handle: ObjectHandle,
    tick: u64,
    used: Instant,
}

impl Cache {
    pub(super) fn new(capacity: usize, idle: Duration) -> Cache {
        Cache {
            entries: HashMap::new(),
            by_use: BTreeMap::new(),
            tick: 0,
            capacity: capacity.max(1),
            idle,
        }
    }

    /// The cached handle of `id`, marked as just used.
    fn hit(&mut self, id: Uuid) -> Option<ObjectHandle> {
        self.tick += 1;
        let tick = self.tick;
        let entry = self.entries.get_mut(&id)?;
        self.by_use.remove(&entry.tick);
        self.by_use.insert(tick, id);
        entry.tick = tick;
        entry.used = Instant::now();
        Some(entry.handle)
    }

    /// Adds `id`, and answers the handles pushed out to make room (to destroy).
    fn insert(&mut self, id: Uuid, handle: ObjectHandle) -> Vec<ObjectHandle> {
        let mut evicted: Vec<_> = self.remove(id).into_iter().collect();
        while self.entries.len() >= self.capacity {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            evicted.extend(self.entries.remove(&oldest).map(|e| e.handle));
        }
        self.tick += 1;
        self.by_use.insert(self.tick, id);
        let used = Instant::now();
        let tick = self.tick;
        self.entries.insert(id, Entry { handle, tick, used });
        evicted
    }

    fn remove(&mut self, id: Uuid) -> Option<ObjectHandle> {
        let entry = self.entries.remove(&id)?;
        self.by_use.remove(&entry.tick);
        Some(entry.handle)
    }

    /// Removes the entries unused for longer than the idle time.
    fn remove_idle(&mut self, now: Instant) -> Vec<ObjectHandle> {
        let idle: Vec<Uuid> = (self.entries.iter())
            .filter(|(_, e)| now.duration_since(e.used) >= self.idle)
            .map(|(id, _)| *id)
            .collect();
        idle.into_iter().filter_map(|id| self.remove(id)).collect()
    }

    pub(super) fn clear(&mut self) -> Vec<ObjectHandle> {
        self.by_use.clear();
        self.entries.drain().map(|(_, e)| e.handle).collect()
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

impl Hsm {
    /// Whether new symmetric keys are made in wrapped custody (hsm.custody = "wrapped").
    pub fn wraps_new_keys(&self) -> bool {
        self.inner.wrap_new_keys
    }

    /// Whether the token holds the KEK wrapped material needs.
    pub fn has_kek(&self) -> bool {
        self.inner.kek.is_some()
    }

    /// Sets where unwrapped-material misses find their wrapped blob.
    pub fn set_wrapped_source(&self, source: WrappedSource) {
        *super::write(&self.inner.wrapped_source) = Some(source);
    }

    /// Generates AES-256 material for `id` in the token, wraps it under the KEK, binds the
    /// blob to `id` and destroys the token's copy. Nothing persists in the token.
    pub async fn generate_wrapped(&self, id: Uuid, owner: String) -> Result<WrappedBlob, HsmError> {
        self.call(move |inner, session| {
            let kek = inner.kek()?;
            let template = templates::wrappable_aes_key(id, &owner);
            let fresh = session.generate_key(&Mechanism::AesKeyGen, &template)?;
            let wrapped = session.wrap_key(&Mechanism::AesKeyWrapPad, kek.handle, fresh);
            session.destroy_object(fresh)?;
            let blob = wrapped?;
            let binding = inner.bind(session, id, kek.id, &blob)?;
            Ok(WrappedBlob {
                kek: kek.id,
                blob,
                binding,
            })
        })
        .await
    }

    /// Destroys the unwrapped session objects of `ids` (a disabled key's), if cached.
    pub async fn evict_wrapped(&self, ids: Vec<Uuid>) -> Result<(), HsmError> {
        self.call(move |inner, _| {
            let handles: Vec<_> = {
                let mut cache = lock(&inner.cache);
                ids.iter().filter_map(|id| cache.remove(*id)).collect()
            };
            inner.destroy_unwrapped(&handles);
            Ok(())
        })
        .await
    }

    /// Destroys the unwrapped session objects that sat unused past the idle time.
    pub async fn sweep_wrapped(&self) -> Result<(), HsmError> {
        self.call(|inner, _| {
            let idle = lock(&inner.cache).remove_idle(Instant::now());
            inner.destroy_unwrapped(&idle);
            Ok(())
        })
        .await
    }

    /// Whether the cache holds an unwrapped session object of `id`.
    pub fn holds_unwrapped(&self, id: Uuid) -> bool {
        lock(&self.inner.cache).entries.contains_key(&id)
    }

    /// How many unwrapped session objects the cache holds now.
    pub fn unwrapped_count(&self) -> usize {
        lock(&self.inner.cache).len()
    }
}

impl Inner {
    fn kek(&self) -> Result<Kek, HsmError> {
        self.kek.ok_or_else(|| {
            HsmError::new(
                Fault::KeyMissing,
                "the token holds no key-encryption key for wrapped custody",
            )
        })
    }

    /// The token's MAC over what a wrapped blob must stay attached to.
    fn bind(
        &self,
        session: &Session,
        id: Uuid,
        kek: Uuid,
        blob: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        let data = binding_input(id, kek, blob);
        let key = SystemKey::WrappedBinding.id();
        self.with_handle(session, key, Kind::System, |handle| {
            session.sign(&Mechanism::Sha256Hmac, handle, &data)
        })
    }

    /// The cached session object of wrapped material `id`, or one unwrapped now from the
    /// blob the source holds; `None` when `id` is not wrapped material.
    pub(super) fn unwrapped(
        &self,
        session: &Session,
        id: Uuid,
    ) -> Result<Option<ObjectHandle>, HsmError> {
        if let Some(handle) = lock(&self.cache).hit(id) {
            return Ok(Some(handle));
        }
        let source = super::read(&self.wrapped_source).clone();
        let Some(source) = source else {
            return Ok(None);
        };
        let wrapped = source(id).map_err(|e| HsmError::new(Fault::Other, e))?;
        let Some(wrapped) = wrapped else {
            return Ok(None);
        };
        let handle = self.unwrap_into_cache(session, id, &wrapped)?;
        Ok(Some(handle))
    }

    /// Drops a cached handle the token called stale, and unwraps the material again.
    pub(super) fn unwrap_again(
        &self,
        session: &Session,
        id: Uuid,
    ) -> Result<Option<ObjectHandle>, HsmError> {
        lock(&self.cache).remove(id);
        self.unwrapped(session, id)
    }

    fn unwrap_into_cache(
        &self,
        session: &Session,
        id: Uuid,
        wrapped: &WrappedBlob,
    ) -> Result<ObjectHandle, HsmError> {
        let kek = self.kek()?;
        if wrapped.kek != kek.id {
            return Err(HsmError::new(
                Fault::KeyMissing,
                format!(
                    "material {id} is wrapped under KEK {}, not on the token",
                    wrapped.kek
                ),
            ));
        }
        let data = binding_input(id, kek.id, &wrapped.blob);
        let key = SystemKey::WrappedBinding.id();
        let bound = self.with_handle(session, key, Kind::System, |handle| {
            super::system_keys::verified(session.verify(
                &Mechanism::Sha256Hmac,
                handle,
                &data,
                &wrapped.binding,
            ))
        })?;
        if !bound {
            tracing::error!(material_id = %id, "a wrapped blob in the sidecar is not bound to its material id; not used");
            return Err(HsmError::new(
                Fault::KeyMissing,
                format!("the wrapped material of {id} fails its binding check"),
            ));
        }
        let template = templates::unwrapped_aes_key(id, self.restrict);
        // Session objects die with the session that made them: the login's own session
        // lives as long as the login, so the cache never points at an object a pooled
        // session took with it.
        let handle = {
            let anchor = lock(&self.anchor);
            let holder = anchor.as_ref().unwrap_or(session);
            holder.unwrap_key(
                &Mechanism::AesKeyWrapPad,
                kek.handle,
                &wrapped.blob,
                &template,
            )?
        };
        let evicted = lock(&self.cache).insert(id, handle);
        self.destroy_unwrapped(&evicted);
        Ok(handle)
    }

    /// Destroys session objects the cache let go; a failure only leaves an object that
    /// dies with its session.
    fn destroy_unwrapped(&self, handles: &[ObjectHandle]) {
        if handles.is_empty() {
            return;
        }
        let anchor = lock(&self.anchor);
        let Some(session) = anchor.as_ref() else {
            return;
        };
        for handle in handles {
            if let Err(e) = session.destroy_object(*handle) {
                tracing::warn!(error = %e, "cannot destroy an unwrapped session object");
            }
        }
    }

    /// Destroys every unwrapped session object (at shutdown, or when the login's session
    /// is replaced and takes them with it).
    pub(super) fn drop_all_unwrapped(&self) {
        let all = lock(&self.cache).clear();
        self.destroy_unwrapped(&all);
    }

    /// Forgets the cached object of `id` and destroys it (the material is being destroyed).
    pub(super) fn forget_unwrapped(&self, id: Uuid) {
        let handle = lock(&self.cache).remove(id);
        self.destroy_unwrapped(&handle.into_iter().collect::<Vec<_>>());
    }

    /// Finds the KEK by its label and checks it is one: AES, sensitive, never extractable,
    /// able to wrap and unwrap. A token without one serves no wrapped material.
    pub(super) fn find_kek(&self, session: &Session, label: &str) -> Result<Option<Kek>, HsmError> {
        let found = session.find_objects(&templates::kek_by_label(label))?;
        let [handle] = found.as_slice() else {
            if found.len() > 1 {
                return Err(HsmError::new(
                    Fault::Other,
                    format!("several objects are labelled {label:?}; the key-encryption key is ambiguous"),
                ));
            }
            return Ok(None);
        };
        let wanted = [
            AttributeType::Id,
            AttributeType::Sensitive,
            AttributeType::Extractable,
            AttributeType::Wrap,
            AttributeType::Unwrap,
            AttributeType::Trusted,
        ];
        let attributes = session.get_attributes(*handle, &wanted)?;
        let id = id_in(&attributes);
        let mut flags = Vec::new();
        for attribute in attributes {
            match attribute {
                Attribute::Sensitive(v) => flags.push(("sensitive", v)),
                Attribute::Extractable(v) => flags.push(("not extractable", !v)),
                Attribute::Wrap(v) => flags.push(("wrap", v)),
                Attribute::Unwrap(v) => flags.push(("unwrap", v)),
                Attribute::Trusted(v) => flags.push(("trusted", v)),
                _ => {}
            }
        }
        let missing: Vec<_> = flags
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(n, _)| *n)
            .collect();
        match (id, missing.is_empty()) {
            (Some(id), true) => Ok(Some(Kek {
                id,
                handle: *handle,
            })),
            _ => Err(HsmError::new(
                Fault::Other,
                format!("the object labelled {label:?} is not a usable key-encryption key (lacks: {missing:?})"),
            )),
        }
    }
}

/// The CKA_ID among `attributes`, when it is a UUID.
fn id_in(attributes: &[Attribute]) -> Option<Uuid> {
    attributes.iter().find_map(|a| match a {
        Attribute::Id(bytes) => Uuid::from_slice(bytes).ok(),
        _ => None,
    })
}

fn binding_input(id: Uuid, kek: Uuid, blob: &[u8]) -> Vec<u8> {
    let mut data = b"hsmkms-wrapped-v1".to_vec();
    data.extend_from_slice(id.as_bytes());
    data.extend_from_slice(kek.as_bytes());
    data.extend_from_slice(blob);
    data
}

/// `hsmkms token create-kek`: logs in as the security officer and makes the KEK, trusted,
/// unless one with the configured label exists. Answers its CKA_ID and whether it is new.
pub fn create_kek(
    settings: &HsmSettings,
    so_pin: Zeroizing<String>,
) -> Result<(Uuid, bool), HsmError> {
    let ctx = super::load_module(settings)?;
    let (slot, _) = find_slot(&ctx, settings)?;
    let session = ctx.open_rw_session(slot)?;
    session.login(
        UserType::So,
        Some(&cryptoki::types::AuthPin::from(so_pin.as_str())),
    )?;
    let label = &settings.kek_label;
    let existing = session.find_objects(&templates::kek_by_label(label))?;
    let made = match existing.as_slice() {
        [] => {
            let id = Uuid::new_v4();
            let template = templates::key_encryption_key(id, label);
            session.generate_key(&Mechanism::AesKeyGen, &template)?;
            (id, true)
        }
        [handle] => {
            let attributes = session.get_attributes(*handle, &[AttributeType::Id])?;
            let id = id_in(&attributes).ok_or_else(|| {
                HsmError::new(Fault::Other, format!("{label:?} has no usable CKA_ID"))
            })?;
            (id, false)
        }
        _ => {
            return Err(HsmError::new(
                Fault::Other,
                format!("several objects are labelled {label:?}"),
            ))
        }
    };
    session.logout()?;
    drop(session);
    ctx.finalize()?;
    Ok(made)
}
