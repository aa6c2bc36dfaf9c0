//! GetPublicKey, AsymmetricSign, AsymmetricDecrypt, MacSign and MacVerify on a version.

use serde::Deserialize;
use serde_json::{json, Value};

use super::error::CloudError;
use super::wire::{base64, crc, object, parse, verified, Bytes, Crc};
use super::{Reply, Request};
use crate::kms::cloud::{ToSign, Used};
use crate::kms::Kms;

/// Largest data AsymmetricSign, MacSign and MacVerify take, as Cloud KMS allows.
const MAX_DATA: usize = 64 * 1024;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DigestBody {
    sha256: Option<Bytes>,
    sha384: Option<Bytes>,
    sha512: Option<Bytes>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignBody {
    digest: Option<DigestBody>,
    digest_crc32c: Option<Crc>,
    data: Option<Bytes>,
    data_crc32c: Option<Crc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DecryptBody {
    #[serde(default)]
    ciphertext: Bytes,
    ciphertext_crc32c: Option<Crc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MacBody {
    #[serde(default)]
    data: Bytes,
    data_crc32c: Option<Crc>,
    mac: Option<Bytes>,
    mac_crc32c: Option<Crc>,
}

fn reply<T>(kms: &Kms, used: &Used<T>, mut body: Value) -> Reply {
    body["name"] = json!(used.version);
    body["protectionLevel"] = json!("HSM");
    Reply::used(kms, used.ids, body)
}

/// PEM of a DER SubjectPublicKeyInfo.
pub(super) fn pem(der: &[u8]) -> String {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    let text = STANDARD.encode(der);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(64)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

pub(super) async fn get_public_key(kms: &Kms, request: Request<'_>) -> Result<Reply, CloudError> {
    let format = request.query.get("publicKeyFormat").map(String::as_str);
    let der_asked = match format {
        None | Some("PEM") | Some("1") | Some("PUBLIC_KEY_FORMAT_UNSPECIFIED") | Some("0") => false,
        Some("DER") | Some("2") => true,
        Some(other) => {
            return Err(CloudError::invalid(format!(
                "public_key_format {other} is not served: use PEM or DER."
            )))
        }
    };
    let used = kms.cloud_public_key(request.caller, request.name).await?;
    let (der, algorithm) = &used.value;
    let pem = pem(der);
    let body = object(vec![
        ("pem", Some(json!(pem))),
        ("pemCrc32c", Some(crc(pem.as_bytes()))),
        ("algorithm", Some(json!(algorithm))),
        (
            "publicKeyFormat",
            Some(json!(if der_asked { "DER" } else { "PEM" })),
        ),
        (
            "publicKey",
            der_asked.then(|| json!({"data": base64(der), "crc32cChecksum": crc(der)})),
        ),
    ]);
    Ok(reply(kms, &used, body))
}

pub(super) async fn asymmetric_sign(kms: &Kms, request: Request<'_>) -> Result<Reply, CloudError> {
    let body: SignBody = parse(request.body)?;
    let digest = body.digest.map(|d| match (d.sha256, d.sha384, d.sha512) {
        (Some(b), None, None) => Ok(("sha256", b)),
        (None, Some(b), None) => Ok(("sha384", b)),
        (None, None, Some(b)) => Ok(("sha512", b)),
        _ => Err(CloudError::invalid(
            "digest must have exactly one of sha256, sha384, sha512.",
        )),
    });
    let digest = digest.transpose()?;
    let (input, digest_ok, data_ok) = match (&digest, &body.data) {
        (Some((hash, bytes)), None) => {
            let ok = verified(&bytes.0, body.digest_crc32c, ("digest", "digest_crc32c"))?;
            (ToSign::Digest(hash, &bytes.0), ok, false)
        }
        (None, Some(data)) if data.0.len() <= MAX_DATA => {
            let ok = verified(&data.0, body.data_crc32c, ("data", "data_crc32c"))?;
            (ToSign::Data(&data.0), false, ok)
        }
        (None, Some(_)) => {
            return Err(CloudError::invalid(format!(
                "data is longer than {MAX_DATA} bytes."
            )))
        }
        _ => {
            return Err(CloudError::invalid(
                "Exactly one of digest and data is required.",
            ))
        }
    };
    let used = kms.cloud_sign(request.caller, request.name, input).await?;
    let body = json!({
        "signature": base64(&used.value),
        "signatureCrc32c": crc(&used.value),
        "verifiedDigestCrc32c": digest_ok,
        "verifiedDataCrc32c": data_ok,
    });
    Ok(reply(kms, &used, body))
}

pub(super) async fn asymmetric_decrypt(
    kms: &Kms,
    request: Request<'_>,
) -> Result<Reply, CloudError> {
    let body: DecryptBody = parse(request.body)?;
    if body.ciphertext.0.is_empty() {
        return Err(CloudError::invalid("ciphertext is required."));
    }
    let ok = verified(
        &body.ciphertext.0,
        body.ciphertext_crc32c,
        ("ciphertext", "ciphertext_crc32c"),
    )?;
    let ciphertext = body.ciphertext.0.to_vec();
    let used = kms
        .cloud_asymmetric_decrypt(request.caller, request.name, ciphertext)
        .await?;
    let body = json!({
        "plaintext": base64(&used.value),
        "plaintextCrc32c": crc(&used.value),
        "verifiedCiphertextCrc32c": ok,
    });
    let mut reply = reply(kms, &used, body);
    if let Some(members) = reply.body.as_object_mut() {
        members.remove("name");
    }
    Ok(reply)
}

fn checked_data(body: &MacBody) -> Result<bool, CloudError> {
    if body.data.0.len() > MAX_DATA {
        return Err(CloudError::invalid(format!(
            "data is longer than {MAX_DATA} bytes."
        )));
    }
    verified(&body.data.0, body.data_crc32c, ("data", "data_crc32c"))
}

pub(super) async fn mac_sign(kms: &Kms, request: Request<'_>) -> Result<Reply, CloudError> {
    let body: MacBody = parse(request.body)?;
    let data_ok = checked_data(&body)?;
    let used = kms
        .cloud_mac_sign(request.caller, request.name, &body.data.0)
        .await?;
    let body = json!({
        "mac": base64(&used.value),
        "macCrc32c": crc(&used.value),
        "verifiedDataCrc32c": data_ok,
    });
    Ok(reply(kms, &used, body))
}

pub(super) async fn mac_verify(kms: &Kms, request: Request<'_>) -> Result<Reply, CloudError> {
    let body: MacBody = parse(request.body)?;
    let data_ok = checked_data(&body)?;
    let mac = body
        .mac
        .as_ref()
        .ok_or_else(|| CloudError::invalid("mac is required."))?;
    let mac_ok = verified(&mac.0, body.mac_crc32c, ("mac", "mac_crc32c"))?;
    let used = kms
        .cloud_mac_verify(request.caller, request.name, (&body.data.0, &mac.0))
        .await?;
    let body = json!({
        "success": used.value,
        "verifiedDataCrc32c": data_ok,
        "verifiedMacCrc32c": mac_ok,
        "verifiedSuccessIntegrity": used.value,
    });
    Ok(reply(kms, &used, body))
}
