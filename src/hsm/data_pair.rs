//! Data key pairs (GenerateDataKeyPair): a key pair generated in the token as session
//! objects, extractable and not sensitive because the private key leaves the service by
//! design, read out as PKCS#8 and SPKI, destroyed at once, and the PKCS#8 sealed under a
//! KMS key's material in the same call, as a data key is.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};
use cryptoki::session::Session;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::agree::{destroy_at_once, read_values};
use super::{spki, Curve, Fault, Hsm, HsmError, PairKind, Sealed};

/// A data key pair.
pub struct DataPair {
    /// The private key as a DER PKCS#8 PrivateKeyInfo, wiped when dropped.
    pub private_key: Zeroizing<Vec<u8>>,
    /// The public key as a DER SubjectPublicKeyInfo.
    pub public_key: Vec<u8>,
    /// `private_key` sealed under the KMS key's material.
    pub sealed: Sealed,
}

/// The RSA private key attributes, in RSAPrivateKey order.
const RSA_PRIVATE: [AttributeType; 8] = [
    AttributeType::Modulus,
    AttributeType::PublicExponent,
    AttributeType::PrivateExponent,
    AttributeType::Prime1,
    AttributeType::Prime2,
    AttributeType::Exponent1,
    AttributeType::Exponent2,
    AttributeType::Coefficient,
];

impl Hsm {
    /// A new key pair of `kind`, its private key sealed under material `id` with `aad`.
    pub async fn generate_data_key_pair(
        &self,
        id: Uuid,
        aad: Vec<u8>,
        kind: PairKind,
    ) -> Result<DataPair, HsmError> {
        self.call(move |inner, session| {
            let (private_key, public_key) = session_pair(session, kind)?;
            let sealed = inner.seal(session, id, &aad, &private_key)?;
            Ok(DataPair {
                private_key,
                public_key,
                sealed,
            })
        })
        .await
    }
}

/// Generates a session key pair of `kind`, reads it out as (PKCS#8, SPKI) and destroys it.
fn session_pair(
    session: &Session,
    kind: PairKind,
) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), HsmError> {
    let (mechanism, public_template, private_template) = templates(kind);
    let (public, private) =
        session.generate_key_pair(&mechanism, &public_template, &private_template)?;
    let encoded = match kind {
        PairKind::Rsa(_) => rsa_encoding(session, private),
        PairKind::Ec(curve) => ec_encoding(session, curve, public, private),
    };
    destroy_at_once(session, &[public, private])?;
    encoded
}

fn rsa_encoding(
    session: &Session,
    private: ObjectHandle,
) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), HsmError> {
    let values = read_values(session, private, RSA_PRIVATE)?;
    let parts = values.each_ref().map(|v| v.as_slice());
    let [modulus, exponent, ..] = parts;
    Ok((
        spki::rsa_pkcs8_der(&parts),
        spki::rsa_spki_der(modulus, exponent),
    ))
}

fn ec_encoding(
    session: &Session,
    curve: Curve,
    public: ObjectHandle,
    private: ObjectHandle,
) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), HsmError> {
    let [point] = read_values(session, public, [AttributeType::EcPoint])?;
    let [d] = read_values(session, private, [AttributeType::Value])?;
    let point = spki::ec_point(&point, curve.field_len()).ok_or_else(malformed)?;
    let oid = curve.oid_der();
    let pkcs8 = spki::ec_pkcs8_der(oid, curve.field_len(), &d, point).ok_or_else(malformed)?;
    Ok((pkcs8, spki::ec_spki_der(oid, point)))
}

fn malformed() -> HsmError {
    HsmError::new(Fault::Other, "the token returned a malformed EC key pair")
}

/// The generation mechanism and templates of a data key pair: session objects that can do
/// nothing in the token, whose private half may be read.
fn templates(kind: PairKind) -> (Mechanism<'static>, Vec<Attribute>, Vec<Attribute>) {
    let mut public = vec![
        Attribute::Token(false),
        Attribute::Private(false),
        Attribute::Verify(false),
        Attribute::Encrypt(false),
        Attribute::Wrap(false),
        Attribute::Derive(false),
    ];
    let private = vec![
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::Sign(false),
        Attribute::Decrypt(false),
        Attribute::Unwrap(false),
        Attribute::Derive(false),
    ];
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
