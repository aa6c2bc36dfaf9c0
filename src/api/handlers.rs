//! One handler per operation: check the members against the AWS model, call the domain,
//! shape the response.

use serde::Serialize;
use zeroize::Zeroizing;

use super::audited;
use super::body::unknown_member;
use super::validate::{
    blob_len, one_of, page_size, parse_enum, pattern, range, required, required_secret, str_len,
};
use super::wire::*;
use crate::kms::asym;
use crate::kms::model::{EncryptionAlgorithm, Key, KeySpec, KeyUsage, Origin};
use crate::kms::rules::{KeyState, Op};
use crate::kms::{Caller, ErrorKind, Kms, KmsError, NewKey, ReEncryptSide};

/// Every KeySpec the AWS model knows; we serve the ones `KeySpec::parse` accepts.
const AWS_KEY_SPECS: &[&str] = &[
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "ECC_NIST_EDWARDS25519",
    "SYMMETRIC_DEFAULT",
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
    "SM2",
    "ML_DSA_44",
    "ML_DSA_65",
    "ML_DSA_87",
];
const AWS_KEY_USAGES: &[&str] = &[
    "SIGN_VERIFY",
    "ENCRYPT_DECRYPT",
    "GENERATE_VERIFY_MAC",
    "KEY_AGREEMENT",
];
const AWS_ORIGINS: &[&str] = &["AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"];
const DATA_KEY_SPECS: &[&str] = &["AES_256", "AES_128"];
const MAX_KEY_ID: usize = 2048;
const MAX_PLAINTEXT: usize = 4096;
const MAX_CIPHERTEXT: usize = 6144;
const MAX_GRANT_TOKENS: usize = 10;

/// The `{}` of operations that return nothing.
pub(super) fn empty() -> Result<Vec<u8>, KmsError> {
    Ok(b"{}".to_vec())
}

/// Epoch seconds, as AWS timestamps are sent.
pub(super) fn seconds(millis: i64) -> f64 {
    millis as f64 / 1000.0
}

/// Serialises a response body into a buffer sized first: a buffer that grew would leave
/// unwiped copies of any plaintext behind.
pub(super) fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, KmsError> {
    let mut size = Counter(0);
    serde_json::to_writer(&mut size, value).map_err(KmsError::internal)?;
    let mut out = Vec::with_capacity(size.0);
    serde_json::to_writer(&mut out, value).map_err(KmsError::internal)?;
    Ok(out)
}

/// A writer that only counts bytes.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(super) fn unsupported(message: String) -> KmsError {
    KmsError::new(ErrorKind::UnsupportedOperation, message)
}

/// A key id member: required, 1..2048 characters.
pub(super) fn key_id(value: Option<String>, member: &str) -> Result<String, KmsError> {
    let value = required(value, member)?;
    str_len(member, &value, 1, MAX_KEY_ID)?;
    Ok(value)
}

pub(super) fn optional_key_id(
    value: Option<String>,
    member: &str,
) -> Result<Option<String>, KmsError> {
    value.map(|v| key_id(Some(v), member)).transpose()
}

pub(super) fn grant_tokens(tokens: Option<&Vec<String>>) -> Result<(), KmsError> {
    let Some(tokens) = tokens else { return Ok(()) };
    if tokens.len() > MAX_GRANT_TOKENS {
        return Err(KmsError::new(
            ErrorKind::Validation,
            format!("1 validation error detected: Value at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to {MAX_GRANT_TOKENS}"),
        ));
    }
    tokens
        .iter()
        .try_for_each(|t| str_len("grantTokens", t, 1, 8192))?;
    crate::kms::grants::check_tokens(tokens)
}

fn algorithm(value: Option<&str>, member: &str) -> Result<EncryptionAlgorithm, KmsError> {
    let Some(text) = value else {
        return Ok(EncryptionAlgorithm::SymmetricDefault);
    };
    one_of(member, text, EncryptionAlgorithm::NAMES)?;
    EncryptionAlgorithm::parse(text).ok_or_else(|| KmsError::internal("enum names drifted"))
}

