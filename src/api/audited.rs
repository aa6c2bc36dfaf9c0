//! The audit record of each request: who, from where, what, on which key, and how it went,
//! without any secret member. The record is durable before the answer leaves.

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Instant;

use hyper::http::request::Parts;
use uuid::Uuid;

use super::error::ApiError;
use crate::audit::{self, Event, Parameters, RequestRecord, ResponseIds};

tokio::task_local! {
    /// The material version an operation used when its response does not name it
    /// (Encrypt's response carries no KeyMaterialId, but its record must).
    static MATERIAL: Cell<Option<Uuid>>;
}

/// Notes the material version the current request used, for its record.
pub(super) fn note_material(id: Uuid) {
    let _ = MATERIAL.try_with(|m| m.set(Some(id)));
}

/// Runs `operation`, returning what it noted with `note_material`.
pub(super) async fn noting<F: Future>(operation: F) -> (F::Output, Option<Uuid>) {
    MATERIAL
        .scope(Cell::new(None), async {
            let out = operation.await;
            (out, MATERIAL.with(Cell::get))
        })
        .await
}

/// What is known of a request once it has been answered.
pub(super) struct Answered<'a> {
    pub request_id: &'a str,
    pub operation: Option<&'a str>,
    pub principal: Option<String>,
    pub body: Option<&'a [u8]>,
    pub result: &'a Result<Vec<u8>, ApiError>,
    pub material: Option<Uuid>,
    pub started: Instant,
    pub time_ms: i64,
}

/// The answer when a record cannot be made durable: never an unaudited success.
pub(super) fn unaudited() -> ApiError {
    ApiError {
        type_name: "KMSInternalException",
        status: hyper::StatusCode::INTERNAL_SERVER_ERROR,
        message: "The request could not be recorded in the audit log; it was not served.".into(),
    }
}

/// The record of an answered request.
pub(super) fn record(parts: &Parts, answered: Answered<'_>) -> Event {
    let (key_arn, key_material_id) = match answered.result {
        Ok(body) => ResponseIds::of(body).into_pair(),
        Err(_) => (None, None),
    };
    let (outcome, error_type) = match answered.result {
        Ok(_) => ("Success", None),
        Err(e) => ("Failure", Some(e.type_name.to_owned())),
    };
    Event::Request(RequestRecord {
        time_ms: answered.time_ms,
        request_id: answered.request_id.to_owned(),
        operation: answered.operation.unwrap_or("-").to_owned(),
        principal: answered.principal,
        access_key_id: access_key_id(parts),
        source: parts
            .extensions
            .get::<SocketAddr>()
            .map(SocketAddr::to_string),
        key_arn,
        key_material_id: key_material_id.or(answered.material.map(|m| m.to_string())),
        parameters: answered.body.map(Parameters::of).unwrap_or_default(),
        outcome: outcome.to_owned(),
        error_type,
        latency_us: u64::try_from(answered.started.elapsed().as_micros()).unwrap_or(u64::MAX),
    })
}

/// The access key id the Authorization header claims, verified or not.
fn access_key_id(parts: &Parts) -> Option<String> {
    let header = parts.headers.get("authorization")?.to_str().ok()?;
    let credential = header.split("Credential=").nth(1)?;
    let id = credential.split('/').next()?;
    (!id.is_empty() && id.len() <= 128).then(|| id.to_owned())
}

/// Epoch milliseconds for a record.
pub(super) fn now_ms() -> i64 {
    audit::now_ms()
}
