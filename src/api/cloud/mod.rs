//! The Google Cloud KMS v1 REST surface: JSON over HTTP on its own listen address, bearer
//! tokens from the settings, the google.rpc error model. Every request is audited like an
//! AWS one, before its answer leaves. No crypto and no SQL here.

mod asym;
mod crypto;
mod error;
mod import;
mod resources;
mod route;
mod wire;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::http::request::Parts;
use hyper::{Request as HttpRequest, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use uuid::Uuid;
use zeroize::{Zeroize, Zeroizing};

type Query = HashMap<String, String>;

/// What a request asked for, as far as it was understood, for its audit record.
struct Asked<'a> {
    op: Option<Op>,
    principal: Option<String>,
    body: Option<&'a [u8]>,
    query: Option<&'a Query>,
}

pub use error::CloudError;
use route::{Op, Route};

use super::{audited, read_body, wiped_answer, Service, Transport};
use crate::audit::{Event, Parameters, RequestRecord};
use crate::config::{Settings, SettingsError};
use crate::kms::cloud::VersionView;
use crate::kms::{Caller, Kms};

/// The Cloud KMS front door: the AWS service's domain, audit log and metrics, and the
/// bearer tokens that name callers.
pub struct CloudService {
    aws: Arc<Service>,
    /// SHA-256 of each token, to its caller: lookups never compare secrets byte by byte.
    tokens: HashMap<[u8; 32], Caller>,
}

/// What a method gets: the caller, the resource or parent named, the query and the body.
pub(super) struct Request<'a> {
    caller: &'a Caller,
    name: &'a str,
    query: &'a Query,
    body: &'a [u8],
}

/// A method's answer, with the key and material it used for the audit record.
pub(super) struct Reply {
    body: Value,
    key_arn: Option<String>,
    material: Option<Uuid>,
}

impl Reply {
    fn new(body: Value) -> Reply {
        Reply {
            body,
            key_arn: None,
            material: None,
        }
    }

    fn for_key(kms: &Kms, key: &crate::kms::model::Key, body: Value) -> Reply {
        Reply {
            key_arn: Some(kms.arn(key)),
            ..Reply::new(body)
        }
    }

    fn for_version(kms: &Kms, view: &VersionView, body: Value) -> Reply {
        Reply::used(kms, (view.crypto.key_id, view.material.id), body)
    }

    fn used(kms: &Kms, (key, material): (Uuid, Uuid), body: Value) -> Reply {
        Reply {
            body,
            key_arn: Some(kms.identity().key_arn(key)),
            material: Some(material),
        }
    }

    /// The body's bytes; every string in the tree is wiped once written (answers carry
    /// plaintext).
    fn into_bytes(mut self) -> Vec<u8> {
        let bytes = serde_json::to_vec(&self.body).unwrap_or_default();
        wipe(&mut self.body);
        bytes
    }
}

fn wipe(value: &mut Value) {
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(members) => members.values_mut().for_each(wipe),
        _ => {}
    }
}

impl CloudService {
    /// The front door for `settings.cloud_kms`, sharing `aws`'s domain, log and metrics.
    pub fn new(aws: Arc<Service>, settings: &Settings) -> Result<CloudService, SettingsError> {
        let admins = &settings.aws.admin_principals;
        let mut tokens = HashMap::new();
        for token in &settings.cloud_kms.tokens {
            let secret = token.secret()?;
            let caller = Caller {
                principal: token.principal.clone(),
                account: token
                    .principal
                    .split(':')
                    .nth(4)
                    .unwrap_or_default()
                    .to_owned(),
                admin: admins.contains(&token.principal),
            };
            tokens.insert(Sha256::digest(secret.as_bytes()).into(), caller);
        }
        tracing::info!(
            tokens = tokens.len(),
            "Cloud KMS requests must carry a configured bearer token"
        );
        Ok(CloudService { aws, tokens })
    }

