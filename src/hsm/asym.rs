//! Asymmetric and HMAC keys: key pairs and HMAC keys generated in the token, signatures and
//! MACs made and checked by it, public keys read from it. Private and secret halves are
//! sensitive, non-extractable, non-modifiable and non-copyable token objects.

use std::collections::HashMap;

use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use uuid::Uuid;

use super::templates::{self, LABEL_PREFIX};
use super::{duplicate_id, read, spki, write, Fault, Hsm, HsmError, Inner, Origin};

/// An elliptic curve AWS offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    /// NIST P-256.
    P256,
    /// NIST P-384.
    P384,
    /// NIST P-521.
    P521,
    /// SECG secp256k1.
    Secp256k1,
}

impl Curve {
    const ALL: [Curve; 4] = [Curve::P256, Curve::P384, Curve::P521, Curve::Secp256k1];

    /// The curve's OID, DER-encoded: CKA_EC_PARAMS and the SPKI parameters.
    pub(super) fn oid_der(self) -> &'static [u8] {
        match self {
            Curve::P256 => &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
            Curve::P384 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
            Curve::P521 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23],
            Curve::Secp256k1 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a],
        }
    }

    /// Bytes of a field element (and of r and s in a raw ECDSA signature).
    pub fn field_len(self) -> usize {
        match self {
            Curve::P256 | Curve::Secp256k1 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    fn probe_name(self) -> &'static str {
        match self {
            Curve::P256 => "CKM_EC_KEY_PAIR_GEN(P-256)",
            Curve::P384 => "CKM_EC_KEY_PAIR_GEN(P-384)",
            Curve::P521 => "CKM_EC_KEY_PAIR_GEN(P-521)",
            Curve::Secp256k1 => "CKM_EC_KEY_PAIR_GEN(secp256k1)",
        }
    }
}

/// A key pair's algorithm and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairKind {
    /// RSA with a modulus of this many bits, public exponent 65537.
    Rsa(u64),
    /// EC on this curve.
    Ec(Curve),
}

/// The one thing a key pair's private half may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairUse {
    /// Sign (the public half verifies).
    Sign,
    /// Decrypt (the public half encrypts).
    Decrypt,
    /// ECDH derivation.
    Derive,
}

/// A SHA-2 hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-224.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Hash {
    /// Digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Hash::Sha224 => 28,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }

    /// The hash's block size in bytes: the longest HMAC key AWS imports for it.
    pub fn block_len(self) -> usize {
        match self {
            Hash::Sha224 | Hash::Sha256 => 64,
            Hash::Sha384 | Hash::Sha512 => 128,
        }
    }

    fn mechanism_type(self) -> MechanismType {
        match self {
            Hash::Sha224 => MechanismType::SHA224,
            Hash::Sha256 => MechanismType::SHA256,
            Hash::Sha384 => MechanismType::SHA384,
            Hash::Sha512 => MechanismType::SHA512,
        }
    }

    fn mgf(self) -> PkcsMgfType {
        match self {
            Hash::Sha224 => PkcsMgfType::MGF1_SHA224,
            Hash::Sha256 => PkcsMgfType::MGF1_SHA256,
            Hash::Sha384 => PkcsMgfType::MGF1_SHA384,
            Hash::Sha512 => PkcsMgfType::MGF1_SHA512,
        }
    }

    pub(super) fn hmac(self) -> Mechanism<'static> {
        match self {
            Hash::Sha224 => Mechanism::Sha224Hmac,
            Hash::Sha256 => Mechanism::Sha256Hmac,
            Hash::Sha384 => Mechanism::Sha384Hmac,
            Hash::Sha512 => Mechanism::Sha512Hmac,
        }
    }

    pub(super) fn hmac_type(self) -> (MechanismType, &'static str) {
        match self {
            Hash::Sha224 => (MechanismType::SHA224_HMAC, "CKM_SHA224_HMAC"),
            Hash::Sha256 => (MechanismType::SHA256_HMAC, "CKM_SHA256_HMAC"),
            Hash::Sha384 => (MechanismType::SHA384_HMAC, "CKM_SHA384_HMAC"),
            Hash::Sha512 => (MechanismType::SHA512_HMAC, "CKM_SHA512_HMAC"),
        }
    }

    /// The DER DigestInfo prefix of EMSA-PKCS1-v1_5 (RFC 8017 section 9.2, note 1).
    fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Hash::Sha224 => &[
                0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x04, 0x05, 0x00, 0x04, 0x1c,
            ],
            Hash::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            Hash::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            Hash::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }
}

