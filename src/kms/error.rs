//! Domain errors. Each kind is one AWS KMS exception; `api::error` maps kinds to wire names
//! and HTTP status in one place.

use crate::hsm::{Fault, HsmError};
use crate::store::StoreError;

/// The AWS KMS exception a failure is reported as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The caller may not do this: no policy or grant allows it, or one denies it.
    AccessDenied,
    /// A request member is missing, malformed or out of range.
    Validation,
    /// The key, alias or other resource does not exist.
    NotFound,
    /// A resource with that name already exists (CreateAlias).
    AlreadyExists,
    /// The caller may not act on this resource, e.g. an alias name AWS reserves.
    NotAuthorized,
    /// The key is disabled (or pending deletion, in the seed's older wording).
    Disabled,
    /// The key's state does not allow the operation.
    InvalidState,
    /// The operation cannot apply to this kind of key.
    UnsupportedOperation,
    /// The ciphertext is corrupt, tampered with, or bound to another context.
    InvalidCiphertext,
    /// The ciphertext was made under a different key than the one named.
    IncorrectKey,
    /// The key cannot be used with the requested algorithm or for this operation.
    InvalidKeyUsage,
    /// Verify: the signature does not hold for this key, message and algorithm.
    InvalidSignature,
    /// VerifyMac: the MAC does not hold for this key, message and algorithm.
    InvalidMac,
    /// An ARN (or an alias where only keys are allowed) is not valid here.
    InvalidArn,
    /// A grant id that is malformed or names no grant of the key.
    InvalidGrantId,
    /// A grant token we did not issue, or whose grant is gone.
    InvalidGrantToken,
    /// Imported material is not the key's material, or not a usable key.
    IncorrectKeyMaterial,
    /// The import token is not one we issued for this key, or it was superseded.
    InvalidImportToken,
    /// The import token's validity period has passed.
    ExpiredImportToken,
    /// ListKeys' Marker is not one we issued.
    InvalidMarker,
    /// A tag breaks the tagging rules.
    Tag,
    /// The key policy is not a valid document.
    MalformedPolicyDocument,
    /// Too many requests of this kind at once; the caller should back off and retry.
    Throttling,
    /// A per-key quota (such as on-demand rotations) is used up.
    LimitExceeded,
    /// DryRun was set and the request would have succeeded.
    DryRunOperation,
    /// Something failed on our side; details are in the log, not the response.
    Internal,
    /// No token session became free in time, or the token is gone for now: SDKs retry it.
    DependencyTimeout,
}

/// A failure reported to the client with an AWS exception name and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct KmsError {
    /// Which AWS exception.
    pub kind: ErrorKind,
    /// The text the client sees; empty where AWS sends none.
    pub message: String,
}

impl KmsError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        KmsError {
            kind,
            message: message.into(),
        }
    }

    /// An internal error: `detail` goes to the log, the client sees a neutral message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        KmsError::new(
            ErrorKind::Internal,
            "The request could not be completed because of an internal error.",
        )
    }

    /// A ciphertext we cannot authenticate. AWS sends no message with this one, so that
    /// nothing tells a prober which check failed.
    pub fn invalid_ciphertext() -> Self {
        KmsError::new(ErrorKind::InvalidCiphertext, "")
    }

    /// A token failure on key `arn`, in the client's terms.
    pub fn from_hsm(error: HsmError, arn: &str) -> Self {
        match error.fault {
            Fault::BadCiphertext => KmsError::invalid_ciphertext(),
            Fault::KeyMissing => {
                tracing::error!(%error, key = arn, "key material unreachable in the token");
                KmsError::new(ErrorKind::InvalidState, format!("{arn} is unavailable."))
            }
            Fault::TokenUnavailable => {
                // Logged once, as an error, when the token was found gone.
                tracing::debug!(%error, key = arn, "the token is unavailable");
                KmsError::new(
                    ErrorKind::DependencyTimeout,
                    "The token is unavailable; retry.",
                )
            }
            Fault::Overloaded => KmsError::new(ErrorKind::Throttling, "Rate exceeded"),
            Fault::Busy => KmsError::new(
                ErrorKind::DependencyTimeout,
                "The token did not accept the request in time; retry.",
            ),
            Fault::WrongKeySize => {
                tracing::warn!(%error, key = arn, "imported material refused");
                KmsError::new(
                    ErrorKind::IncorrectKeyMaterial,
                    "The key material must be 256 bits for a SYMMETRIC_DEFAULT key.",
                )
            }
            Fault::StaleHandle | Fault::SessionLost | Fault::LoggedOut | Fault::Other => {
                KmsError::internal(error)
            }
        }
    }
}

impl From<StoreError> for KmsError {
    fn from(error: StoreError) -> Self {
        KmsError::internal(error)
    }
}