/// The Recipient member: checked against the model, then refused (no attested enclaves).
pub(super) fn no_recipient(recipient: Option<&RecipientInfo>) -> Result<(), KmsError> {
    let Some(r) = recipient else { return Ok(()) };
    if let Some(algorithm) = &r.key_encryption_algorithm {
        one_of(
            "recipient.keyEncryptionAlgorithm",
            algorithm,
            &["RSAES_OAEP_SHA_256"],
        )?;
    }
    if let Some(document) = &r.attestation_document {
        blob_len("recipient.attestationDocument", &document.0, 1, 262_144)?;
    }
    Err(unsupported(
        "Recipient (attested enclave) requests are not supported.".into(),
    ))
}

/// The DryRunModifiers member: IGNORE_CIPHERTEXT (a dry run that checks permissions
/// only) is not served; without DryRun the modifiers do nothing, as in AWS.
fn dry_run_modifiers(modifiers: Option<&Vec<String>>, dry_run: bool) -> Result<(), KmsError> {
    let modifiers = modifiers.map_or(&[][..], Vec::as_slice);
    for modifier in modifiers {
        one_of("dryRunModifiers", modifier, &["IGNORE_CIPHERTEXT"])?;
    }
    if dry_run && !modifiers.is_empty() {
        return Err(unsupported(
            "DryRunModifiers IGNORE_CIPHERTEXT is not supported: send the ciphertext with DryRun."
                .into(),
        ));
    }
    Ok(())
}

/// The CustomKeyStoreId member (1..64 characters): refused, there are no custom key stores.
fn no_custom_key_store(id: Option<&String>) -> Result<(), KmsError> {
    let Some(id) = id else { return Ok(()) };
    str_len("customKeyStoreId", id, 1, 64)?;
    Err(unsupported("Custom key stores are not supported.".into()))
}

/// The XksKeyId member (1..128 characters of `^[a-zA-Z0-9-_.]+$`): refused with the
/// custom key stores it belongs to.
fn no_xks_key(id: Option<&String>) -> Result<(), KmsError> {
    let Some(id) = id else { return Ok(()) };
    str_len("xksKeyId", id, 1, 128)?;
    pattern("xksKeyId", id, "^[a-zA-Z0-9-_.]+$", |c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
    })?;
    Err(unsupported("Custom key stores are not supported.".into()))
}

/// KeyMetadata for `key`.
pub(super) fn metadata(kms: &Kms, key: &Key) -> KeyMetadata {
    let imported = key
        .current_material
        .and_then(|id| key.material(id))
        .and_then(|m| m.import.as_ref());
    KeyMetadata {
        aws_account_id: kms.identity().account.clone(),
        key_id: key.id.to_string(),
        arn: kms.arn(key),
        creation_date: key.created_at as f64 / 1000.0,
        enabled: key.state == KeyState::Enabled,
        deletion_date: key.deletion_date.map(seconds),
        expiration_model: imported.map(|i| match i.valid_to {
            Some(_) => "KEY_MATERIAL_EXPIRES",
            None => "KEY_MATERIAL_DOES_NOT_EXPIRE",
        }),
        valid_to: imported.and_then(|i| i.valid_to).map(seconds),
        pending_deletion_window_in_days: key.pending_window_days,
        description: key.description.clone(),
        key_usage: key.usage.as_str(),
        key_state: kms.state_of(key).as_str(),
        origin: key.origin.as_str(),
        key_manager: "CUSTOMER",
        customer_master_key_spec: key.spec.as_str(),
        key_spec: key.spec.as_str(),
        encryption_algorithms: asym::encryption_algorithms(key.spec, key.usage)
            .into_iter()
            .map(EncryptionAlgorithm::as_str)
            .collect(),
        signing_algorithms: asym::signing_algorithms(key.spec, key.usage)
            .into_iter()
            .map(|a| a.as_str())
            .collect(),
        mac_algorithms: asym::mac_algorithms(key.spec)
            .into_iter()
            .map(|a| a.as_str())
            .collect(),
        key_agreement_algorithms: asym::key_agreement_algorithms(key.usage),
        multi_region: false,
        current_key_material_id: key.current_material.map(|m| m.to_string()),
    }
}

