//! Key-state rules: which AWS KMS operation may run on a key in which state, and the
//! exact error AWS KMS returns when it may not.
//!
//! The whole policy is one exhaustive `match` over `(operation, key state)` in [`check`],
//! laid out like the AWS "key states" table: one block per operation, in the table's
//! (alphabetical) order, a footnote number on every refusing arm. There is no catch-all
//! arm, so adding a [`KeyState`] or an [`Op`] does not compile until every new cell is
//! decided here, and the golden test at the bottom walks every cell against a second,
//! independently written table.
//!
//! Footnotes of the AWS table, as used in the comments below (`<ARN>` is the key ARN):
//!
//! * \[1\] `DisabledException: <ARN> is disabled.`
//! * \[2\] `DisabledException: <ARN> is pending deletion.`
//! * \[3\] `KMSInvalidStateException: <ARN> is pending deletion.`
//! * \[4\] `KMSInvalidStateException: <ARN> is not pending deletion.`
//! * \[5\] `KMSInvalidStateException: <ARN> is pending import.`
//! * \[6\] `UnsupportedOperationException: <ARN> origin is EXTERNAL which is not valid for this
//!   operation.`
//! * \[7\] the key has imported material (origin `EXTERNAL`): `UnsupportedOperationException`.
//! * \[8\] the key has imported material: `KMSInvalidStateException`.
//! * \[9\] the key cannot have imported material (origin `AWS_KMS`):
//!   `UnsupportedOperationException`.
//! * \[10\] `UpdateAlias`: only the *target* key counts; pending deletion gives \[3\].
//!
//! Choices made where the table leaves room:
//!
//! * "\[2\] or \[3\]": always \[3\], `KMSInvalidStateException: <ARN> is pending deletion.`,
//!   which is what AWS KMS returns today.
//! * \[8\] gives no message; we use the \[3\] text, `<ARN> is pending deletion.`.
//! * \[7\] gives no message; we use the \[6\] text. \[9\] gives none either; we use the same
//!   sentence with the key's real origin, `<ARN> origin is AWS_KMS which is not valid for
//!   this operation.`, which is the form AWS KMS uses for a key that is not `EXTERNAL`
//!   (claiming `origin is EXTERNAL` for such a key would be false).
//! * "\[1\] or \[7\]", "\[3\] or \[7\]", "\[8\] or \[9\]": origin first. When the operation can
//!   never work on this kind of key (\[7\] for `EXTERNAL` keys, \[9\] for `AWS_KMS` keys),
//!   that `UnsupportedOperationException` wins over any state-based error, because changing
//!   the state would not help the caller. Otherwise the state-based error applies.
//! * `PendingImport` only arises for `EXTERNAL` keys. The cells for an `AWS_KMS` key in
//!   `PendingImport` are still decided (the match must be total): origin-first where the
//!   origin rule applies, else the same answer as for an `EXTERNAL` key.
//!
//! Where today's AWS KMS differs from the older table these rules were written from, we
//! follow today's AWS and say so with a `// differs from seed 002:` comment.
//!
//! `Unavailable` is hsmkms's name for "the key's object in the PKCS#11 token cannot be
//! reached" (token removed, slot gone, session cannot log in). We treat it as AWS KMS treats
//! a key in a disconnected custom key store: every operation that needs the key material
//! in the token is refused with `KMSInvalidStateException: <ARN> is unavailable.`, and every
//! operation that only reads or writes metadata (description, tags, aliases, policy,
//! grants, enable/disable flag, deletion schedule) behaves as it would for an `Enabled` or
//! `Disabled` key.

/// State of a KMS key, as reported in `KeyMetadata.KeyState`.
///
/// `Creating` is internal to key creation and never reaches these rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Usable in every operation its key usage allows.
    Enabled,
    /// Turned off by `DisableKey` (or left so by `CancelKeyDeletion`); its material is kept
    /// and `EnableKey` turns it back on.
    Disabled,
    /// `ScheduleKeyDeletion` was called; the key and its material are destroyed when the
    /// deletion date passes, unless `CancelKeyDeletion` is called first. A key keeps this
    /// state even while its token object is unreachable, so that deletion can always be
    /// cancelled (AWS does the same for keys in custom key stores).
    PendingDeletion,
    /// An `EXTERNAL` key that has no key material: created without any, or its imported
    /// material was deleted or expired.
    PendingImport,
    /// The key's object in the PKCS#11 token cannot be reached. The key's recorded
    /// enabled/disabled flag comes back into effect when the object is reachable again.
    Unavailable,
}

impl KeyState {
    /// The AWS wire name of the state, as used in `KeyMetadata.KeyState`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "Enabled",
            Self::Disabled => "Disabled",
            Self::PendingDeletion => "PendingDeletion",
            Self::PendingImport => "PendingImport",
            Self::Unavailable => "Unavailable",
        }
    }

    /// Parses an AWS wire name (exact, case-sensitive); `None` for anything else,
    /// including AWS states hsmkms never uses (`Creating`, `Updating`,
    /// `PendingReplicaDeletion`).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Enabled" => Some(Self::Enabled),
            "Disabled" => Some(Self::Disabled),
            "PendingDeletion" => Some(Self::PendingDeletion),
            "PendingImport" => Some(Self::PendingImport),
            "Unavailable" => Some(Self::Unavailable),
            _ => None,
        }
    }
}

