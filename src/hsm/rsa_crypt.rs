//! RSAES-OAEP with a KMS key pair: the public half encrypts, the private half decrypts in
//! the token. Where the token lacks OAEP with SHA-256 (SoftHSM2 2.6), the opt-in
//! host-decoding fallback runs raw RSA in the token and the OAEP padding here.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType};
use cryptoki::session::Session;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::import::oaep_params;
use super::{oaep, Fault, Hsm, HsmError, Inner, OaepHash};

/// How the token runs OAEP with a given hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OaepPath {
    /// CKM_RSA_PKCS_OAEP, wholly in the token.
    Token,
    /// CKM_RSA_X_509 in the token, the padding encoded and decoded in the daemon.
    HostPadding,
}

impl Hsm {
    /// How OAEP with `hash` can run here, or `None` when this token cannot decrypt it.
    pub fn oaep_path(&self, hash: OaepHash) -> Option<OaepPath> {
        let capabilities = self.inner.capabilities;
        let native = match hash {
            OaepHash::Sha1 => capabilities.oaep_sha1,
            OaepHash::Sha256 => capabilities.oaep_sha256,
        };
        match (native, hash) {
            (true, _) => Some(OaepPath::Token),
            (false, OaepHash::Sha256) if self.host_decoding_allowed() => {
                Some(OaepPath::HostPadding)
            }
            _ => None,
        }
    }

    /// Encrypts `plaintext` with the public half of key pair `id`. `None` means the
    /// plaintext is too long for the modulus.
    pub async fn rsa_encrypt(
        &self,
        id: Uuid,
        hash: OaepHash,
        plaintext: Zeroizing<Vec<u8>>,
    ) -> Result<Vec<u8>, HsmError> {
        let path = self.oaep_path(hash).ok_or_else(no_oaep)?;
        self.call(move |inner, session| {
            let (mechanism, input) = match path {
                OaepPath::Token => (Mechanism::RsaPkcsOaep(oaep_params(hash)), plaintext.clone()),
                OaepPath::HostPadding => {
                    let modulus_len = inner.public_modulus_len(session, id)?;
                    (
                        Mechanism::RsaX509,
                        encode(session, modulus_len, &plaintext)?,
                    )
                }
            };
            inner.with_public(session, id, |public| {
                session.encrypt(&mechanism, public, &input)
            })
        })
        .await
    }

    /// Decrypts `ciphertext` with the private half of key pair `id`: `Fault::BadCiphertext`
    /// when it does not decrypt.
    pub async fn rsa_decrypt(
        &self,
        id: Uuid,
        hash: OaepHash,
        ciphertext: Vec<u8>,
    ) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        let path = self.oaep_path(hash).ok_or_else(no_oaep)?;
        self.call(move |inner, session| inner.rsa_decrypt(session, id, (hash, path), &ciphertext))
            .await
    }
}

impl Inner {
    fn rsa_decrypt(
        &self,
        session: &Session,
        id: Uuid,
        (hash, path): (OaepHash, OaepPath),
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        let mechanism = match path {
            OaepPath::Token => Mechanism::RsaPkcsOaep(oaep_params(hash)),
            OaepPath::HostPadding => Mechanism::RsaX509,
        };
        let output = Zeroizing::new(
            self.with_key(session, id, |private| {
                session.decrypt(&mechanism, private, ciphertext)
            })
            .map_err(as_bad_ciphertext)?,
        );
        match path {
            OaepPath::Token => Ok(output),
            OaepPath::HostPadding => {
                oaep::oaep_sha256_decode(&output, self.public_modulus_len(session, id)?)
                    .map_err(|_| bad_ciphertext())
            }
        }
    }

    /// The modulus length of key pair `id`, in bytes.
    fn public_modulus_len(&self, session: &Session, id: Uuid) -> Result<usize, HsmError> {
        let attributes = self.with_public(session, id, |public| {
            session.get_attributes(public, &[AttributeType::Modulus])
        })?;
        attributes
            .into_iter()
            .find_map(|a| match a {
                Attribute::Modulus(n) => Some(n.len()),
                _ => None,
            })
            .ok_or_else(|| HsmError::new(Fault::Other, "the key pair has no modulus"))
    }
}

/// The OAEP-SHA-256 encoding of `plaintext` with a seed from the token's generator.
fn encode(
    session: &Session,
    modulus_len: usize,
    plaintext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, HsmError> {
    let mut seed = Zeroizing::new([0u8; 32]);
    session.generate_random_slice(seed.as_mut())?;
    oaep::oaep_sha256_encode(plaintext, modulus_len, &seed)
        .ok_or_else(|| HsmError::new(Fault::Other, "plaintext too long for the modulus"))
}

fn no_oaep() -> HsmError {
    HsmError::new(
        Fault::Other,
        "the token cannot decrypt this OAEP variant and host decoding is off",
    )
}

fn bad_ciphertext() -> HsmError {
    HsmError::new(Fault::BadCiphertext, "the ciphertext does not decrypt")
}

/// A failed private-key step means the caller's ciphertext is bad, unless the session or
/// token failed under it.
fn as_bad_ciphertext(error: HsmError) -> HsmError {
    match error.fault {
        Fault::SessionLost
        | Fault::LoggedOut
        | Fault::TokenUnavailable
        | Fault::KeyMissing
        | Fault::StaleHandle => error,
        _ => bad_ciphertext(),
    }
}
