//! Import jobs and ImportCryptoKeyVersion.

use serde::Deserialize;
use serde_json::{json, Value};

use super::error::CloudError;
use super::resources::version;
use super::wire::{self, enum_name, object, parse, Bytes, ALGORITHM, IMPORT_METHOD};
use super::{Reply, Request};
use crate::kms::cloud::{CloudImportJob, VersionImport};
use crate::kms::Kms;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JobBody {
    import_method: Option<Value>,
    protection_level: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ImportBody {
    algorithm: Option<Value>,
    import_job: Option<String>,
    wrapped_key: Option<Bytes>,
    rsa_aes_wrapped_key: Option<Bytes>,
    crypto_key_version: Option<String>,
}

fn job(job: &CloudImportJob) -> Value {
    let pem = job.public_key.as_deref().map(super::asym::pem);
    object(vec![
        ("name", Some(json!(job.name))),
        ("importMethod", Some(json!(job.method))),
        ("protectionLevel", Some(json!("HSM"))),
        ("createTime", Some(wire::timestamp(job.created_at))),
        (
            "generateTime",
            job.public_key
                .as_ref()
                .map(|_| wire::timestamp(job.created_at)),
        ),
        ("expireTime", Some(wire::timestamp(job.expires_at))),
        ("state", Some(json!(job.state.as_str()))),
        ("publicKey", pem.map(|pem| json!({ "pem": pem }))),
    ])
}

pub(super) async fn create_import_job(
    kms: &Kms,
    request: Request<'_>,
) -> Result<Reply, CloudError> {
    let id = request
        .query
        .get("importJobId")
        .ok_or_else(|| CloudError::invalid("Missing required parameter: importJobId."))?;
    let body: JobBody = parse(request.body)?;
    let why = "the wrapping key is made in the token";
    let level = body.protection_level.as_ref();
    wire::require_hsm(level, "import_job.protection_level", why)?;
    let method = enum_name(
        body.import_method.as_ref(),
        IMPORT_METHOD,
        "import_job.import_method",
    )?
    .ok_or_else(|| CloudError::invalid("import_job.import_method is required."))?;
    let created = kms
        .create_import_job(request.caller, request.name, id, method)
        .await?;
    Ok(Reply::new(job(&created)))
}

pub(super) fn get_import_job(kms: &Kms, request: Request<'_>) -> Result<Reply, CloudError> {
    let found = kms.get_import_job(request.caller, request.name)?;
    Ok(Reply::new(job(&found)))
}

pub(super) fn list_import_jobs(kms: &Kms, request: Request<'_>) -> Result<Reply, CloudError> {
    let jobs = kms.list_import_jobs(request.caller, request.name)?;
    let page = super::resources::paged(&request, "importJobs", jobs, |j| &j.name, job)?;
    Ok(Reply::new(page))
}

pub(super) async fn import_version(kms: &Kms, request: Request<'_>) -> Result<Reply, CloudError> {
    let body: ImportBody = parse(request.body)?;
    if body.crypto_key_version.is_some() {
        return Err(CloudError::invalid(
            "crypto_key_version (re-import into an existing version) is not served: import a new version.",
        ));
    }
    let algorithm = enum_name(body.algorithm.as_ref(), ALGORITHM, "algorithm")?
        .ok_or_else(|| CloudError::invalid("algorithm is required."))?;
    let import_job = body
        .import_job
        .as_deref()
        .ok_or_else(|| CloudError::invalid("import_job is required."))?;
    let wrapped = match (body.wrapped_key, body.rsa_aes_wrapped_key) {
        (Some(w), None) | (None, Some(w)) if !w.0.is_empty() => w.0.to_vec(),
        _ => {
            return Err(CloudError::invalid(
                "Exactly one of wrapped_key and rsa_aes_wrapped_key is required.",
            ))
        }
    };
    let import = VersionImport {
        import_job,
        algorithm,
        wrapped,
    };
    let view = kms
        .import_version(request.caller, request.name, import)
        .await?;
    Ok(Reply::for_version(kms, &view, version(&view)))
}
