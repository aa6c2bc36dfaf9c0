//! Domain errors to AWS wire errors: the exception name and HTTP status, in one table.

use hyper::StatusCode;

use crate::kms::{ErrorKind, KmsError};

/// An error as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The `__type` member and `x-amzn-ErrorType` header.
    pub type_name: &'static str,
    /// 400 for client errors, 500 for the AWS fault shapes.
    pub status: StatusCode,
    /// The `message` member; left out of the body when empty, as AWS does.
    pub message: String,
}

impl ApiError {
    /// The target names no operation we serve.
    pub fn unknown_operation(target: &str) -> Self {
        ApiError {
            type_name: "UnknownOperationException",
            status: StatusCode::BAD_REQUEST,
            message: format!("Unknown operation {target:?}."),
        }
    }

    /// The body is not the JSON the operation takes.
    pub fn serialization(message: String) -> Self {
        ApiError {
            type_name: "SerializationException",
            status: StatusCode::BAD_REQUEST,
            message,
        }
    }
}

impl From<KmsError> for ApiError {
    fn from(error: KmsError) -> Self {
        let (type_name, status) = wire(error.kind);
        ApiError {
            type_name,
            status,
            message: error.message,
        }
    }
}

/// The mapping table.
fn wire(kind: ErrorKind) -> (&'static str, StatusCode) {
    const CLIENT: StatusCode = StatusCode::BAD_REQUEST;
    const FAULT: StatusCode = StatusCode::INTERNAL_SERVER_ERROR;
    match kind {
        ErrorKind::AccessDenied => ("AccessDeniedException", CLIENT),
        ErrorKind::Validation => ("ValidationException", CLIENT),
        ErrorKind::NotFound => ("NotFoundException", CLIENT),
        ErrorKind::AlreadyExists => ("AlreadyExistsException", CLIENT),
        ErrorKind::NotAuthorized => ("NotAuthorizedException", CLIENT),
        ErrorKind::Disabled => ("DisabledException", CLIENT),
        ErrorKind::InvalidState => ("KMSInvalidStateException", CLIENT),
        ErrorKind::UnsupportedOperation => ("UnsupportedOperationException", CLIENT),
        ErrorKind::InvalidCiphertext => ("InvalidCiphertextException", CLIENT),
        ErrorKind::IncorrectKey => ("IncorrectKeyException", CLIENT),
        ErrorKind::InvalidKeyUsage => ("InvalidKeyUsageException", CLIENT),
        ErrorKind::InvalidSignature => ("KMSInvalidSignatureException", CLIENT),
        ErrorKind::InvalidMac => ("KMSInvalidMacException", CLIENT),
        ErrorKind::InvalidArn => ("InvalidArnException", CLIENT),
        ErrorKind::InvalidGrantId => ("InvalidGrantIdException", CLIENT),
        ErrorKind::InvalidGrantToken => ("InvalidGrantTokenException", CLIENT),
        ErrorKind::IncorrectKeyMaterial => ("IncorrectKeyMaterialException", CLIENT),
        ErrorKind::InvalidImportToken => ("InvalidImportTokenException", CLIENT),
        ErrorKind::ExpiredImportToken => ("ExpiredImportTokenException", CLIENT),
        ErrorKind::InvalidMarker => ("InvalidMarkerException", CLIENT),
        ErrorKind::Tag => ("TagException", CLIENT),
        ErrorKind::MalformedPolicyDocument => ("MalformedPolicyDocumentException", CLIENT),
        ErrorKind::LimitExceeded => ("LimitExceededException", CLIENT),
        ErrorKind::Throttling => ("ThrottlingException", CLIENT),
        ErrorKind::DryRunOperation => ("DryRunOperationException", CLIENT),
        ErrorKind::Internal => ("KMSInternalException", FAULT),
        ErrorKind::DependencyTimeout => ("DependencyTimeoutException", FAULT),
    }
}