/// An AWS KMS operation that acts on one existing key, named as in the AWS API.
///
/// Operations that take no key (`CreateKey`, `ListKeys`, `GenerateRandom`) are not here:
/// no key state can refuse them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `CancelKeyDeletion`: moves a key pending deletion back to `Disabled`.
    CancelKeyDeletion,
    /// `CreateAlias`, checked against the key the new alias points to.
    CreateAlias,
    /// `CreateGrant`.
    CreateGrant,
    /// `Decrypt`.
    Decrypt,
    /// `DeleteAlias`, checked against the key the alias points to.
    DeleteAlias,
    /// `DeleteImportedKeyMaterial`.
    DeleteImportedKeyMaterial,
    /// `DeriveSharedSecret`.
    DeriveSharedSecret,
    /// `DescribeKey`.
    DescribeKey,
    /// `DisableKey`.
    DisableKey,
    /// `DisableKeyRotation`.
    DisableKeyRotation,
    /// `EnableKey`.
    EnableKey,
    /// `EnableKeyRotation`.
    EnableKeyRotation,
    /// `Encrypt`.
    Encrypt,
    /// `GenerateDataKey`.
    GenerateDataKey,
    /// `GenerateDataKeyPair`.
    GenerateDataKeyPair,
    /// `GenerateDataKeyPairWithoutPlaintext`.
    GenerateDataKeyPairWithoutPlaintext,
    /// `GenerateDataKeyWithoutPlaintext`.
    GenerateDataKeyWithoutPlaintext,
    /// `GenerateMac`.
    GenerateMac,
    /// `GetKeyPolicy`.
    GetKeyPolicy,
    /// `GetKeyRotationStatus`.
    GetKeyRotationStatus,
    /// `GetParametersForImport`.
    GetParametersForImport,
    /// `GetPublicKey`.
    GetPublicKey,
    /// `ImportKeyMaterial`.
    ImportKeyMaterial,
    /// `ListAliases` filtered by `KeyId` (the key is optional; without one, nothing is checked).
    ListAliases,
    /// `ListGrants`.
    ListGrants,
    /// `ListKeyPolicies`.
    ListKeyPolicies,
    /// `ListKeyRotations`.
    ListKeyRotations,
    /// `ListResourceTags`.
    ListResourceTags,
    /// `ListRetirableGrants`, for each key whose grants it lists.
    ListRetirableGrants,
    /// `PutKeyPolicy`.
    PutKeyPolicy,
    /// `ReEncrypt`, checked against the source key (`SourceKeyId` or the key in the ciphertext).
    ReEncryptFrom,
    /// `ReEncrypt`, checked against the destination key (`DestinationKeyId`).
    ReEncryptTo,
    /// `RetireGrant`.
    RetireGrant,
    /// `RevokeGrant`.
    RevokeGrant,
    /// `RotateKeyOnDemand`.
    RotateKeyOnDemand,
    /// `ScheduleKeyDeletion`.
    ScheduleKeyDeletion,
    /// `Sign`.
    Sign,
    /// `TagResource`.
    TagResource,
    /// `UntagResource`.
    UntagResource,
    /// `UpdateAlias`, checked against the new *target* key only (footnote 10); the key the
    /// alias pointed to before is not checked.
    UpdateAliasTarget,
    /// `UpdateKeyDescription`.
    UpdateKeyDescription,
    /// `Verify`.
    Verify,
    /// `VerifyMac`.
    VerifyMac,
}

impl Op {
    /// Every operation, in the order of the key-state table.
    pub const ALL: [Op; 43] = [
        Op::CancelKeyDeletion,
        Op::CreateAlias,
        Op::CreateGrant,
        Op::Decrypt,
        Op::DeleteAlias,
        Op::DeleteImportedKeyMaterial,
        Op::DeriveSharedSecret,
        Op::DescribeKey,
        Op::DisableKey,
        Op::DisableKeyRotation,
        Op::EnableKey,
        Op::EnableKeyRotation,
        Op::Encrypt,
        Op::GenerateDataKey,
        Op::GenerateDataKeyPair,
        Op::GenerateDataKeyPairWithoutPlaintext,
        Op::GenerateDataKeyWithoutPlaintext,
        Op::GenerateMac,
        Op::GetKeyPolicy,
        Op::GetKeyRotationStatus,
        Op::GetParametersForImport,
        Op::GetPublicKey,
        Op::ImportKeyMaterial,
        Op::ListAliases,
        Op::ListGrants,
        Op::ListKeyPolicies,
        Op::ListKeyRotations,
        Op::ListResourceTags,
        Op::ListRetirableGrants,
        Op::PutKeyPolicy,
        Op::ReEncryptFrom,
        Op::ReEncryptTo,
        Op::RetireGrant,
        Op::RevokeGrant,
        Op::RotateKeyOnDemand,
        Op::ScheduleKeyDeletion,
        Op::Sign,
        Op::TagResource,
        Op::UntagResource,
        Op::UpdateAliasTarget,
        Op::UpdateKeyDescription,
        Op::Verify,
        Op::VerifyMac,
    ];
}

/// What the rules need to know about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyFacts {
    /// The key's current state.
    pub state: KeyState,
    /// Origin `EXTERNAL`: the key material is imported by the caller. `false` means origin
    /// `AWS_KMS`: the material is generated inside the token and can never be imported.
    pub external: bool,
}

/// Why an operation is refused; each maps to one AWS exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// `DisabledException`.
    Disabled,
    /// `KMSInvalidStateException`.
    InvalidState,
    /// `UnsupportedOperationException`.
    UnsupportedOperation,
}

/// A refused operation: the exception to return and its exact message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Which AWS exception to return.
    pub denial: Denial,
    /// The message to return with it, beginning with the key ARN.
    pub message: String,
}

/// An operation the key state permits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allowed,
    /// Report success without doing anything, e.g. `DeleteImportedKeyMaterial` on a key
    /// that is already pending import.
    NoEffect,
}

/// Message of footnote 1.
const IS_DISABLED: &str = "is disabled.";
/// Message of footnotes 3, 8 and 10 (and of footnote 2, which we never use).
const IS_PENDING_DELETION: &str = "is pending deletion.";
/// Message of footnote 4.
const IS_NOT_PENDING_DELETION: &str = "is not pending deletion.";
/// Message of footnote 5.
const IS_PENDING_IMPORT: &str = "is pending import.";
/// Message for a cryptographic operation on a key whose token object is unreachable.
const IS_UNAVAILABLE: &str = "is unavailable.";
/// Message of footnotes 6 and 7: the operation never works on an `EXTERNAL` key.
const ORIGIN_EXTERNAL: &str = "origin is EXTERNAL which is not valid for this operation.";
/// Message of footnote 9: the operation only works on an `EXTERNAL` key.
const ORIGIN_AWS_KMS: &str = "origin is AWS_KMS which is not valid for this operation.";

