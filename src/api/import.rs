//! GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::handlers::seconds;
use super::handlers::{json, key_id, unsupported};
use super::validate::{blob_len, one_of, parse_enum, pattern, required, str_len};
use super::wire::{Blob, B64};
use crate::kms::model::{WrappingAlgorithm, WrappingKeySpec};
use crate::kms::{Action, Caller, ErrorKind, ImportType, Kms, KmsError, MaterialImport};

const AWS_WRAPPING_ALGORITHMS: &[&str] = &[
    "RSAES_PKCS1_V1_5",
    "RSAES_OAEP_SHA_1",
    "RSAES_OAEP_SHA_256",
    "RSA_AES_KEY_WRAP_SHA_1",
    "RSA_AES_KEY_WRAP_SHA_256",
    "SM2PKE",
];
const AWS_WRAPPING_KEY_SPECS: &[&str] = &["RSA_2048", "RSA_3072", "RSA_4096", "SM2"];
const EXPIRES: &str = "KEY_MATERIAL_EXPIRES";
const DOES_NOT_EXPIRE: &str = "KEY_MATERIAL_DOES_NOT_EXPIRE";

/// GetParametersForImport input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GetParametersForImportRequest {
    pub key_id: Option<String>,
    pub wrapping_algorithm: Option<String>,
    pub wrapping_key_spec: Option<String>,
}

/// GetParametersForImport output.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParametersForImportResponse<'a> {
    pub key_id: String,
    pub import_token: B64<'a>,
    pub public_key: B64<'a>,
    pub parameters_valid_to: f64,
}

/// ImportKeyMaterial input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ImportKeyMaterialRequest {
    pub key_id: Option<String>,
    pub import_token: Option<Blob>,
    pub encrypted_key_material: Option<Blob>,
    pub valid_to: Option<f64>,
    pub expiration_model: Option<String>,
    pub import_type: Option<String>,
    pub key_material_description: Option<String>,
    pub key_material_id: Option<String>,
}

/// DeleteImportedKeyMaterial input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DeleteImportedKeyMaterialRequest {
    pub key_id: Option<String>,
    pub key_material_id: Option<String>,
}

/// ImportKeyMaterial and DeleteImportedKeyMaterial output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMaterialResponse {
    pub key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_id: Option<String>,
}

/// GetParametersForImport.
pub async fn get_parameters_for_import(
    kms: &Kms,
    caller: &Caller,
    r: GetParametersForImportRequest,
) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    kms.authorize(caller, &id, Action::plain("GetParametersForImport"))
        .await?;
    let algorithm = required(r.wrapping_algorithm, "wrappingAlgorithm")?;
    let spec = required(r.wrapping_key_spec, "wrappingKeySpec")?;
    one_of("wrappingKeySpec", &spec, AWS_WRAPPING_KEY_SPECS)?;
    one_of("wrappingAlgorithm", &algorithm, AWS_WRAPPING_ALGORITHMS)?;
    if (spec == "SM2") != (algorithm == "SM2PKE") {
        return Err(KmsError::new(
            ErrorKind::Validation,
            format!("WrappingAlgorithm {algorithm} is not compatible with WrappingKeySpec {spec}."),
        ));
    }
    let algorithm = parse_enum(
        "wrappingAlgorithm",
        &algorithm,
        AWS_WRAPPING_ALGORITHMS,
        WrappingAlgorithm::parse,
        || unsupported(format!("WrappingAlgorithm {algorithm} is not supported.")),
    )?;
    let spec = parse_enum(
        "wrappingKeySpec",
        &spec,
        AWS_WRAPPING_KEY_SPECS,
        WrappingKeySpec::parse,
        || {
            unsupported(format!(
                "WrappingKeySpec {spec} is not supported in this Region."
            ))
        },
    )?;
    let params = kms.get_parameters_for_import(&id, algorithm, spec).await?;
    json(&GetParametersForImportResponse {
        key_id: kms.arn(&params.key),
        import_token: B64(&params.import_token),
        public_key: B64(&params.public_key),
        parameters_valid_to: seconds(params.valid_to),
    })
}