/// CreateKey.
pub async fn create_key(
    kms: &Kms,
    caller: &Caller,
    r: CreateKeyRequest,
) -> Result<Vec<u8>, KmsError> {
    let bypass = r.bypass_policy_lockout_safety_check == Some(true);
    let new = new_key(r)?;
    kms.authorize_account(caller, "CreateKey")?;
    if let (Some(policy), false) = (&new.policy, bypass) {
        let arn = kms.identity().key_arn(uuid::Uuid::nil());
        kms.check_lockout(caller, policy, &arn)?;
    }
    let key = kms.create_key(new).await?;
    json(&KeyMetadataResponse {
        key_metadata: metadata(kms, &key),
    })
}

fn new_key(r: CreateKeyRequest) -> Result<NewKey, KmsError> {
    let description = r.description.unwrap_or_default();
    str_len("description", &description, 0, 8192)?;
    if let Some(policy) = &r.policy {
        str_len("policy", policy, 1, 131_072)?;
    }
    no_custom_key_store(r.custom_key_store_id.as_ref())?;
    no_xks_key(r.xks_key_id.as_ref())?;
    if r.multi_region == Some(true) {
        return Err(unsupported("Multi-Region keys are not supported.".into()));
    }
    let spec = key_spec(r.key_spec.as_deref(), r.customer_master_key_spec.as_deref())?;
    let usage = match r.key_usage.as_deref() {
        None => KeyUsage::EncryptDecrypt,
        Some(text) => parse_enum("keyUsage", text, AWS_KEY_USAGES, KeyUsage::parse, || {
            KmsError::new(
                ErrorKind::Validation,
                format!(
                    "KeyUsage {text} is not compatible with KeySpec {}",
                    spec.as_str()
                ),
            )
        })?,
    };
    let origin = match r.origin.as_deref() {
        None => Origin::AwsKms,
        Some(text) => parse_enum("origin", text, AWS_ORIGINS, Origin::parse, || {
            unsupported(format!("Origin {text} is not supported."))
        })?,
    };
    Ok(NewKey {
        description,
        usage,
        spec,
        origin,
        policy: r.policy,
        tags: tags(r.tags.unwrap_or_default())?,
    })
}

fn key_spec(spec: Option<&str>, legacy: Option<&str>) -> Result<KeySpec, KmsError> {
    let (member, text) = match (spec, legacy) {
        (Some(_), Some(_)) => {
            return Err(KmsError::new(
                ErrorKind::Validation,
                "Specify KeySpec or CustomerMasterKeySpec, not both.",
            ))
        }
        (Some(text), None) => ("keySpec", text),
        (None, Some(text)) => ("customerMasterKeySpec", text),
        (None, None) => return Ok(KeySpec::SymmetricDefault),
    };
    parse_enum(member, text, AWS_KEY_SPECS, KeySpec::parse, || {
        unsupported(format!("KeySpec {text} is not supported in this Region."))
    })
}

pub(super) fn tags(tags: Vec<Tag>) -> Result<Vec<(String, String)>, KmsError> {
    tags.into_iter()
        .enumerate()
        .map(|(i, tag)| {
            let key_member = format!("tags.{}.member.tagKey", i + 1);
            let value_member = format!("tags.{}.member.tagValue", i + 1);
            let key = required(tag.tag_key, &key_member)?;
            let value = required(tag.tag_value, &value_member)?;
            str_len(&key_member, &key, 1, 128)?;
            str_len(&value_member, &value, 0, 256)?;
            Ok((key, value))
        })
        .collect()
}

/// DescribeKey.
pub async fn describe_key(
    kms: &Kms,
    caller: &Caller,
    r: DescribeKeyRequest,
) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    grant_tokens(r.grant_tokens.as_ref())?;
    let key = kms.describe_key(caller, &id).await?;
    json(&KeyMetadataResponse {
        key_metadata: metadata(kms, &key),
    })
}

