//! Importing key material: RSA wrapping key pairs generated in the token, material unwrapped
//! by the token straight into sensitive, non-extractable AES keys, and key check values.

use std::ops::RangeInclusive;

use cryptoki::error::Error as CkError;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::templates::{self, LABEL_PREFIX};
use super::{oaep, spki, Fault, Hash, Hsm, HsmError, Inner, Origin, PairUse};

/// The block whose encryption, truncated, is a material's key check value.
pub(super) const KCV_BLOCK: [u8; 16] = *b"hsmkms.kcv.v1\0\0\0";
/// Bytes of that encryption kept: enough to tell materials apart (a chance match is
/// 2^-64), and never a whole cipher block of a known plaintext.
pub const KCV_LEN: usize = 8;
/// Bytes of key material a SYMMETRIC_DEFAULT key takes.
const AES_256_LEN: usize = 32;

/// What the token can do for imports, found by probing at start-up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// CKM_RSA_PKCS_OAEP with SHA-1 and MGF1-SHA1.
    pub oaep_sha1: bool,
    /// CKM_RSA_PKCS_OAEP with SHA-256 and MGF1-SHA256 (SoftHSM2 2.6 lacks it).
    pub oaep_sha256: bool,
    /// RFC 5649 key wrap with padding (CKM_AES_KEY_WRAP_PAD).
    pub aes_key_wrap_pad: bool,
    /// Raw RSA (CKM_RSA_X_509), for the explicit host-decoding fallback.
    pub rsa_x509: bool,
}

/// The RSA-OAEP hash of a wrapping algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OaepHash {
    /// SHA-1 with MGF1-SHA1.
    Sha1,
    /// SHA-256 with MGF1-SHA256.
    Sha256,
}

/// How the encrypted key material is wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wrapping {
    /// The OAEP hash of the RSA step.
    pub hash: OaepHash,
    /// RSA-wrapped ephemeral AES key, then the material under RFC 5649 (RSA_AES_KEY_WRAP_*).
    pub two_step: bool,
    /// Decode OAEP in the daemon after a raw RSA operation in the token (opt-in fallback).
    pub host_decoding: bool,
}

/// A fresh wrapping key pair: its private half stays in the token.
#[derive(Debug, Clone)]
pub struct WrappingKey {
    /// DER SubjectPublicKeyInfo of the public half.
    pub public_key: Vec<u8>,
}

impl Hsm {
    /// The import mechanisms this token offers.
    pub fn capabilities(&self) -> Capabilities {
        self.inner.capabilities
    }

    /// Whether settings allow OAEP decoding in the daemon when the token cannot do it.
    pub fn host_decoding_allowed(&self) -> bool {
        self.inner.host_decoding && self.inner.capabilities.rsa_x509
    }

