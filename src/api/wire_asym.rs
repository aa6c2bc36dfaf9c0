//! Request and response shapes of the asymmetric and HMAC operations, named and spelled as
//! in the AWS KMS model.

use serde::{Deserialize, Serialize};

use super::body::object;
use super::wire::{Blob, Context, RecipientInfo, B64};

/// Sign input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SignRequest {
    pub key_id: Option<String>,
    pub message: Option<Blob>,
    pub message_type: Option<String>,
    pub grant_tokens: Option<Vec<String>>,
    pub signing_algorithm: Option<String>,
    pub dry_run: Option<bool>,
}

/// Sign output.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignResponse<'a> {
    pub key_id: String,
    pub signature: B64<'a>,
    pub signing_algorithm: &'static str,
}

/// Verify input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct VerifyRequest {
    pub key_id: Option<String>,
    pub message: Option<Blob>,
    pub message_type: Option<String>,
    pub signature: Option<Blob>,
    pub signing_algorithm: Option<String>,
    pub grant_tokens: Option<Vec<String>>,
    pub dry_run: Option<bool>,
}

/// Verify output.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyResponse {
    pub key_id: String,
    pub signature_valid: bool,
    pub signing_algorithm: &'static str,
}

/// GetPublicKey input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GetPublicKeyRequest {
    pub key_id: Option<String>,
    pub grant_tokens: Option<Vec<String>>,
}

/// GetPublicKey output.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPublicKeyResponse<'a> {
    pub key_id: String,
    pub public_key: B64<'a>,
    pub customer_master_key_spec: &'static str,
    pub key_spec: &'static str,
    pub key_usage: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub encryption_algorithms: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signing_algorithms: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub key_agreement_algorithms: Vec<&'static str>,
}

/// GenerateMac input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GenerateMacRequest {
    pub message: Option<Blob>,
    pub key_id: Option<String>,
    pub mac_algorithm: Option<String>,
    pub grant_tokens: Option<Vec<String>>,
    pub dry_run: Option<bool>,
}

/// GenerateMac output.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateMacResponse<'a> {
    pub mac: B64<'a>,
    pub mac_algorithm: &'static str,
    pub key_id: String,
}

/// VerifyMac input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct VerifyMacRequest {
    pub message: Option<Blob>,
    pub key_id: Option<String>,
    pub mac_algorithm: Option<String>,
    pub mac: Option<Blob>,
    pub grant_tokens: Option<Vec<String>>,
    pub dry_run: Option<bool>,
}

/// VerifyMac output.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyMacResponse {
    pub key_id: String,
    pub mac_valid: bool,
    pub mac_algorithm: &'static str,
}

/// DeriveSharedSecret input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DeriveSharedSecretRequest {
    pub key_id: Option<String>,
    pub key_agreement_algorithm: Option<String>,
    pub public_key: Option<Blob>,
    pub grant_tokens: Option<Vec<String>>,
    pub dry_run: Option<bool>,
    #[serde(default, deserialize_with = "object")]
    pub recipient: Option<RecipientInfo>,
}

/// DeriveSharedSecret output.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeriveSharedSecretResponse<'a> {
    pub key_id: String,
    pub shared_secret: B64<'a>,
    pub key_agreement_algorithm: &'static str,
    pub key_origin: &'static str,
}

/// GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GenerateDataKeyPairRequest {
    pub encryption_context: Option<Context>,
    pub key_id: Option<String>,
    pub key_pair_spec: Option<String>,
    pub grant_tokens: Option<Vec<String>>,
    #[serde(default, deserialize_with = "object")]
    pub recipient: Option<RecipientInfo>,
    pub dry_run: Option<bool>,
}

/// GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext output.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyPairResponse<'a> {
    pub private_key_ciphertext_blob: B64<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key_plaintext: Option<B64<'a>>,
    pub public_key: B64<'a>,
    pub key_id: String,
    pub key_pair_spec: &'static str,
    pub key_material_id: String,
}
