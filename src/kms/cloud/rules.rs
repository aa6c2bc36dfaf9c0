//! The Cloud KMS key-version state table of seed 004, cell by cell, as a pure function: what
//! each version operation does in each version state. No I/O.
//!
//! | State              | use | enable | disable | destroy | restore | public key |
//! | ------------------ | --- | ------ | ------- | ------- | ------- | ---------- |
//! | PENDING_GENERATION | ✗   | ✗      | ✗       | ✗       | ✗       | ✗          |
//! | PENDING_IMPORT     | ✗   | ✗      | ✗       | ✗       | ✗       | ✗          |
//! | ENABLED            | ✓   | no-op  | ✓       | ✓       | ✗       | ✓          |
//! | DISABLED           | ✗   | ✓      | no-op   | ✓       | ✗       | ✗          |
//! | DESTROY_SCHEDULED  | ✗   | ✗      | ✗       | ✗       | ✓       | ✗          |
//! | DESTROYED          | ✗   | ✗      | ✗       | ✗       | ✗       | ✗          |
//! | IMPORT_FAILED      | ✗   | ✗      | ✗       | ✗       | ✗       | ✗          |
//!
//! "Use" is every cryptographic operation (encrypt with the primary version, decrypt,
//! sign, MAC, asymmetric decrypt). Every refusal is FAILED_PRECONDITION.

use crate::kms::model::MaterialState;

/// The Cloud KMS name of a version state.
pub fn state_name(state: MaterialState) -> &'static str {
    match state {
        MaterialState::PendingGeneration => "PENDING_GENERATION",
        MaterialState::Enabled => "ENABLED",
        MaterialState::Disabled => "DISABLED",
        MaterialState::DestroyScheduled => "DESTROY_SCHEDULED",
        MaterialState::Destroyed => "DESTROYED",
        // AWS's deleted or expired imported material: waiting for the same material again.
        MaterialState::PendingImport => "PENDING_IMPORT",
        MaterialState::ImportFailed => "IMPORT_FAILED",
        // Imported as AWS NEW_KEY_MATERIAL, not yet current: usable, not primary.
        MaterialState::PendingRotation => "ENABLED",
    }
}

/// What may be done to a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionOp {
    /// A cryptographic operation.
    Use,
    /// UpdateCryptoKeyVersion to ENABLED.
    Enable,
    /// UpdateCryptoKeyVersion to DISABLED.
    Disable,
    /// DestroyCryptoKeyVersion.
    Destroy,
    /// RestoreCryptoKeyVersion.
    Restore,
    /// GetPublicKey.
    PublicKey,
}

/// The outcome of a version operation in a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Allowed; the version goes to this state.
    To(MaterialState),
    /// Allowed and changes nothing.
    Same,
    /// Refused: FAILED_PRECONDITION.
    Refused,
}

/// The cell of `op` in `state`.
pub fn outcome(op: VersionOp, state: MaterialState) -> Outcome {
    use MaterialState as S;
    use Outcome::{Refused, Same, To};
    use VersionOp as O;
    let state = match state {
        S::PendingRotation => S::Enabled,
        other => other,
    };
    match (op, state) {
        (O::Use | O::PublicKey, S::Enabled) => Same,
        (O::Use | O::PublicKey, _) => Refused,
        (O::Enable, S::Enabled) => Same,
        (O::Enable, S::Disabled) => To(S::Enabled),
        (O::Enable, _) => Refused,
        (O::Disable, S::Enabled) => To(S::Disabled),
        (O::Disable, S::Disabled) => Same,
        (O::Disable, _) => Refused,
        (O::Destroy, S::Enabled | S::Disabled) => To(S::DestroyScheduled),
        (O::Destroy, _) => Refused,
        (O::Restore, S::DestroyScheduled) => To(S::Disabled),
        (O::Restore, _) => Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MaterialState as S;
    use Outcome::{Refused as X, Same as N};
    use VersionOp as O;

    const STATES: [MaterialState; 7] = [
        S::PendingGeneration,
        S::PendingImport,
        S::Enabled,
        S::Disabled,
        S::DestroyScheduled,
        S::Destroyed,
        S::ImportFailed,
    ];

    /// Seed 004, written out independently of `outcome`.
    #[rustfmt::skip]
    fn table() -> [(VersionOp, [Outcome; 7]); 6] {
        let (en, dis, sched) = (Outcome::To(S::Enabled), Outcome::To(S::Disabled), Outcome::To(S::DestroyScheduled));
        [
            //                PGen PImp Enabled Disabled DSched Destroyed IFailed
            (O::Use,         [X,   X,   N,      X,       X,     X,        X]),
            (O::Enable,      [X,   X,   N,      en,      X,     X,        X]),
            (O::Disable,     [X,   X,   dis,    N,       X,     X,        X]),
            (O::Destroy,     [X,   X,   sched,  sched,   X,     X,        X]),
            (O::Restore,     [X,   X,   X,      X,       dis,   X,        X]),
            (O::PublicKey,   [X,   X,   N,      X,       X,     X,        X]),
        ]
    }

    #[test]
    fn every_cell_is_seed_004s() {
        for (op, row) in table() {
            for (state, want) in STATES.into_iter().zip(row) {
                assert_eq!(outcome(op, state), want, "{op:?} in {state:?}");
            }
        }
    }
}