/// How a digest is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignScheme {
    /// RSASSA-PKCS1-v1_5: DigestInfo here, CKM_RSA_PKCS in the token.
    Pkcs1(Hash),
    /// RSASSA-PSS with MGF1 of the same hash and a salt as long as the digest.
    Pss(Hash),
    /// ECDSA (CKM_ECDSA, r || s from the token, DER on the wire).
    Ecdsa(Curve),
}

/// The mechanisms found by probing at start-up, by PKCS#11 name.
#[derive(Debug, Clone, Default)]
pub struct Mechanisms {
    /// Name to whether the token offers it.
    found: HashMap<&'static str, bool>,
}

impl Mechanisms {
    fn has(&self, name: &str) -> bool {
        self.found.get(name).copied().unwrap_or(false)
    }

    fn first_missing(&self, needed: &[&'static str]) -> Option<&'static str> {
        needed.iter().copied().find(|name| !self.has(name))
    }
}

impl Hsm {
    /// The first mechanism a key pair of `kind` for `usage` needs that the token lacks.
    pub fn missing_for_pair(&self, kind: PairKind, usage: PairUse) -> Option<&'static str> {
        let needed: Vec<&'static str> = match (kind, usage) {
            (PairKind::Rsa(_), PairUse::Sign) => vec![
                "CKM_RSA_PKCS_KEY_PAIR_GEN",
                "CKM_RSA_PKCS",
                "CKM_RSA_PKCS_PSS",
            ],
            (PairKind::Rsa(_), _) => vec!["CKM_RSA_PKCS_KEY_PAIR_GEN", "CKM_RSA_PKCS_OAEP"],
            (PairKind::Ec(curve), PairUse::Derive) => {
                vec![curve.probe_name(), "CKM_ECDH1_DERIVE"]
            }
            (PairKind::Ec(curve), _) => vec![curve.probe_name(), "CKM_ECDSA"],
        };
        self.inner.mechanisms.first_missing(&needed)
    }