/// Decides whether `op` may run on the key described by `key`, whose ARN is `key_arn`
/// (used in refusal messages).
///
/// An `Ok` verdict only says the key *state* permits the operation; the caller still checks
/// everything else (key usage, key spec, the operation's own preconditions such as new key
/// material having been imported before `RotateKeyOnDemand` on an `EXTERNAL` key).
///
/// # Errors
///
/// A [`Refusal`] carrying the AWS exception and its exact message when the key's state
/// (and, where the table says so, its origin) does not permit `op`.
#[allow(clippy::match_same_arms, clippy::too_many_lines)] // one arm per table cell, on purpose
pub fn check(op: Op, key: KeyFacts, key_arn: &str) -> Result<Verdict, Refusal> {
    use KeyState as S;
    use Op as O;

    let refuse = |denial: Denial, what: &str| {
        Err(Refusal {
            denial,
            message: format!("{key_arn} {what}"),
        })
    };
    let allowed = || Ok(Verdict::Allowed);
    let no_effect = || Ok(Verdict::NoEffect);
    let disabled = || refuse(Denial::Disabled, IS_DISABLED);
    let pending_deletion = || refuse(Denial::InvalidState, IS_PENDING_DELETION);
    let not_pending_deletion = || refuse(Denial::InvalidState, IS_NOT_PENDING_DELETION);
    let pending_import = || refuse(Denial::InvalidState, IS_PENDING_IMPORT);
    let unavailable = || refuse(Denial::InvalidState, IS_UNAVAILABLE);
    // Footnotes 6/7, origin first: an EXTERNAL key is refused whatever its state,
    // any other key gets `state_rule`.
    let never_external = |state_rule: Result<Verdict, Refusal>| {
        if key.external {
            refuse(Denial::UnsupportedOperation, ORIGIN_EXTERNAL)
        } else {
            state_rule
        }
    };
    // Footnote 9, origin first: a key that cannot have imported material is refused
    // whatever its state, an EXTERNAL key gets `state_rule`.
    let only_external = |state_rule: Result<Verdict, Refusal>| {
        if key.external {
            state_rule
        } else {
            refuse(Denial::UnsupportedOperation, ORIGIN_AWS_KMS)
        }
    };

    match (op, key.state) {
        // ---- CancelKeyDeletion ------------------------------------------------------
        (O::CancelKeyDeletion, S::Enabled) => not_pending_deletion(), // [4]
        (O::CancelKeyDeletion, S::Disabled) => not_pending_deletion(), // [4]
        (O::CancelKeyDeletion, S::PendingImport) => not_pending_deletion(), // [4]
        (O::CancelKeyDeletion, S::PendingDeletion) => allowed(),
        // A key pending deletion stays PendingDeletion when its token object is lost,
        // so an Unavailable key is never pending deletion.
        (O::CancelKeyDeletion, S::Unavailable) => not_pending_deletion(), // [4]

        // ---- CreateAlias ------------------------------------------------------------
        (O::CreateAlias, S::Enabled | S::Disabled | S::PendingImport) => allowed(),
        (O::CreateAlias, S::PendingDeletion) => pending_deletion(), // [3]
        (O::CreateAlias, S::Unavailable) => allowed(),

        // ---- CreateGrant ------------------------------------------------------------
        (O::CreateGrant, S::Enabled) => allowed(),
        (O::CreateGrant, S::Disabled) => disabled(), // [1]
        (O::CreateGrant, S::PendingImport) => pending_import(), // [5]
        (O::CreateGrant, S::PendingDeletion) => pending_deletion(), // [2] or [3]: [3]
        // Grant metadata only; AWS allows it on Unavailable keys.
        (O::CreateGrant, S::Unavailable) => allowed(),

        // ---- Decrypt ----------------------------------------------------------------
        (O::Decrypt, S::Enabled) => allowed(),
        (O::Decrypt, S::Disabled) => disabled(), // [1]
        (O::Decrypt, S::PendingImport) => pending_import(), // [5]
        (O::Decrypt, S::PendingDeletion) => pending_deletion(), // [2] or [3]: [3]
        (O::Decrypt, S::Unavailable) => unavailable(), // needs the token

        // ---- DeleteAlias ------------------------------------------------------------
        (
            O::DeleteAlias,
            S::Enabled | S::Disabled | S::PendingImport | S::PendingDeletion | S::Unavailable,
        ) => allowed(),

        // ---- DeleteImportedKeyMaterial ----------------------------------------------
        (O::DeleteImportedKeyMaterial, S::Enabled) => only_external(allowed()), // [9]
        (O::DeleteImportedKeyMaterial, S::Disabled) => only_external(allowed()), // [9]
        (O::DeleteImportedKeyMaterial, S::PendingImport) => only_external(no_effect()), // [9]
        // differs from seed 002: the seed refuses this cell; AWS KMS today deletes the
        // material and leaves the key PendingDeletion (it does not become PendingImport).
        (O::DeleteImportedKeyMaterial, S::PendingDeletion) => only_external(allowed()), // [9]
        // Destroying the material needs the token; refuse rather than report a deletion
        // that has not happened.
        (O::DeleteImportedKeyMaterial, S::Unavailable) => only_external(unavailable()), // [9]

        // ---- DeriveSharedSecret -----------------------------------------------------------
        (O::DeriveSharedSecret, S::Enabled) => allowed(),
        (O::DeriveSharedSecret, S::Disabled) => disabled(), // [1]
        (O::DeriveSharedSecret, S::PendingImport) => pending_import(), // [5]
        (O::DeriveSharedSecret, S::PendingDeletion) => pending_deletion(), // [2] or [3]: [3]
        (O::DeriveSharedSecret, S::Unavailable) => unavailable(), // needs the token

        // ---- DescribeKey ------------------------------------------------------------
        (
            O::DescribeKey,
            S::Enabled | S::Disabled | S::PendingImport | S::PendingDeletion | S::Unavailable,
        ) => allowed(),

        // ---- DisableKey -------------------------------------------------------------
        (O::DisableKey, S::Enabled | S::Disabled) => allowed(),
        (O::DisableKey, S::PendingImport) => pending_import(), // [5]
        (O::DisableKey, S::PendingDeletion) => pending_deletion(), // [3]
        // As AWS for disconnected custom key stores: the flag is recorded, the reported
        // state stays Unavailable until the token object is reachable again.
        (O::DisableKey, S::Unavailable) => allowed(),

        // ---- DisableKeyRotation -----------------------------------------------------
        (O::DisableKeyRotation, S::Enabled) => never_external(allowed()), // [7]
        (O::DisableKeyRotation, S::Disabled) => never_external(disabled()), // [1] or [7]
        (O::DisableKeyRotation, S::PendingImport) => never_external(pending_import()), // [6]
        // [3] or [7]
        (O::DisableKeyRotation, S::PendingDeletion) => never_external(pending_deletion()),
        // Changing the rotation schedule of a key that cannot be used is refused, as for
        // Disabled and PendingDeletion keys.
        (O::DisableKeyRotation, S::Unavailable) => never_external(unavailable()), // [7]

        // ---- EnableKey --------------------------------------------------------------
        (O::EnableKey, S::Enabled | S::Disabled) => allowed(),
        (O::EnableKey, S::PendingImport) => pending_import(), // [5]
        (O::EnableKey, S::PendingDeletion) => pending_deletion(), // [3]
        // As DisableKey: recorded, takes effect when the token object is back.
        (O::EnableKey, S::Unavailable) => allowed(),

        // ---- EnableKeyRotation ------------------------------------------------------
        (O::EnableKeyRotation, S::Enabled) => never_external(allowed()), // [7]
        (O::EnableKeyRotation, S::Disabled) => never_external(disabled()), // [1] or [7]
        (O::EnableKeyRotation, S::PendingImport) => never_external(pending_import()), // [6]
        // [3] or [7]
        (O::EnableKeyRotation, S::PendingDeletion) => never_external(pending_deletion()),
        // As DisableKeyRotation.
        (O::EnableKeyRotation, S::Unavailable) => never_external(unavailable()), // [7]

        // ---- Encrypt ----------------------------------------------------------------
        (O::Encrypt, S::Enabled) => allowed(),
        (O::Encrypt, S::Disabled) => disabled(), // [1]
        (O::Encrypt, S::PendingImport) => pending_import(), // [5]
        (O::Encrypt, S::PendingDeletion) => pending_deletion(), // [2] or [3]: [3]
        (O::Encrypt, S::Unavailable) => unavailable(), // needs the token

        // ---- GenerateDataKey --------------------------------------------------------
        (O::GenerateDataKey, S::Enabled) => allowed(),
        (O::GenerateDataKey, S::Disabled) => disabled(), // [1]
        (O::GenerateDataKey, S::PendingImport) => pending_import(), // [5]
        (O::GenerateDataKey, S::PendingDeletion) => pending_deletion(), // [2] or [3]: [3]
        (O::GenerateDataKey, S::Unavailable) => unavailable(), // needs the token

        // ---- GenerateDataKeyPair ----------------------------------------------------
        (O::GenerateDataKeyPair, S::Enabled) => allowed(),
        (O::GenerateDataKeyPair, S::Disabled) => disabled(), // [1]
        (O::GenerateDataKeyPair, S::PendingImport) => pending_import(), // [5]
        (O::GenerateDataKeyPair, S::PendingDeletion) => pending_deletion(), // [2] or [3]: [3]
        (O::GenerateDataKeyPair, S::Unavailable) => unavailable(), // needs the token

        // ---- GenerateDataKeyPairWithoutPlaintext ------------------------------------
        (O::GenerateDataKeyPairWithoutPlaintext, S::Enabled) => allowed(),
        (O::GenerateDataKeyPairWithoutPlaintext, S::Disabled) => disabled(), // [1]
        (O::GenerateDataKeyPairWithoutPlaintext, S::PendingImport) => pending_import(), // [5]
        // [2] or [3]: [3]
        (O::GenerateDataKeyPairWithoutPlaintext, S::PendingDeletion) => pending_deletion(),
        (O::GenerateDataKeyPairWithoutPlaintext, S::Unavailable) => unavailable(), // needs the token

        // ---- GenerateDataKeyWithoutPlaintext ----------------------------------------
        (O::GenerateDataKeyWithoutPlaintext, S::Enabled) => allowed(),
        (O::GenerateDataKeyWithoutPlaintext, S::Disabled) => disabled(), // [1]
        (O::GenerateDataKeyWithoutPlaintext, S::PendingImport) => pending_import(), // [5]
        // [2] or [3]: [3]
        (O::GenerateDataKeyWithoutPlaintext, S::PendingDeletion) => pending_deletion(),
        (O::GenerateDataKeyWithoutPlaintext, S::Unavailable) => unavailable(), // needs the token

        // ---- GenerateMac -----------------------------------------------------------------
        (O::GenerateMac, S::Enabled) => allowed(),
        (O::GenerateMac, S::Disabled) => disabled(), // [1]
        (O::GenerateMac, S::PendingImport) => pending_import(), // [5]
        (O::GenerateMac, S::PendingDeletion) => pending_deletion(), // [2] or [3]: [3]
        (O::GenerateMac, S::Unavailable) => unavailable(), // needs the token

        // ---- GetKeyPolicy -----------------------------------------------------------
        (
            O::GetKeyPolicy,
            S::Enabled | S::Disabled | S::PendingImport | S::PendingDeletion | S::Unavailable,
        ) => allowed(),

        // ---- GetKeyRotationStatus ---------------------------------------------------
        (O::GetKeyRotationStatus, S::Enabled) => never_external(allowed()), // [7]
        (O::GetKeyRotationStatus, S::Disabled) => never_external(allowed()), // [7]
        (O::GetKeyRotationStatus, S::PendingImport) => never_external(allowed()), // [6]
        (O::GetKeyRotationStatus, S::PendingDeletion) => never_external(allowed()), // [7]
        // Reads a recorded flag; needs no token.
        (O::GetKeyRotationStatus, S::Unavailable) => never_external(allowed()), // [7]

        // ---- GetParametersForImport -------------------------------------------------
        (O::GetParametersForImport, S::Enabled) => only_external(allowed()), // [9]
        (O::GetParametersForImport, S::Disabled) => only_external(allowed()), // [9]
        (O::GetParametersForImport, S::PendingImport) => only_external(allowed()), // [9]
        // [8] or [9]
        (O::GetParametersForImport, S::PendingDeletion) => only_external(pending_deletion()),
        // The wrapping key pair is generated in the token.
        (O::GetParametersForImport, S::Unavailable) => only_external(unavailable()), // [9]

        // ---- GetPublicKey ----------------------------------------------------------------
        (O::GetPublicKey, S::Enabled) => allowed(),
        (O::GetPublicKey, S::Disabled) => disabled(), // [1]
        (O::GetPublicKey, S::PendingImport) => pending_import(), // [5]
        (O::GetPublicKey, S::PendingDeletion) => pending_deletion(), // [2] or [3]: [3]
        (O::GetPublicKey, S::Unavailable) => unavailable(), // read from the token

        // ---- ImportKeyMaterial ------------------------------------------------------
        (O::ImportKeyMaterial, S::Enabled) => only_external(allowed()), // [9]
        (O::ImportKeyMaterial, S::Disabled) => only_external(allowed()), // [9]
        (O::ImportKeyMaterial, S::PendingImport) => only_external(allowed()), // [9]
        // [8] or [9]
        (O::ImportKeyMaterial, S::PendingDeletion) => only_external(pending_deletion()),
        // The material is unwrapped into the token.
        (O::ImportKeyMaterial, S::Unavailable) => only_external(unavailable()), // [9]

        // ---- ListAliases ------------------------------------------------------------
        (
            O::ListAliases,
            S::Enabled | S::Disabled | S::PendingImport | S::PendingDeletion | S::Unavailable,
        ) => allowed(),

        // ---- ListGrants -------------------------------------------------------------
        (
            O::ListGrants,
            S::Enabled | S::Disabled | S::PendingImport | S::PendingDeletion | S::Unavailable,
        ) => allowed(),

        // ---- ListKeyPolicies --------------------------------------------------------
        (
            O::ListKeyPolicies,
            S::Enabled | S::Disabled | S::PendingImport | S::PendingDeletion | S::Unavailable,
        ) => allowed(),

        // ---- ListKeyRotations -------------------------------------------------------
        // Newer than seed 002. AWS KMS lists the key materials of every key that supports
        // rotation, AWS_KMS and (since imported material can be rotated on demand) EXTERNAL
        // alike, whatever the key state; it only refuses key types that cannot rotate
        // (asymmetric, HMAC, custom key stores), which is the caller's key-spec check.
        // The list is recorded metadata, so an Unavailable key can be listed too.
        (
            O::ListKeyRotations,
            S::Enabled | S::Disabled | S::PendingImport | S::PendingDeletion | S::Unavailable,
        ) => allowed(),

        // ---- ListResourceTags -------------------------------------------------------
        (
            O::ListResourceTags,
            S::Enabled | S::Disabled | S::PendingImport | S::PendingDeletion | S::Unavailable,
        ) => allowed(),

        // ---- ListRetirableGrants ----------------------------------------------------
        (
            O::ListRetirableGrants,
            S::Enabled | S::Disabled | S::PendingImport | S::PendingDeletion | S::Unavailable,
        ) => allowed(),

        // ---- PutKeyPolicy -----------------------------------------------------------
        (
            O::PutKeyPolicy,
            S::Enabled | S::Disabled | S::PendingImport | S::PendingDeletion | S::Unavailable,
        ) => allowed(),

        // ---- ReEncrypt (source key) -------------------------------------------------
        (O::ReEncryptFrom, S::Enabled) => allowed(),
        (O::ReEncryptFrom, S::Disabled) => disabled(), // [1]
        (O::ReEncryptFrom, S::PendingImport) => pending_import(), // [5]
        (O::ReEncryptFrom, S::PendingDeletion) => pending_deletion(), // [2] or [3]: [3]
        (O::ReEncryptFrom, S::Unavailable) => unavailable(), // needs the token

        // ---- ReEncrypt (destination key) --------------------------------------------
        (O::ReEncryptTo, S::Enabled) => allowed(),
        (O::ReEncryptTo, S::Disabled) => disabled(), // [1]
        (O::ReEncryptTo, S::PendingImport) => pending_import(), // [5]
        (O::ReEncryptTo, S::PendingDeletion) => pending_deletion(), // [2] or [3]: [3]
        (O::ReEncryptTo, S::Unavailable) => unavailable(), // needs the token

        // ---- RetireGrant ------------------------------------------------------------
        (
            O::RetireGrant,
            S::Enabled | S::Disabled | S::PendingImport | S::PendingDeletion | S::Unavailable,
        ) => allowed(),

        // ---- RevokeGrant ------------------------------------------------------------
        (
            O::RevokeGrant,
            S::Enabled | S::Disabled | S::PendingImport | S::PendingDeletion | S::Unavailable,
        ) => allowed(),

        // ---- RotateKeyOnDemand ------------------------------------------------------
        // Newer than seed 002. It creates or activates key material, so it needs a usable
        // key: the same row as Encrypt. Not refused for EXTERNAL keys, unlike automatic
        // rotation ([7]): AWS KMS now rotates imported material on demand (new material
        // is imported first, then this call makes it current); that precondition is the
        // caller's check.
        (O::RotateKeyOnDemand, S::Enabled) => allowed(),
        (O::RotateKeyOnDemand, S::Disabled) => disabled(), // [1]
        (O::RotateKeyOnDemand, S::PendingImport) => pending_import(), // [5]
        (O::RotateKeyOnDemand, S::PendingDeletion) => pending_deletion(), // [3]
        (O::RotateKeyOnDemand, S::Unavailable) => unavailable(), // needs the token

        // ---- ScheduleKeyDeletion ----------------------------------------------------
        (O::ScheduleKeyDeletion, S::Enabled | S::Disabled | S::PendingImport) => allowed(),
        (O::ScheduleKeyDeletion, S::PendingDeletion) => pending_deletion(), // [3]
        // Metadata only until the deletion date; the token object is destroyed then.
        (O::ScheduleKeyDeletion, S::Unavailable) => allowed(),

        // ---- Sign ------------------------------------------------------------------------
        (O::Sign, S::Enabled) => allowed(),
        (O::Sign, S::Disabled) => disabled(),            // [1]
        (O::Sign, S::PendingImport) => pending_import(), // [5]
        (O::Sign, S::PendingDeletion) => pending_deletion(), // [2] or [3]: [3]
        (O::Sign, S::Unavailable) => unavailable(),      // needs the token

        // ---- TagResource ------------------------------------------------------------
        (O::TagResource, S::Enabled | S::Disabled | S::PendingImport) => allowed(),
        (O::TagResource, S::PendingDeletion) => pending_deletion(), // [3]
        (O::TagResource, S::Unavailable) => allowed(),

        // ---- UntagResource ----------------------------------------------------------
        (O::UntagResource, S::Enabled | S::Disabled | S::PendingImport) => allowed(),
        (O::UntagResource, S::PendingDeletion) => pending_deletion(), // [3]
        (O::UntagResource, S::Unavailable) => allowed(),

        // ---- UpdateAlias (target key only) ------------------------------------------
        (O::UpdateAliasTarget, S::Enabled | S::Disabled | S::PendingImport) => allowed(),
        (O::UpdateAliasTarget, S::PendingDeletion) => pending_deletion(), // [10]
        (O::UpdateAliasTarget, S::Unavailable) => allowed(),

        // ---- UpdateKeyDescription ---------------------------------------------------
        (O::UpdateKeyDescription, S::Enabled | S::Disabled | S::PendingImport) => allowed(),
        (O::UpdateKeyDescription, S::PendingDeletion) => pending_deletion(), // [3]
        (O::UpdateKeyDescription, S::Unavailable) => allowed(),

        // ---- Verify ----------------------------------------------------------------------
        (O::Verify, S::Enabled) => allowed(),
        (O::Verify, S::Disabled) => disabled(), // [1]
        (O::Verify, S::PendingImport) => pending_import(), // [5]
        (O::Verify, S::PendingDeletion) => pending_deletion(), // [2] or [3]: [3]
        (O::Verify, S::Unavailable) => unavailable(), // needs the token

        // ---- VerifyMac -------------------------------------------------------------------
        (O::VerifyMac, S::Enabled) => allowed(),
        (O::VerifyMac, S::Disabled) => disabled(), // [1]
        (O::VerifyMac, S::PendingImport) => pending_import(), // [5]
        (O::VerifyMac, S::PendingDeletion) => pending_deletion(), // [2] or [3]: [3]
        (O::VerifyMac, S::Unavailable) => unavailable(), // needs the token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sample key ARN used in every expected message.
    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    /// Column order of [`GOLDEN`], as in the AWS table, plus Unavailable.
    const STATES: [KeyState; 5] = [
        KeyState::Enabled,
        KeyState::Disabled,
        KeyState::PendingImport,
        KeyState::PendingDeletion,
        KeyState::Unavailable,
    ];

    /// Expected outcome of one cell of [`GOLDEN`], written out independently of `check`.
    #[derive(Debug, Clone, Copy)]
    enum Cell {
        /// `Verdict::Allowed`.
        Allow,
        /// `Verdict::NoEffect`.
        NoOp,
        /// `DisabledException`: is disabled.
        Dis,
        /// `KMSInvalidStateException`: is pending deletion.
        Del,
        /// `KMSInvalidStateException`: is not pending deletion.
        NDel,
        /// `KMSInvalidStateException`: is pending import.
        Imp,
        /// `KMSInvalidStateException`: is unavailable.
        Unav,
        /// `UnsupportedOperationException`: origin is `EXTERNAL`.
        Ext,
        /// `UnsupportedOperationException`: origin is `AWS_KMS`.
        Kms,
    }
    use Cell::{Allow, Del, Dis, Ext, Imp, Kms, NDel, NoOp, Unav};

    /// Expected outcome of every cell, for origin `AWS_KMS` then origin `EXTERNAL`.
    #[rustfmt::skip]
    const GOLDEN: [(Op, [Cell; 5], [Cell; 5]); 43] = [
        //                                 origin AWS_KMS                         origin EXTERNAL
        //                                 Enab.  Disab. PImp.  PDel.  Unav.      Enab.  Disab. PImp.  PDel.  Unav.
        (Op::CancelKeyDeletion,            [NDel,  NDel,  NDel,  Allow, NDel ], [NDel,  NDel,  NDel,  Allow, NDel ]),
        (Op::CreateAlias,                  [Allow, Allow, Allow, Del,   Allow], [Allow, Allow, Allow, Del,   Allow]),
        (Op::CreateGrant,                  [Allow, Dis,   Imp,   Del,   Allow], [Allow, Dis,   Imp,   Del,   Allow]),
        (Op::Decrypt,                      [Allow, Dis,   Imp,   Del,   Unav ], [Allow, Dis,   Imp,   Del,   Unav ]),
        (Op::DeleteAlias,                  [Allow, Allow, Allow, Allow, Allow], [Allow, Allow, Allow, Allow, Allow]),
        (Op::DeleteImportedKeyMaterial,    [Kms,   Kms,   Kms,   Kms,   Kms  ], [Allow, Allow, NoOp,  Allow, Unav ]),
        (Op::DeriveSharedSecret,           [Allow, Dis,   Imp,   Del,   Unav ], [Allow, Dis,   Imp,   Del,   Unav ]),
        (Op::DescribeKey,                  [Allow, Allow, Allow, Allow, Allow], [Allow, Allow, Allow, Allow, Allow]),
        (Op::DisableKey,                   [Allow, Allow, Imp,   Del,   Allow], [Allow, Allow, Imp,   Del,   Allow]),
        (Op::DisableKeyRotation,           [Allow, Dis,   Imp,   Del,   Unav ], [Ext,   Ext,   Ext,   Ext,   Ext  ]),
        (Op::EnableKey,                    [Allow, Allow, Imp,   Del,   Allow], [Allow, Allow, Imp,   Del,   Allow]),
        (Op::EnableKeyRotation,            [Allow, Dis,   Imp,   Del,   Unav ], [Ext,   Ext,   Ext,   Ext,   Ext  ]),
        (Op::Encrypt,                      [Allow, Dis,   Imp,   Del,   Unav ], [Allow, Dis,   Imp,   Del,   Unav ]),
        (Op::GenerateDataKey,              [Allow, Dis,   Imp,   Del,   Unav ], [Allow, Dis,   Imp,   Del,   Unav ]),
        (Op::GenerateDataKeyPair,          [Allow, Dis,   Imp,   Del,   Unav ], [Allow, Dis,   Imp,   Del,   Unav ]),
        (Op::GenerateDataKeyPairWithoutPlaintext,[Allow, Dis, Imp,   Del,   Unav ], [Allow, Dis,   Imp,   Del,   Unav ]),
        (Op::GenerateDataKeyWithoutPlaintext,[Allow, Dis,   Imp,   Del,   Unav ], [Allow, Dis,   Imp,   Del,   Unav ]),
        (Op::GenerateMac,                    [Allow, Dis,   Imp,   Del,   Unav ], [Allow, Dis,   Imp,   Del,   Unav ]),
        (Op::GetKeyPolicy,                 [Allow, Allow, Allow, Allow, Allow], [Allow, Allow, Allow, Allow, Allow]),
        (Op::GetKeyRotationStatus,         [Allow, Allow, Allow, Allow, Allow], [Ext,   Ext,   Ext,   Ext,   Ext  ]),
        (Op::GetParametersForImport,       [Kms,   Kms,   Kms,   Kms,   Kms  ], [Allow, Allow, Allow, Del,   Unav ]),
        (Op::GetPublicKey,                   [Allow, Dis,   Imp,   Del,   Unav ], [Allow, Dis,   Imp,   Del,   Unav ]),
        (Op::ImportKeyMaterial,            [Kms,   Kms,   Kms,   Kms,   Kms  ], [Allow, Allow, Allow, Del,   Unav ]),
        (Op::ListAliases,                  [Allow, Allow, Allow, Allow, Allow], [Allow, Allow, Allow, Allow, Allow]),
        (Op::ListGrants,                   [Allow, Allow, Allow, Allow, Allow], [Allow, Allow, Allow, Allow, Allow]),
        (Op::ListKeyPolicies,              [Allow, Allow, Allow, Allow, Allow], [Allow, Allow, Allow, Allow, Allow]),
        (Op::ListKeyRotations,             [Allow, Allow, Allow, Allow, Allow], [Allow, Allow, Allow, Allow, Allow]),
        (Op::ListResourceTags,             [Allow, Allow, Allow, Allow, Allow], [Allow, Allow, Allow, Allow, Allow]),
        (Op::ListRetirableGrants,          [Allow, Allow, Allow, Allow, Allow], [Allow, Allow, Allow, Allow, Allow]),
        (Op::PutKeyPolicy,                 [Allow, Allow, Allow, Allow, Allow], [Allow, Allow, Allow, Allow, Allow]),
        (Op::ReEncryptFrom,                [Allow, Dis,   Imp,   Del,   Unav ], [Allow, Dis,   Imp,   Del,   Unav ]),
        (Op::ReEncryptTo,                  [Allow, Dis,   Imp,   Del,   Unav ], [Allow, Dis,   Imp,   Del,   Unav ]),
        (Op::RetireGrant,                  [Allow, Allow, Allow, Allow, Allow], [Allow, Allow, Allow, Allow, Allow]),
        (Op::RevokeGrant,                  [Allow, Allow, Allow, Allow, Allow], [Allow, Allow, Allow, Allow, Allow]),
        (Op::RotateKeyOnDemand,            [Allow, Dis,   Imp,   Del,   Unav ], [Allow, Dis,   Imp,   Del,   Unav ]),
        (Op::ScheduleKeyDeletion,          [Allow, Allow, Allow, Del,   Allow], [Allow, Allow, Allow, Del,   Allow]),
        (Op::Sign,                           [Allow, Dis,   Imp,   Del,   Unav ], [Allow, Dis,   Imp,   Del,   Unav ]),
        (Op::TagResource,                  [Allow, Allow, Allow, Del,   Allow], [Allow, Allow, Allow, Del,   Allow]),
        (Op::UntagResource,                [Allow, Allow, Allow, Del,   Allow], [Allow, Allow, Allow, Del,   Allow]),
        (Op::UpdateAliasTarget,            [Allow, Allow, Allow, Del,   Allow], [Allow, Allow, Allow, Del,   Allow]),
        (Op::UpdateKeyDescription,         [Allow, Allow, Allow, Del,   Allow], [Allow, Allow, Allow, Del,   Allow]),
        (Op::Verify,                         [Allow, Dis,   Imp,   Del,   Unav ], [Allow, Dis,   Imp,   Del,   Unav ]),
        (Op::VerifyMac,                      [Allow, Dis,   Imp,   Del,   Unav ], [Allow, Dis,   Imp,   Del,   Unav ]),
    ];

    /// The full expected result of a [`Cell`].
    fn expected(cell: Cell) -> Result<Verdict, Refusal> {
        let refusal = |denial, what: &str| {
            Err(Refusal {
                denial,
                message: format!("{ARN} {what}"),
            })
        };
        match cell {
            Allow => Ok(Verdict::Allowed),
            NoOp => Ok(Verdict::NoEffect),
            Dis => refusal(Denial::Disabled, "is disabled."),
            Del => refusal(Denial::InvalidState, "is pending deletion."),
            NDel => refusal(Denial::InvalidState, "is not pending deletion."),
            Imp => refusal(Denial::InvalidState, "is pending import."),
            Unav => refusal(Denial::InvalidState, "is unavailable."),
            Ext => refusal(
                Denial::UnsupportedOperation,
                "origin is EXTERNAL which is not valid for this operation.",
            ),
            Kms => refusal(
                Denial::UnsupportedOperation,
                "origin is AWS_KMS which is not valid for this operation.",
            ),
        }
    }

    #[test]
    fn golden_table_every_cell() {
        let mut cells = 0;
        for (op, aws_kms, external) in GOLDEN {
            for (is_external, row) in [(false, aws_kms), (true, external)] {
                for (state, cell) in STATES.into_iter().zip(row) {
                    let key = KeyFacts {
                        state,
                        external: is_external,
                    };
                    assert_eq!(
                        check(op, key, ARN),
                        expected(cell),
                        "{op:?} on {state:?} (external: {is_external})"
                    );
                    cells += 1;
                }
            }
        }
        assert_eq!(cells, Op::ALL.len() * STATES.len() * 2);
    }

    #[test]
    fn golden_table_lists_every_op_once_in_table_order() {
        let ops: Vec<Op> = GOLDEN.iter().map(|(op, _, _)| *op).collect();
        assert_eq!(ops, Op::ALL.to_vec());
    }

    #[test]
    fn all_ops_listed_once() {
        // Exhaustive on purpose: a new Op does not compile here until it gets a slot.
        fn slot(op: Op) -> usize {
            match op {
                Op::CancelKeyDeletion => 0,
                Op::CreateAlias => 1,
                Op::CreateGrant => 2,
                Op::Decrypt => 3,
                Op::DeleteAlias => 4,
                Op::DeleteImportedKeyMaterial => 5,
                Op::DeriveSharedSecret => 6,
                Op::DescribeKey => 7,
                Op::DisableKey => 8,
                Op::DisableKeyRotation => 9,
                Op::EnableKey => 10,
                Op::EnableKeyRotation => 11,
                Op::Encrypt => 12,
                Op::GenerateDataKey => 13,
                Op::GenerateDataKeyPair => 14,
                Op::GenerateDataKeyPairWithoutPlaintext => 15,
                Op::GenerateDataKeyWithoutPlaintext => 16,
                Op::GenerateMac => 17,
                Op::GetKeyPolicy => 18,
                Op::GetKeyRotationStatus => 19,
                Op::GetParametersForImport => 20,
                Op::GetPublicKey => 21,
                Op::ImportKeyMaterial => 22,
                Op::ListAliases => 23,
                Op::ListGrants => 24,
                Op::ListKeyPolicies => 25,
                Op::ListKeyRotations => 26,
                Op::ListResourceTags => 27,
                Op::ListRetirableGrants => 28,
                Op::PutKeyPolicy => 29,
                Op::ReEncryptFrom => 30,
                Op::ReEncryptTo => 31,
                Op::RetireGrant => 32,
                Op::RevokeGrant => 33,
                Op::RotateKeyOnDemand => 34,
                Op::ScheduleKeyDeletion => 35,
                Op::Sign => 36,
                Op::TagResource => 37,
                Op::UntagResource => 38,
                Op::UpdateAliasTarget => 39,
                Op::UpdateKeyDescription => 40,
                Op::Verify => 41,
                Op::VerifyMac => 42,
            }
        }
        let mut seen = [false; 43];
        for op in Op::ALL {
            assert!(!seen[slot(op)], "{op:?} listed twice in Op::ALL");
            seen[slot(op)] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn all_states_walked() {
        // Exhaustive on purpose: a new KeyState does not compile here until STATES has it.
        fn slot(state: KeyState) -> usize {
            match state {
                KeyState::Enabled => 0,
                KeyState::Disabled => 1,
                KeyState::PendingImport => 2,
                KeyState::PendingDeletion => 3,
                KeyState::Unavailable => 4,
            }
        }
        let slots: Vec<usize> = STATES.into_iter().map(slot).collect();
        assert_eq!(slots, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn wire_names_round_trip() {
        let names = [
            (KeyState::Enabled, "Enabled"),
            (KeyState::Disabled, "Disabled"),
            (KeyState::PendingDeletion, "PendingDeletion"),
            (KeyState::PendingImport, "PendingImport"),
            (KeyState::Unavailable, "Unavailable"),
        ];
        for (state, name) in names {
            assert_eq!(state.as_str(), name);
            assert_eq!(KeyState::parse(name), Some(state));
        }
    }

    #[test]
    fn parse_rejects_other_names() {
        for name in [
            "",
            "enabled",
            "ENABLED",
            "Enabled ",
            "Creating",
            "Updating",
            "PendingReplicaDeletion",
            "DESTROY_SCHEDULED",
        ] {
            assert_eq!(KeyState::parse(name), None, "{name:?}");
        }
    }
}
