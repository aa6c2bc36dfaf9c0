//! The AWS JSON 1.1 protocol over HTTP/1.1: `POST /` with `X-Amz-Target:
//! TrentService.<Operation>`. No crypto and no SQL here.

mod aliases;
mod asym;
mod asym_agree;
mod audited;
mod auth;
mod body;
pub mod cloud;
#[cfg(feature = "dev-clock")]
mod dev;
mod error;
mod grants;
mod handlers;
mod import;
mod lifecycle;
mod ops;
mod policies;
mod rotation;
mod sigv4;
mod tags;
mod transport;
mod validate;
#[cfg(test)]
mod wipe_tests;
mod wire;
mod wire_asym;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Buf, Bytes};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response};
use tokio::net::TcpListener;
use uuid::Uuid;
use zeroize::{Zeroize, Zeroizing};

pub use error::ApiError;
pub use transport::{Transport, TransportError};

use crate::audit::AuditLog;
use crate::config::{Settings, SettingsError};
use crate::kms::{Caller, Kms};
use auth::{AccessKey, Authenticator};
use body::parse;

/// Largest request body accepted, in bytes (a 128 KiB key policy fits with room).
const MAX_BODY: usize = 256 * 1024;
const TARGET_PREFIX: &str = "TrentService.";
const JSON_1_1: &str = "application/x-amz-json-1.1";

/// Serves connections from `listener` as `transport` says (TLS, limits, timeouts) until
/// `shutdown` completes, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    transport: Transport,
    service: Arc<Service>,
    shutdown: impl Future<Output = ()>,
) {
    transport
        .run(listener, move |req| handle(service.clone(), req), shutdown)
        .await;
}

/// The transport of `server.ops_listen`: the API's limits and timeouts, plain HTTP on any
/// address (its endpoints serve counts and states only, never key data).
pub fn ops_transport(
    settings: &crate::config::ServerSettings,
    listen: std::net::SocketAddr,
) -> Result<Transport, TransportError> {
    let mut plain = settings.clone();
    plain.tls = None;
    plain.allow_plaintext = true;
    Transport::new(&plain, listen)
}

/// Serves only the operator's endpoints (`/metrics`, `/healthz`, `/readyz`) from
/// `listener` until `shutdown` completes; anything else is 404.
pub async fn serve_ops(
    listener: TcpListener,
    transport: Transport,
    service: Arc<Service>,
    shutdown: impl Future<Output = ()>,
) {
    let handler = move |req: Request<Incoming>| {
        let service = service.clone();
        async move {
            let answer = ops::answer(&service, req.method(), req.uri().path()).await;
            Ok::<_, Infallible>(answer.unwrap_or_else(ops::not_found))
        }
    };
    transport.run(listener, handler, shutdown).await;
}

/// What answers requests: the authenticator in front of the key management service.
pub struct Service {
    /// The domain.
    kms: Arc<Kms>,
    /// Where every request is recorded before it is answered.
    audit: Arc<AuditLog>,
    /// Checks every request's signature and names its caller.
    auth: Authenticator,
    /// How long a request's body may take to arrive once its headers are in.
    body_timeout: Duration,
    /// The only principal that may move a development clock.
    #[cfg(feature = "dev-clock")]
    clock_principal: Option<String>,
    /// The metrics registry and this layer's instruments.
    ops: ops::Ops,
    /// Whether this listener answers the operator's endpoints (no `server.ops_listen`).
    ops_on_api: bool,
}

