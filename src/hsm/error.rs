//! PKCS#11 return values mapped, once, to what the caller should do about them.

use cryptoki::context::Function;
use cryptoki::error::{Error as CkError, RvError};

/// What a failed token call means for the request and for the session that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The ciphertext or tag did not verify: the caller's data is bad.
    BadCiphertext,
    /// No object with the requested id is on the token.
    KeyMissing,
    /// The cached object handle no longer names the object: look it up again.
    StaleHandle,
    /// The session was closed under us: open another.
    SessionLost,
    /// The token forgot our login: log in again.
    LoggedOut,
    /// The token or its slot is gone or broken.
    TokenUnavailable,
    /// Imported material unwrapped to a key of the wrong size.
    WrongKeySize,
    /// Every session stayed busy for the whole acquire timeout.
    Busy,
    /// So many calls already wait for a session that this one is shed at once.
    Overloaded,
    /// Anything else: an internal error.
    Other,
}

/// A failed token call, with the PKCS#11 function named for the log.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct HsmError {
    /// How the caller should treat the failure.
    pub fault: Fault,
    /// Function and return value, for the log only.
    detail: String,
}

impl Fault {
    /// Whether the session that saw this fault may serve the next call: not after a lost
    /// session or token, nor after a failure nobody classified.
    pub fn session_reusable(self) -> bool {
        !matches!(
            self,
            Fault::SessionLost | Fault::TokenUnavailable | Fault::Other
        )
    }
}

impl HsmError {
    pub(crate) fn new(fault: Fault, detail: impl Into<String>) -> Self {
        HsmError {
            fault,
            detail: detail.into(),
        }
    }
}

impl From<CkError> for HsmError {
    fn from(error: CkError) -> Self {
        let fault = match &error {
            CkError::Pkcs11(rv, function) => classify(*rv, *function),
            _ => Fault::Other,
        };
        HsmError::new(fault, error.to_string())
    }
}

/// The rv table. SoftHSM2 reports a failed GCM tag check as CKR_GENERAL_ERROR and other
/// tokens use CKR_FUNCTION_FAILED: on a decrypt call these mean bad input, not a fault.
fn classify(rv: RvError, function: Function) -> Fault {
    let decrypting = matches!(function, Function::Decrypt | Function::DecryptFinal);
    match rv {
        RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange => Fault::BadCiphertext,
        RvError::GeneralError | RvError::FunctionFailed if decrypting => Fault::BadCiphertext,
        RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid => Fault::StaleHandle,
        RvError::SessionHandleInvalid | RvError::SessionClosed => Fault::SessionLost,
        RvError::UserNotLoggedIn => Fault::LoggedOut,
        RvError::DeviceRemoved
        | RvError::DeviceError
        | RvError::TokenNotPresent
        | RvError::TokenNotRecognized
        | RvError::SlotIdInvalid
        | RvError::CryptokiNotInitialized => Fault::TokenUnavailable,
        _ => Fault::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcm_tag_failures_are_bad_ciphertext_only_on_decrypt() {
        assert_eq!(
            classify(RvError::GeneralError, Function::Decrypt),
            Fault::BadCiphertext
        );
        assert_eq!(
            classify(RvError::FunctionFailed, Function::Decrypt),
            Fault::BadCiphertext
        );
        assert_eq!(
            classify(RvError::GeneralError, Function::Encrypt),
            Fault::Other
        );
    }

    #[test]
    fn sessions_are_closed_after_unclassified_failures() {
        assert!(!Fault::Other.session_reusable());
        assert!(!Fault::SessionLost.session_reusable());
        assert!(Fault::BadCiphertext.session_reusable());
        assert!(Fault::KeyMissing.session_reusable());
    }

    #[test]
    fn session_faults_are_recoverable_kinds() {
        assert_eq!(
            classify(RvError::SessionHandleInvalid, Function::Encrypt),
            Fault::SessionLost
        );
        assert_eq!(
            classify(RvError::UserNotLoggedIn, Function::Encrypt),
            Fault::LoggedOut
        );
        assert_eq!(
            classify(RvError::ObjectHandleInvalid, Function::EncryptInit),
            Fault::StaleHandle
        );
    }
}