    /// Generates an RSA key pair with CKA_ID `id`: the private half a token object,
    /// sensitive, non-extractable and usable only to unwrap (and to decrypt raw RSA when
    /// `raw_decrypt`, for the host-decoding fallback); the public half is read and dropped.
    pub async fn generate_wrapping_key(
        &self,
        id: Uuid,
        owner: String,
        bits: u64,
        raw_decrypt: bool,
    ) -> Result<WrappingKey, HsmError> {
        self.call_once(move |inner, session| {
            let public = [
                Attribute::Token(false),
                Attribute::ModulusBits(bits.into()),
                Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
                Attribute::Wrap(true),
                Attribute::Encrypt(true),
            ];
            let mut private = vec![
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Copyable(false),
                Attribute::Unwrap(true),
                Attribute::Decrypt(raw_decrypt),
                Attribute::Sign(false),
                Attribute::Derive(false),
                Attribute::Id(id.as_bytes().to_vec()),
                Attribute::Label(format!("{LABEL_PREFIX}import/{owner}/{id}").into_bytes()),
            ];
            if inner.restrict {
                let mut mechanisms = vec![MechanismType::RSA_PKCS_OAEP];
                mechanisms.extend(raw_decrypt.then_some(MechanismType::RSA_X_509));
                private.push(Attribute::AllowedMechanisms(mechanisms));
            }
            private.push(Attribute::Modifiable(false));
            let (public, _) =
                session.generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)?;
            let attributes = session.get_attributes(
                public,
                &[AttributeType::Modulus, AttributeType::PublicExponent],
            );
            session.destroy_object(public)?;
            let (mut n, mut e) = (Vec::new(), Vec::new());
            for attribute in attributes? {
                match attribute {
                    Attribute::Modulus(v) => n = v,
                    Attribute::PublicExponent(v) => e = v,
                    _ => {}
                }
            }
            Ok(WrappingKey {
                public_key: spki::rsa_spki_der(&n, &e),
            })
        })
        .await
    }

    /// Destroys the private half of wrapping key `id`; succeeds if it is already gone.
    pub async fn destroy_wrapping_key(&self, id: Uuid) -> Result<(), HsmError> {
        self.call(move |_, session| {
            for handle in session.find_objects(&private_key(id))? {
                session.destroy_object(handle)?;
            }
            Ok(())
        })
        .await
    }

    /// Unwraps `wrapped` with wrapping key `wrapping_id` into a token key of `kind` with
    /// CKA_ID `target`, and returns the new key's check value. Material that does not
    /// unwrap is `Fault::BadCiphertext`; material of the wrong size is reported as
    /// `Fault::WrongKeySize` and leaves nothing on the token.
    pub async fn unwrap_material(
        &self,
        (wrapping_id, wrapping): (Uuid, Wrapping),
        wrapped: Vec<u8>,
        (target, owner): (Uuid, String),
        kind: ImportedKey,
    ) -> Result<[u8; KCV_LEN], HsmError> {
        self.call_once(move |inner, session| {
            let private = find_one(session, &private_key(wrapping_id))?;
            let unwrapping = Unwrapping {
                private,
                wrapping,
                wrapped: &wrapped,
            };
            match kind {
                ImportedKey::Aes256 => inner.unwrap_aes(session, &unwrapping, target, &owner),
                ImportedKey::Hmac(hash) => {
                    inner.unwrap_hmac(session, &unwrapping, (target, &owner), hash)
                }
                ImportedKey::Rsa(bits, usage) => {
                    inner.unwrap_rsa(session, &unwrapping, (target, &owner), (bits, usage))
                }
            }
        })
        .await
    }
}

/// What imported material becomes in the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportedKey {
    /// The AES-256 material of a SYMMETRIC_DEFAULT key.
    Aes256,
    /// An HMAC key over this hash.
    Hmac(Hash),
    /// An RSA private key (PKCS#8) with a modulus of this many bits whose private half may
    /// do this; its public half is made from the modulus and exponent.
    Rsa(u64, PairUse),
}

/// One import's inputs: the wrapping key's private half, how the material is wrapped, and
/// the wrapped bytes.
pub(super) struct Unwrapping<'a> {
    pub(super) private: ObjectHandle,
    pub(super) wrapping: Wrapping,
    pub(super) wrapped: &'a [u8],
}

impl Inner {
    /// AES-256 material, unwrapped twice: first into a session object that may only compute
    /// the check value, then into the token object, which may only do AES-GCM.
    fn unwrap_aes(
        &self,
        session: &Session,
        unwrapping: &Unwrapping<'_>,
        target: Uuid,
        owner: &str,
    ) -> Result<[u8; KCV_LEN], HsmError> {
        let aes = AES_256_LEN..=AES_256_LEN;
        let probe = templates::check_value_probe(self.restrict);
        let probe = self.unwrap_into(session, unwrapping, &probe, aes.clone())?;
        let checked = check_size(session, probe).and_then(|()| kcv(session, probe));
        session.destroy_object(probe)?;
        let kcv = checked?;
        let template = templates::imported_aes_key(target, owner, self.restrict);
        let key = self.unwrap_into(session, unwrapping, &template, aes)?;
        self.remember(target, key, Origin::Unwrapped);
        Ok(kcv)
    }