    /// The first mechanism an HMAC key over `hash` needs that the token lacks.
    pub fn missing_for_hmac(&self, hash: Hash) -> Option<&'static str> {
        let needed = ["CKM_GENERIC_SECRET_KEY_GEN", hash.hmac_type().1];
        self.inner.mechanisms.first_missing(&needed)
    }

    /// Generates a key pair with CKA_ID `id`, both halves token objects; the private half
    /// may only do `usage`.
    pub async fn generate_key_pair(
        &self,
        id: Uuid,
        owner: String,
        kind: PairKind,
        usage: PairUse,
    ) -> Result<(), HsmError> {
        self.call_once(move |inner, session| {
            if read(&inner.handles).contains_key(&id) {
                return Err(duplicate_id(id));
            }
            let label = format!("{LABEL_PREFIX}{owner}/{id}").into_bytes();
            let allowed = inner
                .restrict
                .then(|| inner.private_mechanisms(kind, usage));
            let (mechanism, public, private) = pair_templates(id, &label, (kind, usage), allowed);
            let (public, private) = session.generate_key_pair(&mechanism, &public, &private)?;
            inner.remember(id, private, Origin::Generated);
            write(&inner.public).insert(id, public);
            Ok(())
        })
        .await
    }

    /// Generates a generic-secret HMAC key of `len` bytes with CKA_ID `id`, usable only for
    /// HMAC over `hash` where the token can restrict it.
    pub async fn generate_hmac_key(
        &self,
        id: Uuid,
        owner: String,
        (len, hash): (usize, Hash),
    ) -> Result<(), HsmError> {
        self.call_once(move |inner, session| {
            if read(&inner.handles).contains_key(&id) {
                return Err(duplicate_id(id));
            }
            let len = u64::try_from(len).map_err(|e| HsmError::new(Fault::Other, e.to_string()))?;
            let hmac = inner.restrict.then_some(hash.hmac_type().0);
            let template = templates::hmac_key(id, &owner, Some(len), hmac);
            let handle = session.generate_key(&Mechanism::GenericSecretKeyGen, &template)?;
            inner.remember(id, handle, Origin::Generated);
            Ok(())
        })
        .await
    }

    /// Signs `digest` with the private half of `id`; ECDSA signatures come back DER-encoded.
    pub async fn sign_digest(
        &self,
        id: Uuid,
        scheme: SignScheme,
        digest: Vec<u8>,
    ) -> Result<Vec<u8>, HsmError> {
        self.call(move |inner, session| {
            let (mechanism, data) = sign_input(scheme, &digest);
            let signature = inner.with_key(session, id, |handle| {
                session.sign(&mechanism, handle, &data)
            })?;
            match scheme {
                SignScheme::Ecdsa(_) => spki::ecdsa_raw_to_der(&signature)
                    .ok_or_else(|| HsmError::new(Fault::Other, "odd-length ECDSA signature")),
                _ => Ok(signature),
            }
        })
        .await
    }

    /// Whether `signature` is a valid signature of `digest` by `id`, checked by the token
    /// with the public half. A malformed ECDSA signature is simply not valid.
    pub async fn verify_digest(
        &self,
        id: Uuid,
        scheme: SignScheme,
        digest: Vec<u8>,
        signature: Vec<u8>,
    ) -> Result<bool, HsmError> {
        self.call(move |inner, session| {
            let signature = match scheme {
                SignScheme::Ecdsa(curve) => {
                    match spki::ecdsa_der_to_raw(&signature, curve.field_len()) {
                        Some(raw) => raw,
                        None => return Ok(false),
                    }
                }
                _ => signature.clone(),
            };
            let (mechanism, data) = sign_input(scheme, &digest);
            inner.with_public(session, id, |handle| {
                valid(session.verify(&mechanism, handle, &data, &signature))
            })
        })
        .await
    }

    /// The HMAC of `message` under key `id`.
    pub async fn key_mac(
        &self,
        id: Uuid,
        hash: Hash,
        message: Vec<u8>,
    ) -> Result<Vec<u8>, HsmError> {
        self.call(move |inner, session| {
            inner.with_key(session, id, |handle| {
                session.sign(&hash.hmac(), handle, &message)
            })
        })
        .await
    }

    /// Whether `mac` is the HMAC of `message` under key `id`, checked by the token.
    pub async fn verify_key_mac(
        &self,
        id: Uuid,
        hash: Hash,
        message: Vec<u8>,
        mac: Vec<u8>,
    ) -> Result<bool, HsmError> {
        self.call(move |inner, session| {
            inner.with_key(session, id, |handle| {
                valid(session.verify(&hash.hmac(), handle, &message, &mac))
            })
        })
        .await
    }

    /// The DER SubjectPublicKeyInfo of key pair `id`, read from its public half.
    pub async fn public_key(&self, id: Uuid) -> Result<Vec<u8>, HsmError> {
        self.call(move |inner, session| {
            let wanted = [
                AttributeType::KeyType,
                AttributeType::Modulus,
                AttributeType::PublicExponent,
                AttributeType::EcParams,
                AttributeType::EcPoint,
            ];
            let attributes = inner.with_public(session, id, |handle| {
                session.get_attributes(handle, &wanted)
            })?;
            spki_of(&attributes)
                .ok_or_else(|| HsmError::new(Fault::Other, "unreadable public key object"))
        })
        .await
    }
}

impl Inner {
    /// The mechanisms the private half of a `kind` pair for `usage` may be used with: what
    /// its operations need, raw RSA only where the host-decoding fallback will need it.
    pub(super) fn private_mechanisms(&self, kind: PairKind, usage: PairUse) -> Vec<MechanismType> {
        match (kind, usage) {
            (PairKind::Rsa(_), PairUse::Sign) => {
                vec![MechanismType::RSA_PKCS, MechanismType::RSA_PKCS_PSS]
            }
            (PairKind::Rsa(_), _) => {
                let mut mechanisms = vec![MechanismType::RSA_PKCS_OAEP];
                let host = self.host_decoding && !self.capabilities.oaep_sha256;
                mechanisms.extend(host.then_some(MechanismType::RSA_X_509));
                mechanisms
            }
            (PairKind::Ec(_), PairUse::Derive) => vec![MechanismType::ECDH1_DERIVE],
            (PairKind::Ec(_), _) => vec![MechanismType::ECDSA],
        }
    }

