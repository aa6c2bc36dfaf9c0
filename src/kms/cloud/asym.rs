//! AsymmetricSign, GetPublicKey, AsymmetricDecrypt, MacSign and MacVerify with a named
//! version: the version's algorithm says what it does, and its private or secret half works
//! in the token.

use std::sync::Arc;

use uuid::Uuid;
use zeroize::Zeroizing;

use super::algorithms::{self, Use};
use super::invalid;
use super::resources::admitted;
use super::rules::{self, Outcome, VersionOp};
use super::versions::refused;
use crate::hsm::Hash;
use crate::kms::asym::{self, Material as KeyMaterial};
use crate::kms::model::{Key, MacAlgorithm, Material};
use crate::kms::{Caller, Kms, KmsError};

/// What AsymmetricSign signs: a digest of a named hash, or data hashed here.
pub enum ToSign<'a> {
    /// `digest.sha256` etc.: the hash's name (`sha256`) and the digest.
    Digest(&'a str, &'a [u8]),
    /// `data`.
    Data(&'a [u8]),
}

/// The version's name and the key and material it used, with the result.
pub struct Used<T> {
    /// `.../cryptoKeyVersions/N`.
    pub version: String,
    /// The key and material.
    pub ids: (Uuid, Uuid),
    /// The result.
    pub value: T,
}

fn hash_name(hash: Hash) -> &'static str {
    match hash {
        Hash::Sha224 => "sha224",
        Hash::Sha256 => "sha256",
        Hash::Sha384 => "sha384",
        Hash::Sha512 => "sha512",
    }
}

/// A version checked for `op` (and the AWS key state), with what its algorithm does.
struct Ready {
    key: Arc<Key>,
    material: Material,
    version: String,
    algorithm: String,
    does: Use,
}

impl Ready {
    fn used<T>(&self, value: T) -> Used<T> {
        Used {
            version: self.version.clone(),
            ids: (self.key.id, self.material.id),
            value,
        }
    }
}

impl Kms {
    fn ready(&self, caller: &Caller, name: &str, op: VersionOp) -> Result<Ready, KmsError> {
        admitted(caller)?;
        let (key, crypto, material) = self.version(name)?;
        let does = algorithms::by_name(&crypto.algorithm)
            .map(|a| a.does)
            .ok_or_else(|| invalid(format!("{name} has no served algorithm.")))?;
        let version = match op {
            VersionOp::PublicKey => {
                if rules::outcome(op, material.state) == Outcome::Refused {
                    return Err(refused(name, op, material.state));
                }
                name.to_owned()
            }
            _ => self.usable(&key, &crypto.name, &material)?,
        };
        Ok(Ready {
            key,
            material,
            version,
            algorithm: crypto.algorithm,
            does,
        })
    }

    /// AsymmetricSign: the signature (DER for ECDSA, as Cloud KMS returns it).
    pub async fn cloud_sign(
        &self,
        caller: &Caller,
        name: &str,
        input: ToSign<'_>,
    ) -> Result<Used<Vec<u8>>, KmsError> {
        let ready = self.ready(caller, name, VersionOp::Use)?;
        let (Use::Sign(algorithm), KeyMaterial::Pair(kind)) =
            (ready.does, asym::material(ready.key.spec))
        else {
            return Err(purpose_refuses(name, "AsymmetricSign"));
        };
        let hash = asym::signing_hash(algorithm);
        let digest = match input {
            ToSign::Data(data) => asym::digest(hash, data),
            ToSign::Digest(given, digest)
                if given == hash_name(hash) && digest.len() == hash.digest_len() =>
            {
                digest.to_vec()
            }
            ToSign::Digest(..) => {
                return Err(invalid(format!(
                    "The digest must be a {} digest of {} bytes for {name}.",
                    hash_name(hash).to_uppercase(),
                    hash.digest_len()
                )))
            }
        };
        let scheme = asym::sign_scheme(kind, algorithm);
        let signature = self
            .hsm
            .sign_digest(ready.material.id, scheme, digest)
            .await
            .map_err(|e| KmsError::from_hsm(e, name))?;
        Ok(ready.used(signature))
    }

    /// GetPublicKey: the DER SubjectPublicKeyInfo and the version's algorithm name.
    pub async fn cloud_public_key(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<Used<(Vec<u8>, String)>, KmsError> {
        let ready = self.ready(caller, name, VersionOp::PublicKey)?;
        if !matches!(ready.does, Use::Sign(_) | Use::Decrypt(_)) {
            return Err(purpose_refuses(name, "GetPublicKey"));
        }
        let der = self
            .hsm
            .public_key(ready.material.id)
            .await
            .map_err(|e| KmsError::from_hsm(e, name))?;
        Ok(ready.used((der, ready.algorithm.clone())))
    }

    /// AsymmetricDecrypt: RSA-OAEP in the token (or its recorded host-decoding path).
    pub async fn cloud_asymmetric_decrypt(
        &self,
        caller: &Caller,
        name: &str,
        ciphertext: Vec<u8>,
    ) -> Result<Used<Zeroizing<Vec<u8>>>, KmsError> {
        let ready = self.ready(caller, name, VersionOp::Use)?;
        let Use::Decrypt(algorithm) = ready.does else {
            return Err(purpose_refuses(name, "AsymmetricDecrypt"));
        };
        self.check_oaep_available(algorithm)?;
        let plaintext = self
            .rsa_decrypt(&ready.key, ready.material.id, algorithm, ciphertext)
            .await
            .map_err(|_| invalid("Decryption failed: the ciphertext is invalid."))?;
        Ok(ready.used(plaintext))
    }

    /// A MAC version ready for `method`, with its algorithm.
    fn mac_ready(
        &self,
        caller: &Caller,
        name: &str,
        method: &str,
    ) -> Result<(Ready, MacAlgorithm), KmsError> {
        let ready = self.ready(caller, name, VersionOp::Use)?;
        match ready.does {
            Use::Mac(algorithm) => Ok((ready, algorithm)),
            _ => Err(purpose_refuses(name, method)),
        }
    }

    /// MacSign: the HMAC of `data`, computed in the token.
    pub async fn cloud_mac_sign(
        &self,
        caller: &Caller,
        name: &str,
        data: &[u8],
    ) -> Result<Used<Vec<u8>>, KmsError> {
        let (ready, algorithm) = self.mac_ready(caller, name, "MacSign")?;
        let mac = self
            .hsm
            .key_mac(ready.material.id, asym::mac_hash(algorithm), data.to_vec())
            .await
            .map_err(|e| KmsError::from_hsm(e, name))?;
        Ok(ready.used(mac))
    }

    /// MacVerify: whether `mac` is the HMAC of `data`, checked in the token.
    pub async fn cloud_mac_verify(
        &self,
        caller: &Caller,
        name: &str,
        (data, mac): (&[u8], &[u8]),
    ) -> Result<Used<bool>, KmsError> {
        let (ready, algorithm) = self.mac_ready(caller, name, "MacVerify")?;
        let hash = asym::mac_hash(algorithm);
        let valid = self
            .hsm
            .verify_key_mac(ready.material.id, hash, data.to_vec(), mac.to_vec())
            .await
            .map_err(|e| KmsError::from_hsm(e, name))?;
        Ok(ready.used(valid))
    }
}

fn purpose_refuses(name: &str, method: &str) -> KmsError {
    invalid(format!(
        "{name} has a purpose that does not allow {method}."
    ))
}