    /// Runs the unwrap steps the wrapping names, all inside the token except OAEP decoding
    /// when `host_decoding` is set. Material whose length is visible here (RFC 5649 output,
    /// host-decoded OAEP) must have a length in `lengths`.
    pub(super) fn unwrap_into(
        &self,
        session: &Session,
        unwrapping: &Unwrapping<'_>,
        template: &[Attribute],
        lengths: RangeInclusive<usize>,
    ) -> Result<ObjectHandle, HsmError> {
        let Unwrapping {
            private,
            wrapping,
            wrapped,
        } = *unwrapping;
        let modulus_len = modulus_len(session, private)?;
        if !wrapping.two_step {
            return self.rsa_unwrap(session, (private, wrapping), wrapped, template, lengths);
        }
        if wrapped.len() <= modulus_len {
            return Err(bad_material());
        }
        let (rsa_part, aes_part) = wrapped.split_at(modulus_len);
        // RFC 5649 output is the key rounded up to 8 bytes, plus 8: AES-256 wraps to 40.
        let padded = |len: usize| len.div_ceil(8) * 8 + 8;
        if !(padded(*lengths.start())..=padded(*lengths.end())).contains(&aes_part.len()) {
            return Err(wrong_size());
        }
        let ephemeral_template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(false),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Unwrap(true),
            Attribute::Encrypt(false),
            Attribute::Decrypt(false),
        ];
        let aes = AES_256_LEN..=AES_256_LEN;
        let ephemeral = self.rsa_unwrap(
            session,
            (private, wrapping),
            rsa_part,
            &ephemeral_template,
            aes,
        )?;
        let result = session.unwrap_key(&Mechanism::AesKeyWrapPad, ephemeral, aes_part, template);
        session.destroy_object(ephemeral)?;
        result.map_err(as_bad_material)
    }

    /// The RSA-OAEP step, in the token, or raw RSA in the token and OAEP decoding here.
    fn rsa_unwrap(
        &self,
        session: &Session,
        (private, wrapping): (ObjectHandle, Wrapping),
        wrapped: &[u8],
        template: &[Attribute],
        lengths: RangeInclusive<usize>,
    ) -> Result<ObjectHandle, HsmError> {
        if !wrapping.host_decoding {
            let params = oaep_params(wrapping.hash);
            let mechanism = Mechanism::RsaPkcsOaep(params);
            return session
                .unwrap_key(&mechanism, private, wrapped, template)
                .map_err(as_bad_material);
        }
        let modulus_len = modulus_len(session, private)?;
        let em = Zeroizing::new(
            session
                .decrypt(&Mechanism::RsaX509, private, wrapped)
                .map_err(as_bad_material)?,
        );
        let material = oaep::oaep_sha256_decode(&em, modulus_len).map_err(|_| bad_material())?;
        if !lengths.contains(&material.len()) {
            return Err(wrong_size());
        }
        let mut with_value = template.to_vec();
        with_value.push(Attribute::Value(material.to_vec()));
        let created = session.create_object(&with_value);
        // The Attribute owns a copy of the bytes: wipe it as soon as the token has them.
        for attribute in &mut with_value {
            if let Attribute::Value(bytes) = attribute {
                zeroize::Zeroize::zeroize(bytes);
            }
        }
        Ok(created?)
    }

    /// Probes the token's import mechanisms: the mechanism list, then a trial for OAEP with
    /// SHA-256, which tokens list under CKM_RSA_PKCS_OAEP whether or not they support it.
    pub(super) fn probe(&self, session: &Session) -> Result<Capabilities, HsmError> {
        // Asked one by one: listing all mechanisms makes cryptoki log every type it does
        // not know by name.
        let has = |m: MechanismType| self.ctx.get_mechanism_info(self.slot, m).is_ok();
        let oaep = has(MechanismType::RSA_PKCS_OAEP);
        let capabilities = Capabilities {
            oaep_sha1: oaep,
            oaep_sha256: oaep && oaep_sha256_works(session)?,
            aes_key_wrap_pad: has(MechanismType::AES_KEY_WRAP_PAD),
            rsa_x509: has(MechanismType::RSA_X_509),
        };
        tracing::info!(?capabilities, "token import mechanisms");
        Ok(capabilities)
    }
}

