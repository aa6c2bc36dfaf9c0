//! The operator's endpoints: `GET /metrics` (Prometheus text format), `GET /healthz` (the
//! process answers) and `GET /readyz` (token, sidecar and audit log all usable). They need
//! no signature and serve no key data: counts, latencies and states only.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;

use super::Service;
use crate::audit::AuditLog;
use crate::kms::Kms;
use crate::metrics::{self, Latencies};

/// Requests by operation and outcome.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The operation without `TrentService.`; `unauthenticated` or `unknown` when the
    /// target cannot be trusted to be one of ours (labels must stay few).
    operation: String,
    /// `Success` or the error's `__type`.
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

/// The registry, and the instruments set here rather than by another layer.
pub(super) struct Ops {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Latencies<OperationLabel>,
    pool_size: Gauge,
    pool_in_use: Gauge,
    pool_waiting: Gauge,
    keys: Family<StateLabel, Gauge>,
    audit_writable: Gauge,
    token_available: Gauge,
}

impl Ops {
    /// Registers this layer's instruments and those the token, the audit log and the
    /// domain keep.
    pub(super) fn new(kms: &Kms, audit: &AuditLog) -> Ops {
        let mut ops = Ops {
            registry: Registry::with_prefix("hsmkms"),
            requests: Family::default(),
            request_seconds: metrics::latencies(),
            pool_size: Gauge::default(),
            pool_in_use: Gauge::default(),
            pool_waiting: Gauge::default(),
            keys: Family::default(),
            audit_writable: Gauge::default(),
            token_available: Gauge::default(),
        };
        let r = &mut ops.registry;
        r.register(
            "requests",
            "Requests answered, by operation and outcome",
            ops.requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time from arrival to answer, audit write included",
            ops.request_seconds.clone(),
        );
        r.register(
            "pkcs11_call_duration_seconds",
            "Time of each token operation on a session (its PKCS#11 calls), by operation",
            kms.hsm().call_seconds(),
        );
        r.register(
            "session_pool_size",
            "Token sessions the pool may hold",
            ops.pool_size.clone(),
        );
        r.register(
            "session_pool_in_use",
            "Token sessions in use",
            ops.pool_in_use.clone(),
        );
        r.register(
            "session_pool_waiting",
            "Calls waiting for a token session",
            ops.pool_waiting.clone(),
        );
        let stats = audit.stats();
        r.register(
            "audit_write_duration_seconds",
            "Time of each audit group commit, fsync included",
            stats.write_seconds.clone(),
        );
        r.register(
            "audit_batch_records",
            "Records per audit group commit",
            stats.batch_records.clone(),
        );
        r.register(
            "audit_log_writable",
            "1 while audit records can be written, 0 while requests fail closed",
            ops.audit_writable.clone(),
        );
        r.register(
            "token_available",
            "1 while the token answers, 0 while key operations fail at once until it returns",
            ops.token_available.clone(),
        );
        r.register(
            "token_recoveries",
            "Times the token came back after it was found gone",
            kms.hsm().token_recoveries(),
        );
        r.register("keys", "Keys by key state", ops.keys.clone());
        r.register(
            "scheduler_runs",
            "Runs of the scheduler's due work",
            kms.scheduler_runs(),
        );
        ops
    }

    /// Counts an answered request.
    pub(super) fn observe(&self, operation: String, outcome: &'static str, elapsed: Duration) {
        let latency = self.request_seconds.get_or_create_owned(&OperationLabel {
            operation: operation.clone(),
        });
        metrics::observe(&latency, elapsed);
        self.requests
            .get_or_create(&RequestLabels { operation, outcome })
            .inc();
    }

    /// The registry as Prometheus text, gauges read now.
    fn render(&self, service: &Service) -> String {
        let pool = service.kms.hsm().pool();
        self.pool_size.set(gauge(pool.size));
        self.pool_in_use.set(gauge(pool.in_use));
        self.pool_waiting.set(gauge(pool.waiting));
        self.audit_writable
            .set(i64::from(service.audit.is_healthy()));
        self.token_available
            .set(i64::from(service.kms.hsm().is_token_available()));
        self.keys.clear();
        for (state, count) in service.kms.keys_by_state() {
            self.keys.get_or_create(&StateLabel { state }).set(count);
        }
        let mut text = String::new();
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
        {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        text
    }
}

/// What `/readyz` says about each dependency.
#[derive(Serialize)]
struct Readiness {
    ready: bool,
    token: &'static str,
    sidecar: &'static str,
    audit_log: &'static str,
}

/// The answer to an operator's request, or `None` for any other request.
pub(super) async fn answer(
    service: &Service,
    method: &Method,
    path: &str,
) -> Option<Response<Full<Bytes>>> {
    if method != Method::GET {
        return None;
    }
    match path {
        "/healthz" => Some(text(StatusCode::OK, "text/plain", "ok\n".into())),
        "/metrics" => Some(text(
            StatusCode::OK,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            service.ops.render(service),
        )),
        "/readyz" => Some(readiness(service).await),
        _ => None,
    }
}

async fn readiness(service: &Service) -> Response<Full<Bytes>> {
    let token = service.kms.hsm().check_ready().await;
    let sidecar = service.kms.check_sidecar().await;
    let audit = service.audit.is_healthy();
    if let Err(e) = &token {
        tracing::warn!(error = %e, "not ready: the token");
    }
    if let Err(e) = &sidecar {
        tracing::warn!(error = %e, "not ready: the sidecar");
    }
    let word = |ok: bool| if ok { "ok" } else { "failing" };
    let state = Readiness {
        ready: token.is_ok() && sidecar.is_ok() && audit,
        token: word(token.is_ok()),
        sidecar: word(sidecar.is_ok()),
        audit_log: word(audit),
    };
    let status = match state.ready {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    let body = serde_json::to_string(&state).unwrap_or_default();
    text(status, "application/json", body)
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Any other path on the operator's listener.
pub(super) fn not_found() -> Response<Full<Bytes>> {
    text(StatusCode::NOT_FOUND, "text/plain", "not found\n".into())
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The operation label of a request: its target when the caller was authenticated and the
/// target named an operation, so a stranger cannot mint label values.
pub(super) fn operation_label(
    target: Option<&str>,
    authenticated: bool,
    error_type: Option<&str>,
) -> String {
    match (authenticated, target, error_type) {
        (false, _, _) => "unauthenticated".into(),
        (true, _, Some("UnknownOperationException")) | (true, None, _) => "unknown".into(),
        (true, Some(target), _) => target
            .strip_prefix(super::TARGET_PREFIX)
            .unwrap_or(target)
            .to_owned(),
    }
}