    fn caller(&self, parts: &Parts) -> Result<&Caller, CloudError> {
        let header = parts
            .headers
            .get("authorization")
            .and_then(|h| h.to_str().ok());
        let token = header.and_then(|h| h.strip_prefix("Bearer "));
        let digest: [u8; 32] = Sha256::digest(token.unwrap_or_default().as_bytes()).into();
        token
            .and_then(|_| self.tokens.get(&digest))
            .ok_or_else(CloudError::unauthenticated)
    }

    async fn respond(
        &self,
        parts: &Parts,
        body: Result<&[u8], CloudError>,
        started: Instant,
    ) -> Response<Full<Bytes>> {
        let serving = self.aws.audit.serving();
        let request_id = Uuid::new_v4().to_string();
        let time_ms = audited::now_ms();
        let routed = route::route(&parts.method, parts.uri.path());
        let query = route::query(parts.uri.query());
        let mut principal = None;
        let read = body.as_ref().ok().copied();
        let mut result = match (body, &routed) {
            (Err(e), _) => Err(e),
            (Ok(body), routed) => match self.caller(parts) {
                Err(e) => Err(e),
                Ok(_) if !self.aws.audit.is_healthy() => Err(CloudError::unaudited()),
                Ok(caller) => {
                    principal = Some(caller.principal.clone());
                    match (routed, &query) {
                        (Ok(route), Ok(query)) => self.dispatch(caller, route, query, body).await,
                        (Err(e), _) | (_, Err(e)) => Err(e.clone()),
                    }
                }
            },
        };
        let op = routed.as_ref().ok().map(|r| r.op);
        let record = self.record(
            parts,
            (&request_id, time_ms, started),
            Asked {
                op,
                principal,
                body: read,
                query: query.as_ref().ok(),
            },
            &result,
        );
        let authenticated = matches!(&record, Event::Request(r) if r.principal.is_some());
        if let Err(e) = self.aws.audit.record_request(serving, record).await {
            tracing::error!(%request_id, error = %e, "request not audited; answered INTERNAL");
            result = Err(CloudError::unaudited());
        }
        let label = match (authenticated, op) {
            (false, _) => "unauthenticated".to_owned(),
            (true, None) => "unknown".to_owned(),
            (true, Some(op)) => format!("cloudkms.{op:?}"),
        };
        let outcome = result.as_ref().err().map_or("Success", |e| e.status);
        self.aws.ops.observe(label, outcome, started.elapsed());
        match result {
            Ok(reply) => answer(hyper::StatusCode::OK, reply.into_bytes(), &request_id),
            Err(e) => answer(e.http_status(), e.body(), &request_id),
        }
    }

    async fn dispatch(
        &self,
        caller: &Caller,
        route: &Route,
        query: &Query,
        body: &[u8],
    ) -> Result<Reply, CloudError> {
        let request = Request {
            caller,
            name: &route.name,
            query,
            body,
        };
        let kms = &*self.aws.kms;
        match route.op {
            Op::CreateKeyRing => resources::create_key_ring(kms, request).await,
            Op::GetKeyRing => resources::get_key_ring(kms, request),
            Op::ListKeyRings => resources::list_key_rings(kms, request),
            Op::CreateCryptoKey => resources::create_crypto_key(kms, request).await,
            Op::GetCryptoKey => resources::get_crypto_key(kms, request),
            Op::ListCryptoKeys => resources::list_crypto_keys(kms, request),
            Op::UpdateCryptoKey => resources::update_crypto_key(kms, request).await,
            Op::UpdateCryptoKeyPrimaryVersion => {
                resources::update_primary_version(kms, request).await
            }
            Op::CreateCryptoKeyVersion => resources::create_version(kms, request).await,
            Op::GetCryptoKeyVersion => resources::get_version(kms, request),
            Op::ListCryptoKeyVersions => resources::list_versions(kms, request),
            Op::UpdateCryptoKeyVersion => resources::update_version(kms, request).await,
            Op::DestroyCryptoKeyVersion => resources::destroy_version(kms, request).await,
            Op::RestoreCryptoKeyVersion => resources::restore_version(kms, request).await,
            Op::Encrypt => crypto::encrypt(kms, request).await,
            Op::Decrypt => crypto::decrypt(kms, request).await,
            Op::GenerateRandomBytes => crypto::generate_random_bytes(kms, request).await,
            Op::GetPublicKey => asym::get_public_key(kms, request).await,
            Op::AsymmetricSign => asym::asymmetric_sign(kms, request).await,
            Op::AsymmetricDecrypt => asym::asymmetric_decrypt(kms, request).await,
            Op::MacSign => asym::mac_sign(kms, request).await,
            Op::MacVerify => asym::mac_verify(kms, request).await,
            Op::CreateImportJob => import::create_import_job(kms, request).await,
            Op::GetImportJob => import::get_import_job(kms, request),
            Op::ListImportJobs => import::list_import_jobs(kms, request),
            Op::ImportCryptoKeyVersion => import::import_version(kms, request).await,
        }
    }