/// Whether OAEP with SHA-256 works, tried on a throw-away session key pair.
fn oaep_sha256_works(session: &Session) -> Result<bool, HsmError> {
    let public = [
        Attribute::Token(false),
        Attribute::ModulusBits(1024.into()),
        Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
        Attribute::Encrypt(true),
    ];
    let private = [
        Attribute::Token(false),
        Attribute::Sensitive(true),
        Attribute::Decrypt(true),
    ];
    let (public, private) =
        session.generate_key_pair(&Mechanism::RsaPkcsKeyPairGen, &public, &private)?;
    let mechanism = Mechanism::RsaPkcsOaep(oaep_params(OaepHash::Sha256));
    let works = session
        .encrypt(&mechanism, public, b"probe")
        .and_then(|c| session.decrypt(&mechanism, private, &c))
        .is_ok_and(|p| p == b"probe");
    session.destroy_object(public)?;
    session.destroy_object(private)?;
    Ok(works)
}

pub(super) fn oaep_params(hash: OaepHash) -> PkcsOaepParams<'static> {
    match hash {
        OaepHash::Sha1 => PkcsOaepParams::new(
            MechanismType::SHA1,
            PkcsMgfType::MGF1_SHA1,
            PkcsOaepSource::empty(),
        ),
        OaepHash::Sha256 => PkcsOaepParams::new(
            MechanismType::SHA256,
            PkcsMgfType::MGF1_SHA256,
            PkcsOaepSource::empty(),
        ),
    }
}

fn private_key(id: Uuid) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::Id(id.as_bytes().to_vec()),
    ]
}

fn find_one(session: &Session, template: &[Attribute]) -> Result<ObjectHandle, HsmError> {
    match session.find_objects(template)?.as_slice() {
        [handle] => Ok(*handle),
        [] => Err(HsmError::new(
            Fault::KeyMissing,
            "wrapping key not on the token",
        )),
        _ => Err(HsmError::new(
            Fault::Other,
            "several wrapping keys share a CKA_ID",
        )),
    }
}

fn modulus_len(session: &Session, private: ObjectHandle) -> Result<usize, HsmError> {
    for attribute in session.get_attributes(private, &[AttributeType::Modulus])? {
        if let Attribute::Modulus(n) = attribute {
            return Ok(n.len());
        }
    }
    Err(HsmError::new(
        Fault::Other,
        "the wrapping key has no modulus",
    ))
}

/// Refuses material the token reports as other than 256 bits. SoftHSM2 reports 0 (unknown)
/// for unwrapped keys: there only lengths AES cannot use are caught, by the check value.
fn check_size(session: &Session, key: ObjectHandle) -> Result<(), HsmError> {
    let attributes = session.get_attributes(key, &[AttributeType::ValueLen])?;
    let len = attributes.iter().find_map(|a| match a {
        Attribute::ValueLen(len) => Some(u64::from(*len)),
        _ => None,
    });
    match len {
        Some(0) | None => Ok(()),
        Some(32) => Ok(()),
        Some(_) => Err(wrong_size()),
    }
}

pub(super) fn wrong_size() -> HsmError {
    HsmError::new(Fault::WrongKeySize, "imported material is not 256 bits")
}

/// The key check value: the AES encryption of a fixed block, computed in the token and
/// truncated.
fn kcv(session: &Session, key: ObjectHandle) -> Result<[u8; KCV_LEN], HsmError> {
    let block = session
        .encrypt(&Mechanism::AesEcb, key, &KCV_BLOCK)
        .map_err(|_| wrong_size())?;
    block
        .get(..KCV_LEN)
        .and_then(|head| head.try_into().ok())
        .ok_or_else(|| HsmError::new(Fault::Other, "key check value is not one block"))
}

fn bad_material() -> HsmError {
    HsmError::new(
        Fault::BadCiphertext,
        "the encrypted key material does not unwrap",
    )
}

/// Any failure of an unwrap or raw decrypt step means the caller's material is bad: the
/// token has already proven it holds a usable wrapping key.
fn as_bad_material(error: CkError) -> HsmError {
    let e = HsmError::from(error);
    match e.fault {
        Fault::SessionLost | Fault::LoggedOut | Fault::TokenUnavailable | Fault::StaleHandle => e,
        _ => bad_material(),
    }
}
