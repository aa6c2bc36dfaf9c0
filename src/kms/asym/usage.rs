//! Which operation a key's spec and usage allow, decided for every operation in one
//! exhaustive match (as the key-state table is), and the exceptions AWS answers otherwise.
//!
//! * The operation belongs to another usage: `InvalidKeyUsageException: <ARN> key usage is
//!   <USAGE> which is not valid for <Operation>.` (AWS's wording).
//! * Symmetric-only data-key operations on an RSA ENCRYPT_DECRYPT key: the same exception,
//!   naming the key spec instead of the usage.
//! * Rotation, import and GetPublicKey on a key type that can never do them:
//!   `UnsupportedOperationException: <ARN> key spec <SPEC> is not valid for this operation.`

use crate::kms::model::{Key, KeySpec, KeyUsage};
use crate::kms::rules::Op;
use crate::kms::{ErrorKind, KmsError};

/// What an operation asks of the key.
enum Needs {
    /// Nothing: metadata, policy, grants, aliases, tags.
    Nothing,
    /// This key usage.
    Usage(KeyUsage),
    /// A SYMMETRIC_DEFAULT key (data keys), refused as a usage mismatch.
    SymmetricUse,
    /// A SYMMETRIC_DEFAULT key (rotation), refused as unsupported.
    Symmetric,
    /// A key type that can take imported material, refused as unsupported.
    Importable,
    /// A key pair (GetPublicKey), refused as unsupported.
    Pair,
}

fn needs(op: Op) -> Needs {
    match op {
        Op::CancelKeyDeletion
        | Op::CreateAlias
        | Op::CreateGrant
        | Op::DeleteAlias
        | Op::DescribeKey
        | Op::DisableKey
        | Op::EnableKey
        | Op::GetKeyPolicy
        | Op::ListAliases
        | Op::ListGrants
        | Op::ListKeyPolicies
        | Op::ListResourceTags
        | Op::ListRetirableGrants
        | Op::PutKeyPolicy
        | Op::RetireGrant
        | Op::RevokeGrant
        | Op::ScheduleKeyDeletion
        | Op::TagResource
        | Op::UntagResource
        | Op::UpdateAliasTarget
        | Op::UpdateKeyDescription => Needs::Nothing,
        Op::Decrypt | Op::Encrypt | Op::ReEncryptFrom | Op::ReEncryptTo => {
            Needs::Usage(KeyUsage::EncryptDecrypt)
        }
        Op::GenerateDataKey
        | Op::GenerateDataKeyWithoutPlaintext
        | Op::GenerateDataKeyPair
        | Op::GenerateDataKeyPairWithoutPlaintext => Needs::SymmetricUse,
        Op::DeriveSharedSecret => Needs::Usage(KeyUsage::KeyAgreement),
        Op::Sign | Op::Verify => Needs::Usage(KeyUsage::SignVerify),
        Op::GenerateMac | Op::VerifyMac => Needs::Usage(KeyUsage::GenerateVerifyMac),
        Op::GetPublicKey => Needs::Pair,
        Op::DeleteImportedKeyMaterial | Op::GetParametersForImport | Op::ImportKeyMaterial => {
            Needs::Importable
        }
        Op::DisableKeyRotation
        | Op::EnableKeyRotation
        | Op::GetKeyRotationStatus
        | Op::ListKeyRotations
        | Op::RotateKeyOnDemand => Needs::Symmetric,
    }
}

/// The AWS operation name of `op`, as the usage message says it.
pub(in crate::kms) fn operation_name(op: Op) -> &'static str {
    match op {
        Op::ReEncryptFrom | Op::ReEncryptTo => "ReEncrypt",
        Op::UpdateAliasTarget => "UpdateAlias",
        Op::Decrypt => "Decrypt",
        Op::Encrypt => "Encrypt",
        Op::GenerateDataKey => "GenerateDataKey",
        Op::GenerateDataKeyWithoutPlaintext => "GenerateDataKeyWithoutPlaintext",
        Op::GenerateDataKeyPair => "GenerateDataKeyPair",
        Op::GenerateDataKeyPairWithoutPlaintext => "GenerateDataKeyPairWithoutPlaintext",
        Op::DeriveSharedSecret => "DeriveSharedSecret",
        Op::Sign => "Sign",
        Op::Verify => "Verify",
        Op::GenerateMac => "GenerateMac",
        Op::VerifyMac => "VerifyMac",
        _ => "this operation",
    }
}

/// Refuses `op` on `key` (ARN `arn`) when the key's spec or usage cannot do it.
pub fn permits(op: Op, key: &Key, arn: &str) -> Result<(), KmsError> {
    let symmetric = key.spec == KeySpec::SymmetricDefault;
    let usage_error = |what: String| {
        KmsError::new(
            ErrorKind::InvalidKeyUsage,
            format!(
                "{arn} {what} which is not valid for {}.",
                operation_name(op)
            ),
        )
    };
    let unsupported = || {
        KmsError::new(
            ErrorKind::UnsupportedOperation,
            format!(
                "{arn} key spec {} is not valid for this operation.",
                key.spec.as_str()
            ),
        )
    };
    match needs(op) {
        Needs::Nothing => Ok(()),
        Needs::Usage(usage) if key.usage == usage => Ok(()),
        Needs::Usage(_) => Err(usage_error(format!("key usage is {}", key.usage.as_str()))),
        Needs::SymmetricUse if symmetric => Ok(()),
        Needs::SymmetricUse if key.usage == KeyUsage::EncryptDecrypt => {
            Err(usage_error(format!("key spec is {}", key.spec.as_str())))
        }
        Needs::SymmetricUse => Err(usage_error(format!("key usage is {}", key.usage.as_str()))),
        Needs::Symmetric if symmetric => Ok(()),
        Needs::Symmetric => Err(unsupported()),
        Needs::Importable if super::importable(key.spec) => Ok(()),
        Needs::Importable => Err(unsupported()),
        Needs::Pair => match super::material(key.spec) {
            super::Material::Pair(_) => Ok(()),
            _ => Err(unsupported()),
        },
    }
}
