//! Handlers of the asymmetric and HMAC operations: Sign, Verify, GetPublicKey, GenerateMac
//! and VerifyMac.

use super::audited;
use super::handlers::{grant_tokens, json, key_id, unsupported};
use super::validate::{blob_len, parse_enum, required, required_secret};
use super::wire::B64;
use super::wire_asym::*;
use crate::kms::asym::{self, ToSign};
use crate::kms::model::{EncryptionAlgorithm, MacAlgorithm, MessageType, SigningAlgorithm};
use crate::kms::{Caller, Kms, KmsError};

const MAX_MESSAGE: usize = 4096;
const MAX_SIGNATURE: usize = 6144;
const AWS_SIGNING_ALGORITHMS: &[&str] = &[
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "ECDSA_SHA_256",
    "ECDSA_SHA_384",
    "ECDSA_SHA_512",
    "SM2DSA",
    "ML_DSA_SHAKE_256",
    "ED25519_SHA_512",
    "ED25519_PH_SHA_512",
];
const AWS_MESSAGE_TYPES: &[&str] = &["RAW", "DIGEST", "EXTERNAL_MU"];

fn signing_algorithm(value: Option<String>) -> Result<SigningAlgorithm, KmsError> {
    let text = required(value, "signingAlgorithm")?;
    parse_enum(
        "signingAlgorithm",
        &text,
        AWS_SIGNING_ALGORITHMS,
        SigningAlgorithm::parse,
        || unsupported(format!("SigningAlgorithm {text} is not supported.")),
    )
}

fn message_type(value: Option<String>) -> Result<MessageType, KmsError> {
    let Some(text) = value else {
        return Ok(MessageType::Raw);
    };
    parse_enum(
        "messageType",
        &text,
        AWS_MESSAGE_TYPES,
        MessageType::parse,
        || unsupported(format!("MessageType {text} is not supported.")),
    )
}

fn mac_algorithm(value: Option<String>) -> Result<MacAlgorithm, KmsError> {
    let text = required(value, "macAlgorithm")?;
    parse_enum(
        "macAlgorithm",
        &text,
        MacAlgorithm::NAMES,
        MacAlgorithm::parse,
        || unsupported(format!("MacAlgorithm {text} is not supported.")),
    )
}

/// Sign.
pub async fn sign(kms: &Kms, caller: &Caller, r: SignRequest) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    let message = required_secret(r.message, "message")?;
    blob_len("message", &message.0, 1, MAX_MESSAGE)?;
    let message_type = message_type(r.message_type)?;
    grant_tokens(r.grant_tokens.as_ref())?;
    let algorithm = signing_algorithm(r.signing_algorithm)?;
    let input = ToSign {
        message: &message.0,
        message_type,
        algorithm,
    };
    let done = kms
        .sign(caller, &id, input, r.dry_run.unwrap_or(false))
        .await?;
    audited::note_material(done.material_id);
    json(&SignResponse {
        key_id: kms.arn(&done.key),
        signature: B64(&done.bytes),
        signing_algorithm: algorithm.as_str(),
    })
}

/// Verify.
pub async fn verify(kms: &Kms, caller: &Caller, r: VerifyRequest) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    let message = required_secret(r.message, "message")?;
    blob_len("message", &message.0, 1, MAX_MESSAGE)?;
    let message_type = message_type(r.message_type)?;
    let signature = required(r.signature, "signature")?;
    blob_len("signature", &signature.0, 1, MAX_SIGNATURE)?;
    grant_tokens(r.grant_tokens.as_ref())?;
    let algorithm = signing_algorithm(r.signing_algorithm)?;
    let input = ToSign {
        message: &message.0,
        message_type,
        algorithm,
    };
    let done = kms
        .verify(caller, &id, input, &signature.0, r.dry_run.unwrap_or(false))
        .await?;
    audited::note_material(done.material_id);
    json(&VerifyResponse {
        key_id: kms.arn(&done.key),
        signature_valid: true,
        signing_algorithm: algorithm.as_str(),
    })
}

/// GetPublicKey.
pub async fn get_public_key(
    kms: &Kms,
    caller: &Caller,
    r: GetPublicKeyRequest,
) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    grant_tokens(r.grant_tokens.as_ref())?;
    let (done, der) = kms.get_public_key(caller, &id).await?;
    audited::note_material(done.material_id);
    let key = &done.key;
    json(&GetPublicKeyResponse {
        key_id: kms.arn(key),
        public_key: B64(&der),
        customer_master_key_spec: key.spec.as_str(),
        key_spec: key.spec.as_str(),
        key_usage: key.usage.as_str(),
        encryption_algorithms: asym::encryption_algorithms(key.spec, key.usage)
            .into_iter()
            .map(EncryptionAlgorithm::as_str)
            .collect(),
        signing_algorithms: asym::signing_algorithms(key.spec, key.usage)
            .into_iter()
            .map(SigningAlgorithm::as_str)
            .collect(),
        key_agreement_algorithms: asym::key_agreement_algorithms(key.usage),
    })
}

/// GenerateMac.
pub async fn generate_mac(
    kms: &Kms,
    caller: &Caller,
    r: GenerateMacRequest,
) -> Result<Vec<u8>, KmsError> {
    let message = required_secret(r.message, "message")?;
    blob_len("message", &message.0, 1, MAX_MESSAGE)?;
    let id = key_id(r.key_id, "keyId")?;
    let algorithm = mac_algorithm(r.mac_algorithm)?;
    grant_tokens(r.grant_tokens.as_ref())?;
    let done = kms
        .generate_mac(
            caller,
            &id,
            &message.0,
            algorithm,
            r.dry_run.unwrap_or(false),
        )
        .await?;
    audited::note_material(done.material_id);
    json(&GenerateMacResponse {
        mac: B64(&done.bytes),
        mac_algorithm: algorithm.as_str(),
        key_id: kms.arn(&done.key),
    })
}

/// VerifyMac.
pub async fn verify_mac(
    kms: &Kms,
    caller: &Caller,
    r: VerifyMacRequest,
) -> Result<Vec<u8>, KmsError> {
    let message = required_secret(r.message, "message")?;
    blob_len("message", &message.0, 1, MAX_MESSAGE)?;
    let id = key_id(r.key_id, "keyId")?;
    let algorithm = mac_algorithm(r.mac_algorithm)?;
    let mac = required(r.mac, "mac")?;
    blob_len("mac", &mac.0, 1, MAX_SIGNATURE)?;
    grant_tokens(r.grant_tokens.as_ref())?;
    let done = kms
        .verify_mac(
            caller,
            &id,
            (&message.0, &mac.0),
            algorithm,
            r.dry_run.unwrap_or(false),
        )
        .await?;
    audited::note_material(done.material_id);
    json(&VerifyMacResponse {
        key_id: kms.arn(&done.key),
        mac_valid: true,
        mac_algorithm: algorithm.as_str(),
    })
}