/// ListKeys.
pub async fn list_keys(
    kms: &Kms,
    caller: &Caller,
    r: ListKeysRequest,
) -> Result<Vec<u8>, KmsError> {
    let limit = page_size(r.limit, r.marker.as_deref(), 100, 1000)?;
    kms.authorize_account(caller, "ListKeys")?;
    let page = kms.list_keys(limit, r.marker.as_deref())?;
    let keys = page
        .items
        .iter()
        .map(|k| KeyListEntry {
            key_id: k.id.to_string(),
            key_arn: kms.arn(k),
        })
        .collect();
    json(&ListKeysResponse {
        keys,
        truncated: page.truncated(),
        next_marker: page.next_marker,
    })
}

/// Encrypt.
pub async fn encrypt(kms: &Kms, caller: &Caller, r: EncryptRequest) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    let plaintext = required_secret(r.plaintext, "plaintext")?;
    blob_len("plaintext", &plaintext.0, 1, MAX_PLAINTEXT)?;
    grant_tokens(r.grant_tokens.as_ref())?;
    let alg = algorithm(r.encryption_algorithm.as_deref(), "encryptionAlgorithm")?;
    let context = r.encryption_context.unwrap_or_default();
    let dry_run = r.dry_run.unwrap_or(false);
    let done = kms
        .encrypt(caller, &id, plaintext.0, &context, alg, dry_run)
        .await?;
    audited::note_material(done.material_id);
    json(&EncryptResponse {
        ciphertext_blob: B64(&done.blob),
        key_id: kms.arn(&done.key),
        encryption_algorithm: alg.as_str(),
    })
}

/// Decrypt.
pub async fn decrypt(kms: &Kms, caller: &Caller, r: DecryptRequest) -> Result<Vec<u8>, KmsError> {
    let blob = required(r.ciphertext_blob, "ciphertextBlob")?;
    blob_len("ciphertextBlob", &blob.0, 1, MAX_CIPHERTEXT)?;
    let id = optional_key_id(r.key_id, "keyId")?;
    grant_tokens(r.grant_tokens.as_ref())?;
    let alg = algorithm(r.encryption_algorithm.as_deref(), "encryptionAlgorithm")?;
    no_recipient(r.recipient.as_ref())?;
    let dry_run = r.dry_run.unwrap_or(false);
    dry_run_modifiers(r.dry_run_modifiers.as_ref(), dry_run)?;
    let context = r.encryption_context.unwrap_or_default();
    let done = kms
        .decrypt(caller, &blob.0, id.as_deref(), &context, alg, dry_run)
        .await?;
    json(&DecryptResponse {
        key_id: kms.arn(&done.key),
        plaintext: B64(&done.plaintext),
        encryption_algorithm: alg.as_str(),
        key_material_id: done.material_id.to_string(),
    })
}