impl Service {
    /// A service accepting the access keys in `settings`.
    pub fn new(
        kms: Arc<Kms>,
        audit: Arc<AuditLog>,
        settings: &Settings,
    ) -> Result<Service, SettingsError> {
        let admins = &settings.aws.admin_principals;
        let mut keys = HashMap::new();
        for credential in &settings.credentials {
            let caller = Caller {
                principal: credential.principal.clone(),
                account: credential.account().unwrap_or_default().to_owned(),
                admin: admins.contains(&credential.principal),
            };
            let secret = credential.secret()?;
            keys.insert(
                credential.access_key_id.clone(),
                AccessKey { secret, caller },
            );
        }
        tracing::info!(
            access_keys = keys.len(),
            "requests must be SigV4-signed with a configured access key"
        );
        Ok(Service {
            ops: ops::Ops::new(&kms, &audit),
            ops_on_api: settings.server.ops_listen.is_none(),
            kms,
            audit,
            auth: Authenticator::new(settings.aws.region.clone(), keys),
            body_timeout: Duration::from_secs(settings.server.header_timeout_seconds),
            #[cfg(feature = "dev-clock")]
            clock_principal: settings.dev.clock_principal.clone(),
        })
    }

    /// Answers a request whose body has been read: authenticate, dispatch, shape the
    /// answer (an AWS error for anything refused).
    pub async fn answer(&self, parts: &Parts, body: &[u8]) -> Response<Full<Bytes>> {
        self.respond(parts, Ok(body), Instant::now()).await
    }

    async fn respond(
        &self,
        parts: &Parts,
        body: Result<&[u8], ApiError>,
        started: Instant,
    ) -> Response<Full<Bytes>> {
        let serving = self.audit.serving();
        let request_id = Uuid::new_v4().to_string();
        let time_ms = audited::now_ms();
        let target = target(parts);
        let (mut principal, mut material) = (None, None);
        let read = body.as_ref().ok().copied();
        let mut result = match body {
            Ok(body) => match self.auth.verify(parts, body, SystemTime::now()) {
                // A log that cannot write refuses work up front; the record of this
                // refusal is the write that tells whether it can again.
                Ok(_) if !self.audit.is_healthy() => Err(audited::unaudited()),
                Ok(caller) => {
                    principal = Some(caller.principal.clone());
                    let dispatched = dispatch(self, &caller, target.as_deref(), body);
                    let (answer, used) = audited::noting(dispatched).await;
                    material = used;
                    answer
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        let answered = audited::Answered {
            request_id: &request_id,
            operation: target.as_deref(),
            principal,
            body: read,
            result: &result,
            material,
            started,
            time_ms,
        };
        let authenticated = answered.principal.is_some();
        let event = audited::record(parts, answered);
        if let Err(e) = self.audit.record_request(serving, event).await {
            tracing::error!(%request_id, error = %e, "request not audited; answered KMSInternalException");
            result = Err(audited::unaudited());
        }
        let outcome = result.as_ref().err().map(|e| e.type_name);
        let label = ops::operation_label(target.as_deref(), authenticated, outcome);
        self.ops
            .observe(label, outcome.unwrap_or("Success"), started.elapsed());
        let operation = target.as_deref().unwrap_or("-");
        let elapsed_us = started.elapsed().as_micros();
        match result {
            Ok(body) => {
                tracing::debug!(%request_id, operation, elapsed_us, "ok");
                reply(hyper::StatusCode::OK, body, &request_id)
            }
            Err(e) => {
                tracing::debug!(%request_id, operation, elapsed_us, error = e.type_name, "failed");
                error_reply(&e, &request_id)
            }
        }
    }
}

/// One request: read, authenticate, dispatch, answer. Never fails at the HTTP level.
async fn handle(
    service: Arc<Service>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    if service.ops_on_api {
        if let Some(answer) = ops::answer(&service, req.method(), req.uri().path()).await {
            return Ok(answer);
        }
    }
    let (parts, body) = req.into_parts();
    let read = read_body(body, service.body_timeout).await;
    let body = read.as_ref().map(|b| b.as_slice()).map_err(ApiError::clone);
    Ok(service.respond(&parts, body, started).await)
}

/// The operation named by `X-Amz-Target`, for `POST /` only.
fn target(parts: &Parts) -> Option<String> {
    if parts.method != Method::POST || parts.uri.path() != "/" {
        return None;
    }
    let value = parts.headers.get("x-amz-target")?.to_str().ok()?;
    Some(value.to_owned())
}

/// Reads a body into memory that is wiped when dropped: bodies carry plaintext.
async fn read_body<B>(body: B, within: Duration) -> Result<Zeroizing<Vec<u8>>, ApiError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let read = tokio::time::timeout(within, Limited::new(body, MAX_BODY).collect()).await;
    let Ok(read) = read else {
        return Err(ApiError {
            type_name: "RequestTimeoutException",
            status: hyper::StatusCode::BAD_REQUEST,
            message: format!(
                "The request body did not arrive in time (limit: {} s).",
                within.as_secs()
            ),
        });
    };
    match read {
        Ok(collected) => Ok(wiped_copy(collected.aggregate())),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::serialization(
            format!("The request body is larger than {MAX_BODY} bytes."),
        )),
        Err(e) => Err(ApiError::serialization(format!(
            "Cannot read the request body: {e}"
        ))),
    }
}

/// The bytes of `chunks` in one buffer sized up front (growing would leave copies), each
/// chunk wiped once copied where nothing else holds it.
fn wiped_copy(mut chunks: impl Buf) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(chunks.remaining()));
    while chunks.has_remaining() {
        let chunk = chunks.copy_to_bytes(chunks.chunk().len());
        out.extend_from_slice(&chunk);
        if let Ok(mut unique) = chunk.try_into_mut() {
            unique.zeroize();
        }
    }
    out
}

