//! Importing key material as a client does: GetParametersForImport, wrapping as AWS
//! documents, ImportKeyMaterial.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{AlgorithmSpec, ExpirationModelType, WrappingKeySpec};
use aws_sdk_kms::Client;
use rsa::pkcs8::DecodePublicKey;
use rsa::rand_core::{OsRng, RngCore};
use rsa::{Oaep, RsaPublicKey};

/// Wraps `material` the way AWS documents for `algorithm`.
pub fn wrap(algorithm: &AlgorithmSpec, public_der: &[u8], material: &[u8]) -> Vec<u8> {
    let public = RsaPublicKey::from_public_key_der(public_der).expect("SubjectPublicKeyInfo");
    let oaep = |data: &[u8], sha256: bool| {
        let padding = if sha256 {
            Oaep::new::<sha2::Sha256>()
        } else {
            Oaep::new::<sha1::Sha1>()
        };
        public
            .encrypt(&mut OsRng, padding, data)
            .expect("rsa encrypt")
    };
    match algorithm {
        AlgorithmSpec::RsaesOaepSha1 => oaep(material, false),
        AlgorithmSpec::RsaesOaepSha256 => oaep(material, true),
        AlgorithmSpec::RsaAesKeyWrapSha1 | AlgorithmSpec::RsaAesKeyWrapSha256 => {
            let mut ephemeral = [0u8; 32];
            OsRng.fill_bytes(&mut ephemeral);
            let sha256 = *algorithm == AlgorithmSpec::RsaAesKeyWrapSha256;
            let mut out = oaep(&ephemeral, sha256);
            let kek = aes_kw::KekAes256::new(&ephemeral.into());
            out.extend(kek.wrap_with_padding_vec(material).expect("kwp"));
            out
        }
        other => panic!("not a wrapping algorithm of this test: {other:?}"),
    }
}

pub fn material() -> Vec<u8> {
    let mut m = vec![0u8; 32];
    OsRng.fill_bytes(&mut m);
    m
}

pub struct Params {
    pub public: Vec<u8>,
    pub token: Blob,
}

pub async fn params(
    client: &Client,
    key: &str,
    alg: &AlgorithmSpec,
    spec: &WrappingKeySpec,
) -> Params {
    let out = client
        .get_parameters_for_import()
        .key_id(key)
        .wrapping_algorithm(alg.clone())
        .wrapping_key_spec(spec.clone())
        .send()
        .await
        .expect("get parameters");
    assert!(out.parameters_valid_to().is_some());
    Params {
        public: out.public_key().expect("public key").as_ref().to_vec(),
        token: out.import_token().expect("token").clone(),
    }
}

pub async fn import(
    client: &Client,
    key: &str,
    token: &Blob,
    wrapped: Vec<u8>,
) -> Result<
    String,
    aws_sdk_kms::error::SdkError<
        aws_sdk_kms::operation::import_key_material::ImportKeyMaterialError,
    >,
> {
    client
        .import_key_material()
        .key_id(key)
        .import_token(token.clone())
        .encrypted_key_material(Blob::new(wrapped))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .map(|out| out.key_material_id().expect("material id").to_owned())
}