/// ImportKeyMaterial.
pub async fn import_key_material(
    kms: &Kms,
    caller: &Caller,
    r: ImportKeyMaterialRequest,
) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    kms.authorize(caller, &id, Action::plain("ImportKeyMaterial"))
        .await?;
    let token = required(r.import_token, "importToken")?;
    blob_len("importToken", &token.0, 1, 6144)?;
    let material = required(r.encrypted_key_material, "encryptedKeyMaterial")?;
    blob_len("encryptedKeyMaterial", &material.0, 1, 6144)?;
    let valid_to = expiry(r.expiration_model.as_deref(), r.valid_to)?;
    let import_type = match r.import_type.as_deref() {
        None => None,
        Some(text) => {
            one_of(
                "importType",
                text,
                &["NEW_KEY_MATERIAL", "EXISTING_KEY_MATERIAL"],
            )?;
            Some(if text == "NEW_KEY_MATERIAL" {
                ImportType::New
            } else {
                ImportType::Existing
            })
        }
    };
    if let Some(description) = &r.key_material_description {
        str_len("keyMaterialDescription", description, 0, 256)?;
        pattern(
            "keyMaterialDescription",
            description,
            "^[a-zA-Z0-9:/_\\s.-]+$",
            |c| {
                c.is_ascii_alphanumeric()
                    || c.is_whitespace()
                    || matches!(c, ':' | '/' | '_' | '.' | '-')
            },
        )?;
    }
    let material_id = r.key_material_id.as_deref().map(material_id).transpose()?;
    let import = MaterialImport {
        import_token: token.0.to_vec(),
        encrypted_material: material.0.to_vec(),
        valid_to,
        import_type,
        material_id,
        description: r.key_material_description,
    };
    let (key, material) = kms.import_key_material(&id, import).await?;
    json(&KeyMaterialResponse {
        key_id: kms.arn(&key),
        key_material_id: Some(material.to_string()),
    })
}

/// DeleteImportedKeyMaterial.
pub async fn delete_imported_key_material(
    kms: &Kms,
    caller: &Caller,
    r: DeleteImportedKeyMaterialRequest,
) -> Result<Vec<u8>, KmsError> {
    let id = key_id(r.key_id, "keyId")?;
    kms.authorize(caller, &id, Action::plain("DeleteImportedKeyMaterial"))
        .await?;
    let material = r.key_material_id.as_deref().map(material_id).transpose()?;
    let (key, material) = kms.delete_imported_key_material(&id, material).await?;
    json(&KeyMaterialResponse {
        key_id: kms.arn(&key),
        key_material_id: material.map(|m| m.to_string()),
    })
}

/// ValidTo in milliseconds when the material expires, per ExpirationModel.
fn expiry(model: Option<&str>, valid_to: Option<f64>) -> Result<Option<i64>, KmsError> {
    let model = model.unwrap_or(if valid_to.is_some() {
        EXPIRES
    } else {
        DOES_NOT_EXPIRE
    });
    one_of("expirationModel", model, &[EXPIRES, DOES_NOT_EXPIRE])?;
    match (model == EXPIRES, valid_to) {
        (true, Some(t)) => Ok(Some((t * 1000.0) as i64)),
        (true, None) => Err(KmsError::new(
            ErrorKind::Validation,
            "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES",
        )),
        (false, Some(_)) => Err(KmsError::new(
            ErrorKind::Validation,
            "A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE",
        )),
        (false, None) => Ok(None),
    }
}

fn material_id(text: &str) -> Result<Uuid, KmsError> {
    Uuid::try_parse(text).map_err(|_| {
        KmsError::new(
            ErrorKind::Validation,
            format!("1 validation error detected: Value '{text}' at 'keyMaterialId' failed to satisfy constraint: Member must be a key material id returned by this service"),
        )
    })
}
