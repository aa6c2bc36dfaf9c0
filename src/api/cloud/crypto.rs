//! Encrypt, Decrypt and GenerateRandomBytes, with their CRC32C integrity fields.

use serde::Deserialize;
use serde_json::{json, Value};

use super::error::CloudError;
use super::wire::{self, base64, crc, object, parse, verified, Bytes, Crc};
use super::{Reply, Request};
use crate::kms::Kms;

/// Largest plaintext and additional authenticated data, as Cloud KMS allows.
const MAX_PLAINTEXT: usize = 64 * 1024;
/// Largest ciphertext: the plaintext limit plus our envelope.
const MAX_CIPHERTEXT: usize = 10 * 64 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EncryptBody {
    #[serde(default)]
    plaintext: Bytes,
    #[serde(default)]
    additional_authenticated_data: Bytes,
    plaintext_crc32c: Option<Crc>,
    additional_authenticated_data_crc32c: Option<Crc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DecryptBody {
    #[serde(default)]
    ciphertext: Bytes,
    #[serde(default)]
    additional_authenticated_data: Bytes,
    ciphertext_crc32c: Option<Crc>,
    additional_authenticated_data_crc32c: Option<Crc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RandomBody {
    length_bytes: Option<i64>,
    protection_level: Option<Value>,
}

fn at_most(bytes: &[u8], max: usize, field: &str) -> Result<(), CloudError> {
    match bytes.len() <= max {
        true => Ok(()),
        false => Err(CloudError::invalid(format!(
            "The {field} is {} bytes; at most {max} are allowed.",
            bytes.len()
        ))),
    }
}

/// The checksum flag of the additional authenticated data, which is checked like the data.
fn verified_aad(aad: &[u8], given: Option<Crc>) -> Result<bool, CloudError> {
    verified(
        aad,
        given,
        (
            "additional_authenticated_data",
            "additional_authenticated_data_crc32c",
        ),
    )
}

pub(super) async fn encrypt(kms: &Kms, request: Request<'_>) -> Result<Reply, CloudError> {
    let body: EncryptBody = parse(request.body)?;
    if body.plaintext.0.is_empty() {
        return Err(CloudError::invalid("plaintext is required."));
    }
    at_most(&body.plaintext.0, MAX_PLAINTEXT, "plaintext")?;
    at_most(
        &body.additional_authenticated_data.0,
        MAX_PLAINTEXT,
        "additional_authenticated_data",
    )?;
    let plaintext_ok = verified(
        &body.plaintext.0,
        body.plaintext_crc32c,
        ("plaintext", "plaintext_crc32c"),
    )?;
    let aad = body.additional_authenticated_data.0;
    let aad_ok = verified_aad(&aad, body.additional_authenticated_data_crc32c)?;
    let sealed = kms
        .cloud_encrypt(request.caller, request.name, body.plaintext.0, &aad)
        .await?;
    let answer = json!({
        "name": sealed.version,
        "ciphertext": base64(&sealed.ciphertext),
        "ciphertextCrc32c": crc(&sealed.ciphertext),
        "verifiedPlaintextCrc32c": plaintext_ok,
        "verifiedAdditionalAuthenticatedDataCrc32c": aad_ok,
        "protectionLevel": "HSM",
    });
    Ok(Reply::used(kms, sealed.used, answer))
}

pub(super) async fn decrypt(kms: &Kms, request: Request<'_>) -> Result<Reply, CloudError> {
    let body: DecryptBody = parse(request.body)?;
    if body.ciphertext.0.is_empty() {
        return Err(CloudError::invalid("ciphertext is required."));
    }
    at_most(&body.ciphertext.0, MAX_CIPHERTEXT, "ciphertext")?;
    verified(
        &body.ciphertext.0,
        body.ciphertext_crc32c,
        ("ciphertext", "ciphertext_crc32c"),
    )?;
    let aad = body.additional_authenticated_data.0;
    verified_aad(&aad, body.additional_authenticated_data_crc32c)?;
    let opened = kms
        .cloud_decrypt(request.caller, request.name, &body.ciphertext.0, &aad)
        .await?;
    let answer = json!({
        "plaintext": base64(&opened.plaintext),
        "plaintextCrc32c": crc(&opened.plaintext),
        "usedPrimary": opened.used_primary,
        "protectionLevel": "HSM",
    });
    Ok(Reply::used(kms, opened.used, answer))
}

pub(super) async fn generate_random_bytes(
    kms: &Kms,
    request: Request<'_>,
) -> Result<Reply, CloudError> {
    let body: RandomBody = parse(request.body)?;
    let why = "random bytes come from the token";
    wire::require_hsm(body.protection_level.as_ref(), "protection_level", why)?;
    let len = body
        .length_bytes
        .filter(|n| (8..=1024).contains(n))
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| CloudError::invalid("length_bytes must be between 8 and 1024."))?;
    let data = kms.cloud_random(request.caller, len).await?;
    Ok(Reply::new(object(vec![
        ("data", Some(base64(&data))),
        ("dataCrc32c", Some(crc(&data))),
    ])))
}