    /// Runs `op` on the public half of key pair `id`, looked up again if its cached handle
    /// went stale.
    pub(super) fn with_public<R>(
        &self,
        session: &Session,
        id: Uuid,
        op: impl Fn(ObjectHandle) -> Result<R, CkError>,
    ) -> Result<R, HsmError> {
        let lookup = || self.public_handle(session, id);
        let relookup = || {
            write(&self.public).remove(&id);
            self.public_handle(session, id)
        };
        super::retry_stale(lookup, relookup, op)
    }

    /// The public half of key pair `id`, cached after the first search. A pair without it
    /// is not usable: its private half is forgotten too, so the key shows Unavailable.
    fn public_handle(&self, session: &Session, id: Uuid) -> Result<ObjectHandle, HsmError> {
        if let Some(handle) = read(&self.public).get(&id) {
            return Ok(*handle);
        }
        let template = [
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Id(id.as_bytes().to_vec()),
        ];
        match session.find_objects(&template)?.as_slice() {
            [handle] => {
                write(&self.public).insert(id, *handle);
                Ok(*handle)
            }
            [] => {
                write(&self.handles).remove(&id);
                Err(HsmError::new(
                    Fault::KeyMissing,
                    format!("no public key object {id}"),
                ))
            }
            _ => Err(HsmError::new(
                Fault::Other,
                format!("several public key objects have CKA_ID {id}"),
            )),
        }
    }

    /// Destroys the public half of key pair `id`, if there is one.
    pub(super) fn destroy_public(&self, session: &Session, id: Uuid) -> Result<(), HsmError> {
        write(&self.public).remove(&id);
        let template = [
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::Id(id.as_bytes().to_vec()),
        ];
        for handle in session.find_objects(&template)? {
            session.destroy_object(handle)?;
        }
        Ok(())
    }

    /// Probes the mechanisms asymmetric and HMAC keys need, one by one, and each curve by
    /// generating a throw-away session key pair on it; logs the table.
    pub(super) fn probe_mechanisms(&self, session: &Session) -> Result<Mechanisms, HsmError> {
        let listed = [
            (
                MechanismType::RSA_PKCS_KEY_PAIR_GEN,
                "CKM_RSA_PKCS_KEY_PAIR_GEN",
            ),
            (MechanismType::RSA_PKCS, "CKM_RSA_PKCS"),
            (MechanismType::RSA_PKCS_PSS, "CKM_RSA_PKCS_PSS"),
            (MechanismType::RSA_PKCS_OAEP, "CKM_RSA_PKCS_OAEP"),
            (MechanismType::ECC_KEY_PAIR_GEN, "CKM_EC_KEY_PAIR_GEN"),
            (MechanismType::ECDSA, "CKM_ECDSA"),
            (MechanismType::ECDH1_DERIVE, "CKM_ECDH1_DERIVE"),
            (
                MechanismType::GENERIC_SECRET_KEY_GEN,
                "CKM_GENERIC_SECRET_KEY_GEN",
            ),
        ];
        let hmacs = [Hash::Sha224, Hash::Sha256, Hash::Sha384, Hash::Sha512].map(Hash::hmac_type);
        let mut found = HashMap::new();
        for (mechanism, name) in listed.into_iter().chain(hmacs) {
            let has = self.ctx.get_mechanism_info(self.slot, mechanism).is_ok();
            found.insert(name, has);
        }
        let ec = found.get("CKM_EC_KEY_PAIR_GEN").copied().unwrap_or(false);
        for curve in Curve::ALL {
            found.insert(curve.probe_name(), ec && curve_works(session, curve)?);
        }
        let mut table: Vec<_> = found.iter().map(|(k, v)| (*k, *v)).collect();
        table.sort_unstable();
        for (name, has) in &table {
            tracing::info!(mechanism = name, available = has, "token mechanism");
        }
        Ok(Mechanisms { found })
    }
}

/// Generates and destroys a session key pair on `curve`.
fn curve_works(session: &Session, curve: Curve) -> Result<bool, HsmError> {
    let public = [
        Attribute::Token(false),
        Attribute::EcParams(curve.oid_der().to_vec()),
        Attribute::Verify(true),
    ];
    let private = [Attribute::Token(false), Attribute::Sign(true)];
    match session.generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private) {
        Ok((public, private)) => {
            session.destroy_object(public)?;
            session.destroy_object(private)?;
            Ok(true)
        }
        Err(_) => Ok(false),
    }
}

