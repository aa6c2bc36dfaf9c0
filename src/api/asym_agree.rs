//! Handlers of DeriveSharedSecret and of GenerateDataKeyPair and its WithoutPlaintext twin.

use super::audited;
use super::body::unknown_member;
use super::handlers::{grant_tokens, json, key_id, no_recipient, unsupported};
use super::validate::{blob_len, one_of, parse_enum, required};
use super::wire::B64;
use super::wire_asym::*;
use crate::kms::rules::Op;
use crate::kms::{Caller, Kms, KmsError, PairSpec};

const MAX_PUBLIC_KEY: usize = 8192;
const KEY_AGREEMENT_ALGORITHMS: &[&str] = &["ECDH"];
/// Every DataKeyPairSpec the AWS model knows; we serve the RSA and ECC ones.
const AWS_KEY_PAIR_SPECS: &[&str] = &[
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "SM2",
    "ECC_NIST_EDWARDS25519",
];

/// DeriveSharedSecret.
pub async fn derive_shared_secret(
    kms: &Kms,
    caller: &Caller,
    r: DeriveSharedSecretRequest,
) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    let algorithm = required(r.key_agreement_algorithm, "keyAgreementAlgorithm")?;
    one_of(
        "keyAgreementAlgorithm",
        &algorithm,
        KEY_AGREEMENT_ALGORITHMS,
    )?;
    let public_key = required(r.public_key, "publicKey")?;
    blob_len("publicKey", &public_key.0, 1, MAX_PUBLIC_KEY)?;
    grant_tokens(r.grant_tokens.as_ref())?;
    no_recipient(r.recipient.as_ref())?;
    let done = kms
        .derive_shared_secret(caller, &id, &public_key.0, r.dry_run.unwrap_or(false))
        .await?;
    audited::note_material(done.material_id);
    json(&DeriveSharedSecretResponse {
        key_id: kms.arn(&done.key),
        shared_secret: B64(&done.secret),
        key_agreement_algorithm: "ECDH",
        key_origin: done.key.origin.as_str(),
    })
}

/// GenerateDataKeyPair (`with_plaintext`) or GenerateDataKeyPairWithoutPlaintext.
pub async fn generate_data_key_pair(
    kms: &Kms,
    caller: &Caller,
    r: GenerateDataKeyPairRequest,
    with_plaintext: bool,
) -> Result<Vec<u8>, KmsError> {
    // The two operations share a shape, but only GenerateDataKeyPair has Recipient.
    if !with_plaintext && r.recipient.is_some() {
        return Err(unknown_member("Recipient"));
    }
    let id = key_id(r.key_id, "keyId")?;
    let text = required(r.key_pair_spec, "keyPairSpec")?;
    let spec = parse_enum(
        "keyPairSpec",
        &text,
        AWS_KEY_PAIR_SPECS,
        PairSpec::parse,
        || {
            unsupported(format!(
                "KeyPairSpec {text} is not supported in this Region."
            ))
        },
    )?;
    grant_tokens(r.grant_tokens.as_ref())?;
    no_recipient(r.recipient.as_ref())?;
    let context = r.encryption_context.unwrap_or_default();
    let op = match with_plaintext {
        true => Op::GenerateDataKeyPair,
        false => Op::GenerateDataKeyPairWithoutPlaintext,
    };
    let dry_run = r.dry_run.unwrap_or(false);
    let done = kms
        .generate_data_key_pair(caller, &id, spec, &context, (op, dry_run))
        .await?;
    json(&GenerateDataKeyPairResponse {
        private_key_ciphertext_blob: B64(&done.blob),
        private_key_plaintext: with_plaintext.then_some(B64(&done.private_key)),
        public_key: B64(&done.public_key),
        key_id: kms.arn(&done.key),
        key_pair_spec: spec.spec.as_str(),
        key_material_id: done.material_id.to_string(),
    })
}
