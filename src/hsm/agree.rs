//! ECDH in the token (DeriveSharedSecret): the private half of a KEY_AGREEMENT key pair and
//! the peer's point derive a session secret (CKD_NULL: the raw x coordinate), whose value is
//! read once, as AWS returns it, and whose object is destroyed at once. Also the two helpers
//! every session object whose value leaves the token uses.

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::{spki, Curve, Fault, Hsm, HsmError};

/// A peer's public key, checked for form: an uncompressed point on a known curve.
pub struct PeerPoint {
    curve: Curve,
    point: Vec<u8>,
}

impl PeerPoint {
    /// The point in a peer's DER SubjectPublicKeyInfo on `curve`; `None` when it is not an
    /// EC SPKI, names another curve, or carries a compressed point.
    pub fn from_spki(spki: &[u8], curve: Curve) -> Option<PeerPoint> {
        let point = spki::ec_spki_point(spki, curve.oid_der(), curve.field_len())?;
        Some(PeerPoint {
            curve,
            point: point.to_vec(),
        })
    }
}

impl Hsm {
    /// The ECDH shared secret of key pair `id` and `peer`; `None` when the token refuses the
    /// peer's point (not on the curve).
    pub async fn derive_shared_secret(
        &self,
        id: Uuid,
        peer: PeerPoint,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, HsmError> {
        self.call(move |inner, session| {
            let derived = inner.with_key(session, id, |private| {
                derive(session, private, &peer.point, peer.curve.field_len())
            })?;
            let Some(secret) = derived else {
                return Ok(None);
            };
            let read = read_values(session, secret, [AttributeType::Value]);
            destroy_at_once(session, &[secret])?;
            let [value] = read?;
            Ok(Some(value))
        })
        .await
    }
}

/// C_DeriveKey with CKM_ECDH1_DERIVE into an extractable, non-sensitive session secret of
/// `len` bytes; `None` when the token refuses the peer's point. The point was checked for
/// form and length already, so a refused derivation means the point itself is bad.
fn derive(
    session: &Session,
    private: ObjectHandle,
    point: &[u8],
    len: usize,
) -> Result<Option<ObjectHandle>, CkError> {
    let mechanism = Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), point));
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::ValueLen((len as u64).into()),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::Encrypt(false),
        Attribute::Decrypt(false),
        Attribute::Sign(false),
        Attribute::Verify(false),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
        Attribute::Derive(false),
    ];
    match session.derive_key(&mechanism, private, &template) {
        Ok(handle) => Ok(Some(handle)),
        Err(CkError::Pkcs11(
            RvError::ArgumentsBad
            | RvError::MechanismParamInvalid
            | RvError::DomainParamsInvalid
            | RvError::GeneralError
            | RvError::FunctionFailed,
            _,
        )) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The values of `wanted` of a session object, in that order, each moved (not copied) into
/// a buffer wiped when dropped. cryptoki 0.12 reads them through buffers of its own, which
/// it frees without wiping; nothing else keeps a copy.
pub(super) fn read_values<const N: usize>(
    session: &Session,
    object: ObjectHandle,
    wanted: [AttributeType; N],
) -> Result<[Zeroizing<Vec<u8>>; N], HsmError> {
    let mut found: Vec<(AttributeType, Zeroizing<Vec<u8>>)> = session
        .get_attributes(object, &wanted)?
        .into_iter()
        .filter_map(|a| {
            let kind = a.attribute_type();
            bytes_of(a).map(|bytes| (kind, Zeroizing::new(bytes)))
        })
        .collect();
    let values = wanted
        .iter()
        .map(|kind| {
            let at = found
                .iter()
                .position(|(k, _)| k == kind)
                .ok_or_else(unreadable)?;
            Ok(found.swap_remove(at).1)
        })
        .collect::<Result<Vec<_>, HsmError>>()?;
    <[_; N]>::try_from(values).map_err(|_| unreadable())
}

/// The bytes an attribute carries, for the attributes of key values.
fn bytes_of(attribute: Attribute) -> Option<Vec<u8>> {
    match attribute {
        Attribute::Value(v)
        | Attribute::EcPoint(v)
        | Attribute::Modulus(v)
        | Attribute::PublicExponent(v)
        | Attribute::PrivateExponent(v)
        | Attribute::Prime1(v)
        | Attribute::Prime2(v)
        | Attribute::Exponent1(v)
        | Attribute::Exponent2(v)
        | Attribute::Coefficient(v) => Some(v),
        _ => None,
    }
}

/// Destroys session objects as soon as their values are read. If the token will not, the
/// error is unclassified, so the session is closed rather than pooled, and closing it
/// destroys them.
pub(super) fn destroy_at_once(session: &Session, objects: &[ObjectHandle]) -> Result<(), HsmError> {
    let failed = objects
        .iter()
        .map(|object| session.destroy_object(*object))
        .filter_map(Result::err)
        .last();
    match failed {
        None => Ok(()),
        Some(e) => Err(HsmError::new(
            Fault::Other,
            format!("session objects not destroyed, closing their session: {e}"),
        )),
    }
}

fn unreadable() -> HsmError {
    HsmError::new(Fault::Other, "the token did not return a key value")
}
