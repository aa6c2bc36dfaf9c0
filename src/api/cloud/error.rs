//! Domain errors in the google.rpc model: a canonical status, its code, and the HTTP status
//! Cloud KMS answers with, in one table. The body is `{"error": {code, message, status}}`.

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

/// (status, google.rpc.Code, HTTP status).
const STATUSES: &[(&str, u16, u16)] = &[
    ("INVALID_ARGUMENT", 3, 400),
    ("FAILED_PRECONDITION", 9, 400),
    ("OUT_OF_RANGE", 11, 400),
    ("UNAUTHENTICATED", 16, 401),
    ("PERMISSION_DENIED", 7, 403),
    ("NOT_FOUND", 5, 404),
    ("ALREADY_EXISTS", 6, 409),
    ("RESOURCE_EXHAUSTED", 8, 429),
    ("INTERNAL", 13, 500),
    ("UNIMPLEMENTED", 12, 501),
    ("UNAVAILABLE", 14, 503),
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

    /// The status name's google.rpc code and HTTP status.
    fn codes(&self) -> (u16, u16) {
        STATUSES
            .iter()
            .find(|(name, _, _)| *name == self.status)
            .map_or((13, 500), |(_, code, http)| (*code, *http))
    }

    /// The HTTP status.
    pub fn http_status(&self) -> StatusCode {
        StatusCode::from_u16(self.codes().1).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The response body.
    pub fn body(&self) -> Vec<u8> {
        let body = json!({"error": {
            "code": self.codes().0,
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
            (ErrorKind::InvalidState, 400, 9),
            (ErrorKind::Validation, 400, 3),
            (ErrorKind::NotFound, 404, 5),
            (ErrorKind::AlreadyExists, 409, 6),
            (ErrorKind::AccessDenied, 403, 7),
            (ErrorKind::Throttling, 429, 8),
            (ErrorKind::DependencyTimeout, 503, 14),
            (ErrorKind::Internal, 500, 13),
        ];
        for (kind, http, code) in cases {
            let error = CloudError::from(KmsError::new(kind, "m"));
            assert_eq!(error.http_status().as_u16(), http, "{kind:?}");
            let body: serde_json::Value = serde_json::from_slice(&error.body()).unwrap_or_default();
            assert_eq!(body["error"]["code"], code, "{kind:?}");
            assert_eq!(body["error"]["message"], "m");
        }
        assert_eq!(CloudError::unauthenticated().http_status().as_u16(), 401);
    }
}