/// A token's answer to C_Verify as a verdict: a bad signature is `false`, not an error.
fn valid(result: Result<(), CkError>) -> Result<bool, CkError> {
    match result {
        Ok(()) => Ok(true),
        Err(CkError::Pkcs11(RvError::SignatureInvalid | RvError::SignatureLenRange, _)) => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// The mechanism and the bytes the token signs for `scheme`.
fn sign_input(scheme: SignScheme, digest: &[u8]) -> (Mechanism<'static>, Vec<u8>) {
    match scheme {
        SignScheme::Pkcs1(hash) => {
            let mut info = hash.digest_info_prefix().to_vec();
            info.extend_from_slice(digest);
            (Mechanism::RsaPkcs, info)
        }
        SignScheme::Pss(hash) => {
            let params = PkcsPssParams {
                hash_alg: hash.mechanism_type(),
                mgf: hash.mgf(),
                s_len: (hash.digest_len() as u64).into(),
            };
            (Mechanism::RsaPkcsPss(params), digest.to_vec())
        }
        SignScheme::Ecdsa(_) => (Mechanism::Ecdsa, digest.to_vec()),
    }
}

/// The generation mechanism and the public and private templates of a key pair.
fn pair_templates(
    id: Uuid,
    label: &[u8],
    (kind, usage): (PairKind, PairUse),
    allowed: Option<Vec<MechanismType>>,
) -> (Mechanism<'static>, Vec<Attribute>, Vec<Attribute>) {
    let mut public = public_half(id, label, usage);
    let private = private_half(id, label, usage, allowed);
    let mechanism = match kind {
        PairKind::Rsa(bits) => {
            public.push(Attribute::ModulusBits(bits.into()));
            public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
            Mechanism::RsaPkcsKeyPairGen
        }
        PairKind::Ec(curve) => {
            public.push(Attribute::EcParams(curve.oid_der().to_vec()));
            Mechanism::EccKeyPairGen
        }
    };
    (mechanism, public, private)
}

/// The attributes of a public half that serves `usage`.
pub(super) fn public_half(id: Uuid, label: &[u8], usage: PairUse) -> Vec<Attribute> {
    vec![
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Modifiable(false),
        Attribute::Verify(usage == PairUse::Sign),
        Attribute::Encrypt(usage == PairUse::Decrypt),
        Attribute::Wrap(false),
        Attribute::Derive(false),
        Attribute::Id(id.as_bytes().to_vec()),
        Attribute::Label(label.to_vec()),
    ]
}

/// The attributes of a private half that may only do `usage`, with the `allowed`
/// mechanisms where the token restricts them; CKA_MODIFIABLE false goes last.
pub(super) fn private_half(
    id: Uuid,
    label: &[u8],
    usage: PairUse,
    allowed: Option<Vec<MechanismType>>,
) -> Vec<Attribute> {
    let mut private = vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Copyable(false),
        Attribute::Sign(usage == PairUse::Sign),
        Attribute::Decrypt(usage == PairUse::Decrypt),
        Attribute::Derive(usage == PairUse::Derive),
        Attribute::Unwrap(false),
        Attribute::Id(id.as_bytes().to_vec()),
        Attribute::Label(label.to_vec()),
    ];
    private.extend(allowed.map(Attribute::AllowedMechanisms));
    private.push(Attribute::Modifiable(false));
    private
}

/// The SPKI of a public key object's attributes, RSA or EC.
fn spki_of(attributes: &[Attribute]) -> Option<Vec<u8>> {
    let (mut key_type, mut n, mut e, mut params, mut point) = (None, None, None, None, None);
    for attribute in attributes {
        match attribute {
            Attribute::KeyType(t) => key_type = Some(*t),
            Attribute::Modulus(v) => n = Some(v.as_slice()),
            Attribute::PublicExponent(v) => e = Some(v.as_slice()),
            Attribute::EcParams(v) => params = Some(v.as_slice()),
            Attribute::EcPoint(v) => point = Some(v.as_slice()),
            _ => {}
        }
    }
    match key_type? {
        KeyType::RSA => Some(spki::rsa_spki_der(n?, e?)),
        KeyType::EC => {
            let params = params?;
            let curve = Curve::ALL.into_iter().find(|c| c.oid_der() == params)?;
            let point = spki::ec_point(point?, curve.field_len())?;
            Some(spki::ec_spki_der(curve.oid_der(), point))
        }
        _ => None,
    }
}