async fn dispatch(
    service: &Service,
    caller: &Caller,
    target: Option<&str>,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let kms = &*service.kms;
    #[cfg(feature = "dev-clock")]
    if target == Some(dev::ADVANCE_CLOCK) && kms.dev_operations() {
        let principal = service.clock_principal.as_deref();
        return dev::advance_clock(kms, caller, principal, parse(body)?)
            .await
            .map_err(ApiError::from);
    }
    let operation = target
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .ok_or_else(|| ApiError::unknown_operation(target.unwrap_or("")))?;
    let result = match operation {
        "CreateKey" => handlers::create_key(kms, caller, parse(body)?).await,
        "DescribeKey" => handlers::describe_key(kms, caller, parse(body)?).await,
        "ListKeys" => handlers::list_keys(kms, caller, parse(body)?).await,
        "Encrypt" => handlers::encrypt(kms, caller, parse(body)?).await,
        "Decrypt" => handlers::decrypt(kms, caller, parse(body)?).await,
        "ReEncrypt" => handlers::re_encrypt(kms, caller, parse(body)?).await,
        "GenerateDataKey" => handlers::generate_data_key(kms, caller, parse(body)?, true).await,
        "GenerateDataKeyWithoutPlaintext" => {
            handlers::generate_data_key(kms, caller, parse(body)?, false).await
        }
        "GenerateRandom" => handlers::generate_random(kms, caller, parse(body)?).await,
        "Sign" => asym::sign(kms, caller, parse(body)?).await,
        "Verify" => asym::verify(kms, caller, parse(body)?).await,
        "GetPublicKey" => asym::get_public_key(kms, caller, parse(body)?).await,
        "GenerateMac" => asym::generate_mac(kms, caller, parse(body)?).await,
        "VerifyMac" => asym::verify_mac(kms, caller, parse(body)?).await,
        "DeriveSharedSecret" => asym_agree::derive_shared_secret(kms, caller, parse(body)?).await,
        "GenerateDataKeyPair" => {
            asym_agree::generate_data_key_pair(kms, caller, parse(body)?, true).await
        }
        "GenerateDataKeyPairWithoutPlaintext" => {
            asym_agree::generate_data_key_pair(kms, caller, parse(body)?, false).await
        }
        "EnableKey" => lifecycle::enable_key(kms, caller, parse(body)?).await,
        "DisableKey" => lifecycle::disable_key(kms, caller, parse(body)?).await,
        "ScheduleKeyDeletion" => lifecycle::schedule_key_deletion(kms, caller, parse(body)?).await,
        "CancelKeyDeletion" => lifecycle::cancel_key_deletion(kms, caller, parse(body)?).await,
        "UpdateKeyDescription" => {
            lifecycle::update_key_description(kms, caller, parse(body)?).await
        }
        "EnableKeyRotation" => rotation::enable_key_rotation(kms, caller, parse(body)?).await,
        "DisableKeyRotation" => rotation::disable_key_rotation(kms, caller, parse(body)?).await,
        "GetKeyRotationStatus" => {
            rotation::get_key_rotation_status(kms, caller, parse(body)?).await
        }
        "RotateKeyOnDemand" => rotation::rotate_key_on_demand(kms, caller, parse(body)?).await,
        "ListKeyRotations" => rotation::list_key_rotations(kms, caller, parse(body)?).await,
        "GetParametersForImport" => {
            import::get_parameters_for_import(kms, caller, parse(body)?).await
        }
        "ImportKeyMaterial" => import::import_key_material(kms, caller, parse(body)?).await,
        "DeleteImportedKeyMaterial" => {
            import::delete_imported_key_material(kms, caller, parse(body)?).await
        }
        "CreateAlias" => aliases::create_alias(kms, caller, parse(body)?).await,
        "UpdateAlias" => aliases::update_alias(kms, caller, parse(body)?).await,
        "DeleteAlias" => aliases::delete_alias(kms, caller, parse(body)?).await,
        "ListAliases" => aliases::list_aliases(kms, caller, parse(body)?).await,
        "TagResource" => tags::tag_resource(kms, caller, parse(body)?).await,
        "UntagResource" => tags::untag_resource(kms, caller, parse(body)?).await,
        "ListResourceTags" => tags::list_resource_tags(kms, caller, parse(body)?).await,
        "GetKeyPolicy" => policies::get_key_policy(kms, caller, parse(body)?).await,
        "PutKeyPolicy" => policies::put_key_policy(kms, caller, parse(body)?).await,
        "ListKeyPolicies" => policies::list_key_policies(kms, caller, parse(body)?).await,
        "CreateGrant" => grants::create_grant(kms, caller, parse(body)?).await,
        "ListGrants" => grants::list_grants(kms, caller, parse(body)?).await,
        "ListRetirableGrants" => grants::list_retirable_grants(kms, caller, parse(body)?).await,
        "RetireGrant" => grants::retire_grant(kms, caller, parse(body)?).await,
        "RevokeGrant" => grants::revoke_grant(kms, caller, parse(body)?).await,
        _ => return Err(ApiError::unknown_operation(target.unwrap_or(""))),
    };
    result.map_err(ApiError::from)
}

/// A response whose body is wiped once sent: answers carry plaintext.
fn reply(status: hyper::StatusCode, body: Vec<u8>, request_id: &str) -> Response<Full<Bytes>> {
    wiped_answer(status, body, JSON_1_1, ("x-amzn-requestid", request_id))
}

/// A response of `content_type` whose body is wiped once sent, carrying the request id
/// in the header named.
fn wiped_answer(
    status: hyper::StatusCode,
    body: Vec<u8>,
    content_type: &'static str,
    (id_header, request_id): (&'static str, &str),
) -> Response<Full<Bytes>> {
    let body = Bytes::from_owner(Zeroizing::new(body));
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert(id_header, id);
    }
    response
}

fn error_reply(error: &ApiError, request_id: &str) -> Response<Full<Bytes>> {
    let mut body = serde_json::Map::new();
    body.insert("__type".into(), error.type_name.into());
    if !error.message.is_empty() {
        body.insert("message".into(), error.message.clone().into());
    }
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut response = reply(error.status, bytes, request_id);
    response.headers_mut().insert(
        "x-amzn-errortype",
        HeaderValue::from_static(error.type_name),
    );
    response
}