/// ReEncrypt.
pub async fn re_encrypt(
    kms: &Kms,
    caller: &Caller,
    r: ReEncryptRequest,
) -> Result<Vec<u8>, KmsError> {
    let blob = required(r.ciphertext_blob, "ciphertextBlob")?;
    blob_len("ciphertextBlob", &blob.0, 1, MAX_CIPHERTEXT)?;
    let source_id = optional_key_id(r.source_key_id, "sourceKeyId")?;
    let destination_id = key_id(r.destination_key_id, "destinationKeyId")?;
    grant_tokens(r.grant_tokens.as_ref())?;
    let source_alg = algorithm(
        r.source_encryption_algorithm.as_deref(),
        "sourceEncryptionAlgorithm",
    )?;
    let destination_alg = algorithm(
        r.destination_encryption_algorithm.as_deref(),
        "destinationEncryptionAlgorithm",
    )?;
    let (source_context, destination_context) = (
        r.source_encryption_context.unwrap_or_default(),
        r.destination_encryption_context.unwrap_or_default(),
    );
    let source = ReEncryptSide {
        key_id: source_id.as_deref(),
        context: &source_context,
        algorithm: source_alg,
    };
    let destination = ReEncryptSide {
        key_id: destination_id.as_str(),
        context: &destination_context,
        algorithm: destination_alg,
    };
    let dry_run = r.dry_run.unwrap_or(false);
    dry_run_modifiers(r.dry_run_modifiers.as_ref(), dry_run)?;
    let done = kms
        .re_encrypt(caller, &blob.0, source, destination, dry_run)
        .await?;
    json(&ReEncryptResponse {
        ciphertext_blob: B64(&done.blob),
        source_key_id: kms.arn(&done.source.0),
        key_id: kms.arn(&done.destination.0),
        source_encryption_algorithm: source_alg.as_str(),
        destination_encryption_algorithm: destination_alg.as_str(),
        source_key_material_id: done.source.1.to_string(),
        destination_key_material_id: done.destination.1.to_string(),
    })
}

/// GenerateDataKey (`with_plaintext`) or GenerateDataKeyWithoutPlaintext.
pub async fn generate_data_key(
    kms: &Kms,
    caller: &Caller,
    r: GenerateDataKeyRequest,
    with_plaintext: bool,
) -> Result<Vec<u8>, KmsError> {
    // The two operations share a shape, but only GenerateDataKey has Recipient.
    if !with_plaintext && r.recipient.is_some() {
        return Err(unknown_member("Recipient"));
    }
    let id = key_id(r.key_id, "keyId")?;
    let len = data_key_len(r.number_of_bytes, r.key_spec.as_deref())?;
    grant_tokens(r.grant_tokens.as_ref())?;
    no_recipient(r.recipient.as_ref())?;
    let context = r.encryption_context.unwrap_or_default();
    let op = match with_plaintext {
        true => Op::GenerateDataKey,
        false => Op::GenerateDataKeyWithoutPlaintext,
    };
    let dry_run = r.dry_run.unwrap_or(false);
    let done = kms
        .generate_data_key(caller, &id, len, &context, op, dry_run)
        .await?;
    json(&GenerateDataKeyResponse {
        ciphertext_blob: B64(&done.blob),
        plaintext: with_plaintext.then_some(B64(&done.plaintext)),
        key_id: kms.arn(&done.key),
        key_material_id: done.material_id.to_string(),
    })
}

/// Exactly one of NumberOfBytes (1..1024) and KeySpec (AES_256, AES_128).
fn data_key_len(number_of_bytes: Option<i64>, spec: Option<&str>) -> Result<usize, KmsError> {
    match (number_of_bytes, spec) {
        (Some(n), None) => {
            range("numberOfBytes", n, 1, 1024)?;
            Ok(usize::try_from(n).unwrap_or(0))
        }
        (None, Some(spec)) => {
            one_of("keySpec", spec, DATA_KEY_SPECS)?;
            Ok(if spec == "AES_128" { 16 } else { 32 })
        }
        _ => Err(KmsError::new(
            ErrorKind::Validation,
            "Please specify either number of bytes or key spec.",
        )),
    }
}

/// GenerateRandom.
pub async fn generate_random(
    kms: &Kms,
    caller: &Caller,
    r: GenerateRandomRequest,
) -> Result<Vec<u8>, KmsError> {
    let Some(n) = r.number_of_bytes else {
        return Err(KmsError::new(
            ErrorKind::Validation,
            "NumberOfBytes is required.",
        ));
    };
    range("numberOfBytes", n, 1, 1024)?;
    no_custom_key_store(r.custom_key_store_id.as_ref())?;
    no_recipient(r.recipient.as_ref())?;
    kms.authorize_account(caller, "GenerateRandom")?;
    let bytes: Zeroizing<Vec<u8>> = kms.generate_random(usize::try_from(n).unwrap_or(0)).await?;
    json(&GenerateRandomResponse {
        plaintext: B64(&bytes),
    })
}