    /// The audit record: the method, the names in the path and query, the body's members
    /// without secret ones, the key and material used, and the outcome.
    fn record(
        &self,
        parts: &Parts,
        (request_id, time_ms, started): (&str, i64, Instant),
        asked: Asked<'_>,
        result: &Result<Reply, CloudError>,
    ) -> Event {
        let (key_arn, material) = match result {
            Ok(reply) => (reply.key_arn.clone(), reply.material),
            Err(_) => (None, None),
        };
        Event::Request(RequestRecord {
            time_ms,
            request_id: request_id.to_owned(),
            operation: asked.op.map_or_else(|| "-".to_owned(), Op::method_name),
            principal: asked.principal,
            access_key_id: None,
            source: parts
                .extensions
                .get::<SocketAddr>()
                .map(SocketAddr::to_string),
            key_arn,
            key_material_id: material.map(|m| m.to_string()),
            parameters: parameters(parts, asked.body, asked.query),
            outcome: if result.is_ok() { "Success" } else { "Failure" }.to_owned(),
            error_type: result.as_ref().err().map(|e| e.status.to_owned()),
            latency_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        })
    }
}

/// The body's members without secret ones, and the request's path and query parameters.
fn parameters(parts: &Parts, body: Option<&[u8]>, query: Option<&Query>) -> Parameters {
    let mut parameters = body.map(Parameters::of).unwrap_or_default();
    let members = &mut parameters.0;
    members.insert("path".into(), Value::String(parts.uri.path().to_owned()));
    let query = query.into_iter().flatten();
    members.extend(query.map(|(k, v)| (k.clone(), Value::String(v.clone()))));
    parameters
}

/// Serves the Cloud KMS API from `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    transport: Transport,
    service: Arc<CloudService>,
    shutdown: impl Future<Output = ()>,
) {
    let handler = move |req: HttpRequest<Incoming>| {
        let service = service.clone();
        async move {
            let started = Instant::now();
            let (parts, body) = req.into_parts();
            let read = read_body(body, service.aws.body_timeout).await;
            let body: Result<Zeroizing<Vec<u8>>, CloudError> =
                read.map_err(|e| CloudError::invalid(e.message));
            let body = body
                .as_ref()
                .map(|b| b.as_slice())
                .map_err(CloudError::clone);
            Ok::<_, Infallible>(service.respond(&parts, body, started).await)
        }
    };
    transport.run(listener, handler, shutdown).await;
}

/// A JSON answer whose body is wiped once sent.
fn answer(status: hyper::StatusCode, body: Vec<u8>, request_id: &str) -> Response<Full<Bytes>> {
    const JSON: &str = "application/json; charset=UTF-8";
    wiped_answer(status, body, JSON, ("x-request-id", request_id))
}
