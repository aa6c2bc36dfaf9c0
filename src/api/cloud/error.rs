//! Domain errors in the google.rpc model: a canonical status and the HTTP status Cloud KMS
//! answers with, in one table. The body is `{"error": {code, message, status}}`, where
//! `code` is the HTTP status (Google's JSON error form).

use hyper::StatusCode;
use serde_json::json;

use crate::kms::{ErrorKind, KmsError};

/// An error as a Cloud KMS client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudError {
    /// The canonical status name, e.g. `FAILED_PRECONDITION`.
    pub status: &'static str,
    /// The message.
    pub message: String,
}

/// (status, HTTP status).
const STATUSES: &[(&str, u16)] = &[
    ("INVALID_ARGUMENT", 400),
    ("FAILED_PRECONDITION", 400),
    ("OUT_OF_RANGE", 400),
    ("UNAUTHENTICATED", 401),
    ("PERMISSION_DENIED", 403),
    ("NOT_FOUND", 404),
    ("ALREADY_EXISTS", 409),
    ("RESOURCE_EXHAUSTED", 429),
    ("INTERNAL", 500),
    ("UNIMPLEMENTED", 501),
    ("UNAVAILABLE", 503),
];

impl CloudError {
    fn new(status: &'static str, message: impl Into<String>) -> CloudError {
        CloudError {
            status,
            message: message.into(),
        }
    }

    /// INVALID_ARGUMENT.
    pub fn invalid(message: impl Into<String>) -> CloudError {
        CloudError::new("INVALID_ARGUMENT", message)
    }

    /// UNAUTHENTICATED, as Google words a missing or unknown credential.
    pub fn unauthenticated() -> CloudError {
        CloudError::new(
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        )
    }

    /// NOT_FOUND for a path that names no method.
    pub fn no_method(method: &str, path: &str) -> CloudError {
        CloudError::new("NOT_FOUND", format!("No method {method} {path} is served."))
    }

    /// INTERNAL: the request's audit record could not be written, so it was not served.
    pub fn unaudited() -> CloudError {
        CloudError::new(
            "INTERNAL",
            "The request could not be recorded in the audit log; it was not served.",
        )
    }

    fn code(&self) -> u16 {
        STATUSES
            .iter()
            .find(|(name, _)| *name == self.status)
            .map_or(500, |(_, http)| *http)
    }

    /// The HTTP status.
    pub fn http_status(&self) -> StatusCode {
        StatusCode::from_u16(self.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The response body.
    pub fn body(&self) -> Vec<u8> {
        let body = json!({"error": {
            "code": self.code(),
            "message": self.message,
            "status": self.status,
        }});
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

impl From<KmsError> for CloudError {
    fn from(error: KmsError) -> Self {
        CloudError::new(status_of(error.kind), error.message)
    }
}

/// The mapping table: state refusals are FAILED_PRECONDITION, malformed input is
/// INVALID_ARGUMENT, and the token's or the sidecar's faults are INTERNAL or UNAVAILABLE.
fn status_of(kind: ErrorKind) -> &'static str {
    use ErrorKind as K;
    match kind {
        K::AccessDenied | K::NotAuthorized => "PERMISSION_DENIED",
        K::NotFound => "NOT_FOUND",
        K::AlreadyExists => "ALREADY_EXISTS",
        K::Disabled | K::InvalidState | K::UnsupportedOperation | K::InvalidKeyUsage => {
            "FAILED_PRECONDITION"
        }
        K::Validation
        | K::InvalidCiphertext
        | K::IncorrectKey
        | K::InvalidSignature
        | K::InvalidMac
        | K::InvalidArn
        | K::InvalidGrantId
        | K::InvalidGrantToken
        | K::IncorrectKeyMaterial
        | K::InvalidImportToken
        | K::ExpiredImportToken
        | K::InvalidMarker
        | K::Tag
        | K::MalformedPolicyDocument
        | K::DryRunOperation => "INVALID_ARGUMENT",
        K::LimitExceeded | K::Throttling => "RESOURCE_EXHAUSTED",
        K::DependencyTimeout => "UNAVAILABLE",
        K::Internal => "INTERNAL",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_carry_cloud_kms_http_codes() {
        let cases = [
            (ErrorKind::InvalidState, 400, "FAILED_PRECONDITION"),
            (ErrorKind::Validation, 400, "INVALID_ARGUMENT"),
            (ErrorKind::NotFound, 404, "NOT_FOUND"),
            (ErrorKind::AlreadyExists, 409, "ALREADY_EXISTS"),
            (ErrorKind::AccessDenied, 403, "PERMISSION_DENIED"),
            (ErrorKind::Throttling, 429, "RESOURCE_EXHAUSTED"),
            (ErrorKind::DependencyTimeout, 503, "UNAVAILABLE"),
            (ErrorKind::Internal, 500, "INTERNAL"),
        ];
        for (kind, http, status) in cases {
            let error = CloudError::from(KmsError::new(kind, "m"));
            assert_eq!(error.http_status().as_u16(), http, "{kind:?}");
            let body: serde_json::Value = serde_json::from_slice(&error.body()).unwrap_or_default();
            assert_eq!(body["error"]["code"], http, "{kind:?}");
            assert_eq!(body["error"]["status"], status, "{kind:?}");
            assert_eq!(body["error"]["message"], "m");
        }
        assert_eq!(CloudError::unauthenticated().http_status().as_u16(), 401);
    }
}
