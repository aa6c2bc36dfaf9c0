//! The AWS key-state table of seed 002 ("How Key State Affects Use of a Customer Master Key"),
//! walked cell by cell against a running daemon: every operation the table lists, in every
//! key state, for an `AWS_KMS` key and for an `EXTERNAL` key with imported material, each
//! cell on a fresh key. The expectations are the literal table [`TABLE`] below, written from
//! the seed and its footnotes, independently of `src/kms/rules.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    AlgorithmSpec, DataKeySpec, ExpirationModelType, GrantOperation, KeyState, OriginType, Tag,
    WrappingKeySpec,
};
use aws_sdk_kms::Client;
use common::{error_code, error_message, Daemon};
use rsa::pkcs8::DecodePublicKey;
use rsa::rand_core::{OsRng, RngCore};
use rsa::{Oaep, RsaPublicKey};

// ---------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------

/// The four key states of the seed table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Enabled,
    Disabled,
    PendingImport,
    PendingDeletion,
}

impl State {
    fn wire(self) -> KeyState {
        match self {
            State::Enabled => KeyState::Enabled,
            State::Disabled => KeyState::Disabled,
            State::PendingImport => KeyState::PendingImport,
            State::PendingDeletion => KeyState::PendingDeletion,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Which kind of key a column uses. The "?" cells of the seed depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Origin `AWS_KMS`: material generated in the token, never imported.
    AwsKms,
    /// Origin `EXTERNAL` with imported material (for the `PendingImport` column: material
    /// imported, used, then deleted with `DeleteImportedKeyMaterial`).
    Imported,
    /// Origin `EXTERNAL`, no material ever imported (`PendingImport` since `CreateKey`).
    NeverImported,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::AwsKms => "AWS_KMS key",
            Kind::Imported => "EXTERNAL key with imported material",
            Kind::NeverImported => "EXTERNAL key never imported",
        })
    }
}

/// The columns of [`TABLE`], in the seed's state order.
const COLUMNS: [(State, Kind); 8] = [
    (State::Enabled, Kind::AwsKms),
    (State::Enabled, Kind::Imported),
    (State::Disabled, Kind::AwsKms),
    (State::Disabled, Kind::Imported),
    (State::PendingImport, Kind::Imported),
    (State::PendingImport, Kind::NeverImported),
    (State::PendingDeletion, Kind::AwsKms),
    (State::PendingDeletion, Kind::Imported),
];

/// Every operation of the seed table that takes a key. `ReEncrypt` and `UpdateAlias` name
/// two keys, so each has a row per role of the key under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    CancelKeyDeletion,
    CreateAlias,
    CreateGrant,
    Decrypt,
    DeleteAlias,
    DeleteImportedKeyMaterial,
    DescribeKey,
    DisableKey,
    DisableKeyRotation,
    EnableKey,
    EnableKeyRotation,
    Encrypt,
    GenerateDataKey,
    GenerateDataKeyWithoutPlaintext,
    GetKeyPolicy,
    GetKeyRotationStatus,
    GetParametersForImport,
    ImportKeyMaterial,
    ListAliases,
    ListGrants,
    ListKeyPolicies,
    ListKeys,
    ListResourceTags,
    ListRetirableGrants,
    PutKeyPolicy,
    /// `ReEncrypt` of a ciphertext of the key under test (made while it was Enabled) to an
    /// Enabled key.
    ReEncryptSource,
    /// `ReEncrypt` of a ciphertext of an Enabled key to the key under test.
    ReEncryptDestination,
    RetireGrant,
    RevokeGrant,
    ScheduleKeyDeletion,
    TagResource,
    UntagResource,
    /// `UpdateAlias` of an alias that points to the key under test, to an Enabled key.
    UpdateAliasSource,
    /// `UpdateAlias` of an alias that points to an Enabled key, to the key under test.
    UpdateAliasDestination,
    UpdateKeyDescription,
}

impl Op {
    /// The row of the seed table this operation belongs to.
    fn seed_row(self) -> &'static str {
        match self {
            Op::ReEncryptSource | Op::ReEncryptDestination => "ReEncrypt",
            Op::UpdateAliasSource | Op::UpdateAliasDestination => "UpdateAlias",
            other => other.name(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Op::CancelKeyDeletion => "CancelKeyDeletion",
            Op::CreateAlias => "CreateAlias",
            Op::CreateGrant => "CreateGrant",
            Op::Decrypt => "Decrypt",
            Op::DeleteAlias => "DeleteAlias",
            Op::DeleteImportedKeyMaterial => "DeleteImportedKeyMaterial",
            Op::DescribeKey => "DescribeKey",
            Op::DisableKey => "DisableKey",
            Op::DisableKeyRotation => "DisableKeyRotation",
            Op::EnableKey => "EnableKey",
            Op::EnableKeyRotation => "EnableKeyRotation",
            Op::Encrypt => "Encrypt",
            Op::GenerateDataKey => "GenerateDataKey",
            Op::GenerateDataKeyWithoutPlaintext => "GenerateDataKeyWithoutPlaintext",
            Op::GetKeyPolicy => "GetKeyPolicy",
            Op::GetKeyRotationStatus => "GetKeyRotationStatus",
            Op::GetParametersForImport => "GetParametersForImport",
            Op::ImportKeyMaterial => "ImportKeyMaterial",
            Op::ListAliases => "ListAliases",
            Op::ListGrants => "ListGrants",
            Op::ListKeyPolicies => "ListKeyPolicies",
            Op::ListKeys => "ListKeys",
            Op::ListResourceTags => "ListResourceTags",
            Op::ListRetirableGrants => "ListRetirableGrants",
            Op::PutKeyPolicy => "PutKeyPolicy",
            Op::ReEncryptSource => "ReEncrypt (key under test as source)",
            Op::ReEncryptDestination => "ReEncrypt (key under test as destination)",
            Op::RetireGrant => "RetireGrant",
            Op::RevokeGrant => "RevokeGrant",
            Op::ScheduleKeyDeletion => "ScheduleKeyDeletion",
            Op::TagResource => "TagResource",
            Op::UntagResource => "UntagResource",
            Op::UpdateAliasSource => "UpdateAlias (key under test as source)",
            Op::UpdateAliasDestination => "UpdateAlias (key under test as destination)",
            Op::UpdateKeyDescription => "UpdateKeyDescription",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The expected outcome of one cell. Every refusal message begins with the ARN of the key
/// under test and a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// ✓: the operation succeeds.
    Yes,
    /// ✓ (No effect): succeeds and leaves the key as it was.
    NoEff,
    /// [1] `DisabledException`: `<ARN> is disabled.`
    Dis,
    /// [3] `KMSInvalidStateException`: `<ARN> is pending deletion.`
    Del,
    /// [4] `KMSInvalidStateException`: `<ARN> is not pending deletion.`
    NDel,
    /// [5] `KMSInvalidStateException`: `<ARN> is pending import.`
    Imp,
    /// [6] / [7] `UnsupportedOperationException`:
    /// `<ARN> origin is EXTERNAL which is not valid for this operation.`
    Ext,
    /// [9] `UnsupportedOperationException`:
    /// `<ARN> origin is AWS_KMS which is not valid for this operation.`
    Kms,
    /// Cannot be set up: the cell needs a ciphertext or a grant made while the key was
    /// Enabled, and a key that never had material never was.
    Skip,
}
use Want::{Del, Dis, Ext, Imp, Kms, NDel, NoEff, Skip, Yes};

/// The seed-002 table, one row per operation and one column per [`COLUMNS`] entry.
///
/// Choices where the seed leaves room:
/// * "[2] or [3]" is [3] (`KMSInvalidStateException`, `is pending deletion.`), what AWS KMS
///   returns today.
/// * "?" cells with [7] or [9] are decided by the key's origin: [7] refuses `EXTERNAL` keys,
///   [9] refuses `AWS_KMS` keys. [7] gives no message; it is the [6] text. [9] gives none;
///   it is the same sentence with the key's real origin, `AWS_KMS`.
/// * "[x] or [7]" and "[8] or [9]": origin first. When the origin can never work, its
///   `UnsupportedOperationException` wins; otherwise the state error [x] / [8] applies.
///   [8] gives no message; it is the [3] text, `is pending deletion.`.
/// * [10]: the key the alias pointed to before may be in any state; a destination pending
///   deletion fails with [3].
#[rustfmt::skip]
const TABLE: [(Op, [Want; 8]); 35] = [
    //                                     Enabled      Disabled     PendingImport    PendingDeletion
    //                                     AWS   EXT    AWS   EXT    EXT   EXT(new)   AWS   EXT
    (Op::CancelKeyDeletion,               [NDel, NDel,  NDel, NDel,  NDel, NDel,      Yes,  Yes ]), // E, D, PI: [4]
    (Op::CreateAlias,                     [Yes,  Yes,   Yes,  Yes,   Yes,  Yes,       Del,  Del ]), // PD: [3]
    (Op::CreateGrant,                     [Yes,  Yes,   Dis,  Dis,   Imp,  Imp,       Del,  Del ]), // D: [1]; PI: [5]; PD: [2] or [3] -> [3]
    (Op::Decrypt,                         [Yes,  Yes,   Dis,  Dis,   Imp,  Skip,      Del,  Del ]), // D: [1]; PI: [5]; PD: [2] or [3] -> [3]
    (Op::DeleteAlias,                     [Yes,  Yes,   Yes,  Yes,   Yes,  Yes,       Yes,  Yes ]),
    // differs from seed 002: the seed refuses PD for every key ("X [9]"); for an EXTERNAL key
    // AWS KMS today deletes the material and the key stays PendingDeletion.
    (Op::DeleteImportedKeyMaterial,       [Kms,  Yes,   Kms,  Yes,   NoEff,NoEff,     Kms,  Yes ]), // E, D: ? [9]; PD AWS_KMS: [9]
    (Op::DescribeKey,                     [Yes,  Yes,   Yes,  Yes,   Yes,  Yes,       Yes,  Yes ]),
    (Op::DisableKey,                      [Yes,  Yes,   Yes,  Yes,   Imp,  Imp,       Del,  Del ]), // PI: [5]; PD: [3]
    (Op::DisableKeyRotation,              [Yes,  Ext,   Dis,  Ext,   Ext,  Ext,       Del,  Ext ]), // E: ? [7]; D: [1] or [7]; PI: [6]; PD: [3] or [7]
    (Op::EnableKey,                       [Yes,  Yes,   Yes,  Yes,   Imp,  Imp,       Del,  Del ]), // PI: [5]; PD: [3]
    (Op::EnableKeyRotation,               [Yes,  Ext,   Dis,  Ext,   Ext,  Ext,       Del,  Ext ]), // E: ? [7]; D: [1] or [7]; PI: [6]; PD: [3] or [7]
    (Op::Encrypt,                         [Yes,  Yes,   Dis,  Dis,   Imp,  Imp,       Del,  Del ]), // D: [1]; PI: [5]; PD: [2] or [3] -> [3]
    (Op::GenerateDataKey,                 [Yes,  Yes,   Dis,  Dis,   Imp,  Imp,       Del,  Del ]), // D: [1]; PI: [5]; PD: [2] or [3] -> [3]
    (Op::GenerateDataKeyWithoutPlaintext, [Yes,  Yes,   Dis,  Dis,   Imp,  Imp,       Del,  Del ]), // D: [1]; PI: [5]; PD: [2] or [3] -> [3]
    (Op::GetKeyPolicy,                    [Yes,  Yes,   Yes,  Yes,   Yes,  Yes,       Yes,  Yes ]),
    (Op::GetKeyRotationStatus,            [Yes,  Ext,   Yes,  Ext,   Ext,  Ext,       Yes,  Ext ]), // E, D, PD: ? [7]; PI: [6]
    (Op::GetParametersForImport,          [Kms,  Yes,   Kms,  Yes,   Yes,  Yes,       Kms,  Del ]), // E, D: ? [9]; PD: [8] or [9]
    (Op::ImportKeyMaterial,               [Kms,  Yes,   Kms,  Yes,   Yes,  Yes,       Kms,  Del ]), // E, D: ? [9]; PD: [8] or [9]
    (Op::ListAliases,                     [Yes,  Yes,   Yes,  Yes,   Yes,  Yes,       Yes,  Yes ]),
    (Op::ListGrants,                      [Yes,  Yes,   Yes,  Yes,   Yes,  Yes,       Yes,  Yes ]),
    (Op::ListKeyPolicies,                 [Yes,  Yes,   Yes,  Yes,   Yes,  Yes,       Yes,  Yes ]),
    (Op::ListKeys,                        [Yes,  Yes,   Yes,  Yes,   Yes,  Yes,       Yes,  Yes ]),
    (Op::ListResourceTags,                [Yes,  Yes,   Yes,  Yes,   Yes,  Yes,       Yes,  Yes ]),
    (Op::ListRetirableGrants,             [Yes,  Yes,   Yes,  Yes,   Yes,  Yes,       Yes,  Yes ]),
    (Op::PutKeyPolicy,                    [Yes,  Yes,   Yes,  Yes,   Yes,  Yes,       Yes,  Yes ]),
    (Op::ReEncryptSource,                 [Yes,  Yes,   Dis,  Dis,   Imp,  Skip,      Del,  Del ]), // D: [1]; PI: [5]; PD: [2] or [3] -> [3]
    (Op::ReEncryptDestination,            [Yes,  Yes,   Dis,  Dis,   Imp,  Imp,       Del,  Del ]), // D: [1]; PI: [5]; PD: [2] or [3] -> [3]
    (Op::RetireGrant,                     [Yes,  Yes,   Yes,  Yes,   Yes,  Skip,      Yes,  Yes ]),
    (Op::RevokeGrant,                     [Yes,  Yes,   Yes,  Yes,   Yes,  Skip,      Yes,  Yes ]),
    (Op::ScheduleKeyDeletion,             [Yes,  Yes,   Yes,  Yes,   Yes,  Yes,       Del,  Del ]), // PD: [3]
    (Op::TagResource,                     [Yes,  Yes,   Yes,  Yes,   Yes,  Yes,       Del,  Del ]), // PD: [3]
    (Op::UntagResource,                   [Yes,  Yes,   Yes,  Yes,   Yes,  Yes,       Del,  Del ]), // PD: [3]
    (Op::UpdateAliasSource,               [Yes,  Yes,   Yes,  Yes,   Yes,  Yes,       Yes,  Yes ]), // PD: ? [10], source pending deletion succeeds
    (Op::UpdateAliasDestination,          [Yes,  Yes,   Yes,  Yes,   Yes,  Yes,       Del,  Del ]), // PD: [10], destination pending deletion -> [3]
    (Op::UpdateKeyDescription,            [Yes,  Yes,   Yes,  Yes,   Yes,  Yes,       Del,  Del ]), // PD: [3]
];

/// The exception and message of a refusing cell, for the key `arn`.
fn refusal(want: Want, arn: &str) -> Option<(&'static str, String)> {
    let (code, text) = match want {
        Yes | NoEff | Skip => return None,
        Dis => ("DisabledException", "is disabled."),
        Del => ("KMSInvalidStateException", "is pending deletion."),
        NDel => ("KMSInvalidStateException", "is not pending deletion."),
        Imp => ("KMSInvalidStateException", "is pending import."),
        Ext => (
            "UnsupportedOperationException",
            "origin is EXTERNAL which is not valid for this operation.",
        ),
        Kms => (
            "UnsupportedOperationException",
            "origin is AWS_KMS which is not valid for this operation.",
        ),
    };
    Some((code, format!("{arn} {text}")))
}

// ---------------------------------------------------------------------------------------
// Keys and shared fixtures
// ---------------------------------------------------------------------------------------

const PLAINTEXT: &[u8] = b"made while the key was Enabled";
const GRANTEE: &str = "arn:aws:iam::111122223333:role/matrix-grantee";
const TAG_KEY: &str = "matrix";
const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}"#;

/// Import parameters of one key.
#[derive(Clone)]
struct Params {
    public: Vec<u8>,
    token: Blob,
}

/// A key built for one cell, and what was made with it while it was Enabled.
struct TestKey {
    id: String,
    arn: String,
    state: State,
    kind: Kind,
    /// The imported material (`Kind::Imported`).
    material: Option<Vec<u8>>,
    /// The parameters it was imported with (`Kind::Imported`).
    params: Option<Params>,
    /// A ciphertext of `PLAINTEXT` (keys that had material).
    blob: Option<Blob>,
    /// (GrantId, GrantToken) of a grant retirable by `retirer` (keys that had material).
    grant: Option<(String, String)>,
    /// An alias pointing to the key.
    alias: String,
    /// The retiring principal of `grant`, unique to this key.
    retirer: String,
}

/// One daemon and what every cell shares.
struct Ctx {
    daemon: Daemon,
    client: Client,
    /// An Enabled `AWS_KMS` key: the other key of ReEncrypt and UpdateAlias.
    other: String,
    /// A ciphertext of `other`.
    other_blob: Blob,
    /// Parameters of a spare `EXTERNAL` key, so that ImportKeyMaterial on an `AWS_KMS` key
    /// is an otherwise well-formed request.
    spare: Params,
    next: AtomicUsize,
}

/// Why a cell's operation did not simply succeed.
enum Got {
    /// The daemon refused the call.
    Refused {
        code: String,
        message: String,
        status: Option<u16>,
    },
    /// Something else went wrong: a preparation step, or a success with a wrong result.
    Problem(String),
}

fn api<T, E: ProvideErrorMetadata>(result: Result<T, SdkError<E, HttpResponse>>) -> Result<T, Got> {
    result.map_err(|e| Got::Refused {
        code: error_code(&e),
        message: error_message(&e),
        status: e.raw_response().map(|r| r.status().as_u16()),
    })
}

fn prep<T, E: ProvideErrorMetadata>(
    what: &str,
    result: Result<T, SdkError<E, HttpResponse>>,
) -> Result<T, Got> {
    result.map_err(|e| {
        Got::Problem(format!(
            "{what} failed: {} {}",
            error_code(&e),
            error_message(&e)
        ))
    })
}

fn ensure(ok: bool, problem: impl FnOnce() -> String) -> Result<(), Got> {
    if ok {
        Ok(())
    } else {
        Err(Got::Problem(problem()))
    }
}

fn needs<'a, T>(value: &'a Option<T>, what: &str) -> Result<&'a T, Got> {
    value
        .as_ref()
        .ok_or_else(|| Got::Problem(format!("the key has no {what}")))
}

fn fresh_material() -> Vec<u8> {
    let mut m = vec![0u8; 32];
    OsRng.fill_bytes(&mut m);
    m
}

/// RSAES_OAEP_SHA_256, as a user would wrap.
fn wrap(public_der: &[u8], material: &[u8]) -> Vec<u8> {
    let public = RsaPublicKey::from_public_key_der(public_der).expect("SubjectPublicKeyInfo");
    public
        .encrypt(&mut OsRng, Oaep::new::<sha2::Sha256>(), material)
        .expect("rsa encrypt")
}

async fn params(client: &Client, key: &str) -> Result<Params, Got> {
    let out = prep(
        "GetParametersForImport",
        client
            .get_parameters_for_import()
            .key_id(key)
            .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
            .wrapping_key_spec(WrappingKeySpec::Rsa2048)
            .send()
            .await,
    )?;
    Ok(Params {
        public: out.public_key().expect("PublicKey").as_ref().to_vec(),
        token: out.import_token().expect("ImportToken").clone(),
    })
}

async fn import(
    client: &Client,
    key: &str,
    params: &Params,
    material: &[u8],
) -> Result<
    aws_sdk_kms::operation::import_key_material::ImportKeyMaterialOutput,
    SdkError<aws_sdk_kms::operation::import_key_material::ImportKeyMaterialError, HttpResponse>,
> {
    client
        .import_key_material()
        .key_id(key)
        .import_token(params.token.clone())
        .encrypted_key_material(Blob::new(wrap(&params.public, material)))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
}

async fn create(client: &Client, origin: OriginType) -> Result<String, Got> {
    let created = prep("CreateKey", client.create_key().origin(origin).send().await)?;
    Ok(created
        .key_metadata()
        .expect("metadata")
        .key_id()
        .to_owned())
}

async fn encrypt(client: &Client, key: &str) -> Result<Blob, Got> {
    let out = prep(
        "Encrypt",
        client
            .encrypt()
            .key_id(key)
            .plaintext(Blob::new(PLAINTEXT))
            .send()
            .await,
    )?;
    Ok(out.ciphertext_blob.expect("CiphertextBlob"))
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder()
        .tag_key(key)
        .tag_value(value)
        .build()
        .unwrap()
}

impl Ctx {
    async fn start() -> Ctx {
        let daemon = Daemon::start();
        let client = daemon.client();
        let other = create(&client, OriginType::AwsKms)
            .await
            .unwrap_or_else(|_| panic!("shared Enabled key"));
        let other_blob = encrypt(&client, &other)
            .await
            .unwrap_or_else(|_| panic!("ciphertext of the shared key"));
        let spare_key = create(&client, OriginType::External)
            .await
            .unwrap_or_else(|_| panic!("spare EXTERNAL key"));
        let spare = params(&client, &spare_key)
            .await
            .unwrap_or_else(|_| panic!("spare parameters"));
        Ctx {
            daemon,
            client,
            other,
            other_blob,
            spare,
            next: AtomicUsize::new(0),
        }
    }

    fn n(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    async fn state_of(&self, key: &str) -> Result<KeyState, Got> {
        let out = prep(
            "DescribeKey",
            self.client.describe_key().key_id(key).send().await,
        )?;
        Ok(out
            .key_metadata()
            .and_then(|m| m.key_state())
            .expect("KeyState")
            .clone())
    }

    async fn expect_state(&self, key: &TestKey, want: State, when: &str) -> Result<(), Got> {
        let got = self.state_of(&key.id).await?;
        ensure(got == want.wire(), || {
            format!("{when}: key state {got:?}, expected {want}")
        })
    }

    /// A fresh key of `kind` in `state`. While it is Enabled (if it ever is) it gets a
    /// ciphertext and a grant; it always gets an alias and a tag, and then it is moved into
    /// `state`.
    async fn key_in(&self, state: State, kind: Kind) -> Result<TestKey, Got> {
        let c = &self.client;
        let n = self.n();
        let origin = match kind {
            Kind::AwsKms => OriginType::AwsKms,
            Kind::Imported | Kind::NeverImported => OriginType::External,
        };
        assert!(
            kind != Kind::NeverImported || state == State::PendingImport,
            "a key that never had material can only be PendingImport"
        );
        let id = create(c, origin).await?;
        let arn = self.daemon.key_arn(&id);
        let (mut material, mut imported_with) = (None, None);
        if kind == Kind::Imported {
            let p = params(c, &id).await?;
            let bytes = fresh_material();
            prep("ImportKeyMaterial", import(c, &id, &p, &bytes).await)?;
            material = Some(bytes);
            imported_with = Some(p);
        }
        let retirer = format!("arn:aws:iam::111122223333:user/matrix-retirer-{n}");
        let (mut blob, mut grant) = (None, None);
        if kind != Kind::NeverImported {
            blob = Some(encrypt(c, &id).await?);
            let out = prep(
                "CreateGrant",
                c.create_grant()
                    .key_id(&id)
                    .grantee_principal(GRANTEE)
                    .retiring_principal(&retirer)
                    .operations(GrantOperation::Decrypt)
                    .send()
                    .await,
            )?;
            grant = Some((
                out.grant_id().expect("GrantId").to_owned(),
                out.grant_token().expect("GrantToken").to_owned(),
            ));
        }
        let alias = format!("alias/matrix-{n}");
        prep(
            "CreateAlias",
            c.create_alias()
                .alias_name(&alias)
                .target_key_id(&id)
                .send()
                .await,
        )?;
        prep(
            "TagResource",
            c.tag_resource()
                .key_id(&id)
                .tags(tag(TAG_KEY, &n.to_string()))
                .send()
                .await,
        )?;
        match (state, kind) {
            (State::Enabled, _) | (State::PendingImport, Kind::NeverImported) => {}
            (State::Disabled, _) => {
                prep("DisableKey", c.disable_key().key_id(&id).send().await)?;
            }
            (State::PendingImport, _) => {
                prep(
                    "DeleteImportedKeyMaterial",
                    c.delete_imported_key_material().key_id(&id).send().await,
                )?;
            }
            (State::PendingDeletion, _) => {
                prep(
                    "ScheduleKeyDeletion",
                    c.schedule_key_deletion()
                        .key_id(&id)
                        .pending_window_in_days(7)
                        .send()
                        .await,
                )?;
            }
        }
        let key = TestKey {
            id,
            arn,
            state,
            kind,
            material,
            params: imported_with,
            blob,
            grant,
            alias,
            retirer,
        };
        self.expect_state(&key, state, "after set-up").await?;
        Ok(key)
    }

    /// Runs `op` on `k`; `Ok` when it succeeded and its result looks right.
    #[allow(clippy::too_many_lines)] // one arm per operation
    async fn run(&self, op: Op, k: &TestKey) -> Result<(), Got> {
        let c = &self.client;
        let id = k.id.as_str();
        match op {
            Op::CancelKeyDeletion => {
                api(c.cancel_key_deletion().key_id(id).send().await)?;
            }
            Op::CreateAlias => {
                let name = format!("alias/matrix-new-{}", self.n());
                api(c
                    .create_alias()
                    .alias_name(name)
                    .target_key_id(id)
                    .send()
                    .await)?;
            }
            Op::CreateGrant => {
                let out = api(c
                    .create_grant()
                    .key_id(id)
                    .grantee_principal(GRANTEE)
                    .operations(GrantOperation::Encrypt)
                    .send()
                    .await)?;
                ensure(out.grant_id().is_some(), || "no GrantId".into())?;
            }
            Op::Decrypt => {
                let blob = needs(&k.blob, "ciphertext")?;
                let out = api(c.decrypt().ciphertext_blob(blob.clone()).send().await)?;
                ensure(out.plaintext().map(Blob::as_ref) == Some(PLAINTEXT), || {
                    "Decrypt returned other plaintext".into()
                })?;
                ensure(out.key_id() == Some(k.arn.as_str()), || {
                    format!("Decrypt KeyId {:?}", out.key_id())
                })?;
            }
            Op::DeleteAlias => {
                api(c.delete_alias().alias_name(&k.alias).send().await)?;
            }
            Op::DeleteImportedKeyMaterial => {
                api(c.delete_imported_key_material().key_id(id).send().await)?;
                let after = match k.state {
                    State::Enabled | State::Disabled => State::PendingImport,
                    unchanged => unchanged,
                };
                self.expect_state(k, after, "after DeleteImportedKeyMaterial")
                    .await?;
            }
            Op::DescribeKey => {
                let out = api(c.describe_key().key_id(id).send().await)?;
                let meta = out.key_metadata().expect("KeyMetadata");
                ensure(meta.key_state() == Some(&k.state.wire()), || {
                    format!("DescribeKey KeyState {:?}", meta.key_state())
                })?;
                let origin = match k.kind {
                    Kind::AwsKms => OriginType::AwsKms,
                    Kind::Imported | Kind::NeverImported => OriginType::External,
                };
                ensure(meta.origin() == Some(&origin), || {
                    format!("DescribeKey Origin {:?}", meta.origin())
                })?;
            }
            Op::DisableKey => {
                api(c.disable_key().key_id(id).send().await)?;
            }
            Op::DisableKeyRotation => {
                api(c.disable_key_rotation().key_id(id).send().await)?;
            }
            Op::EnableKey => {
                api(c.enable_key().key_id(id).send().await)?;
            }
            Op::EnableKeyRotation => {
                api(c.enable_key_rotation().key_id(id).send().await)?;
            }
            Op::Encrypt => {
                let out = api(c
                    .encrypt()
                    .key_id(id)
                    .plaintext(Blob::new(PLAINTEXT))
                    .send()
                    .await)?;
                ensure(out.key_id() == Some(k.arn.as_str()), || {
                    format!("Encrypt KeyId {:?}", out.key_id())
                })?;
            }
            Op::GenerateDataKey => {
                let out = api(c
                    .generate_data_key()
                    .key_id(id)
                    .key_spec(DataKeySpec::Aes256)
                    .send()
                    .await)?;
                ensure(
                    out.plaintext().map(|p| p.as_ref().len()) == Some(32),
                    || "GenerateDataKey: no 32-byte plaintext".into(),
                )?;
            }
            Op::GenerateDataKeyWithoutPlaintext => {
                let out = api(c
                    .generate_data_key_without_plaintext()
                    .key_id(id)
                    .key_spec(DataKeySpec::Aes256)
                    .send()
                    .await)?;
                ensure(out.ciphertext_blob().is_some(), || {
                    "GenerateDataKeyWithoutPlaintext: no ciphertext".into()
                })?;
            }
            Op::GetKeyPolicy => {
                let out = api(c
                    .get_key_policy()
                    .key_id(id)
                    .policy_name("default")
                    .send()
                    .await)?;
                ensure(out.policy().is_some(), || "GetKeyPolicy: no Policy".into())?;
            }
            Op::GetKeyRotationStatus => {
                api(c.get_key_rotation_status().key_id(id).send().await)?;
            }
            Op::GetParametersForImport => {
                let out = api(c
                    .get_parameters_for_import()
                    .key_id(id)
                    .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
                    .wrapping_key_spec(WrappingKeySpec::Rsa2048)
                    .send()
                    .await)?;
                ensure(
                    out.public_key().is_some() && out.import_token().is_some(),
                    || "GetParametersForImport: no PublicKey or ImportToken".into(),
                )?;
            }
            Op::ImportKeyMaterial => {
                let (p, material) = match k.kind {
                    // Origin is checked before the token, which belongs to another key.
                    Kind::AwsKms => (self.spare.clone(), fresh_material()),
                    // Re-import of the same bytes, with the parameters of the first import
                    // (GetParametersForImport would be refused on a key pending deletion).
                    Kind::Imported => (
                        needs(&k.params, "import parameters")?.clone(),
                        needs(&k.material, "material")?.clone(),
                    ),
                    // First import.
                    Kind::NeverImported => (params(c, id).await?, fresh_material()),
                };
                api(import(c, id, &p, &material).await)?;
                if k.state == State::PendingImport {
                    self.expect_state(k, State::Enabled, "after ImportKeyMaterial")
                        .await?;
                }
            }
            Op::ListAliases => {
                let out = api(c.list_aliases().key_id(id).send().await)?;
                let names: Vec<&str> = out
                    .aliases()
                    .iter()
                    .filter_map(|a| a.alias_name())
                    .collect();
                ensure(names == [k.alias.as_str()], || {
                    format!("ListAliases listed {names:?}")
                })?;
            }
            Op::ListGrants => {
                let out = api(c.list_grants().key_id(id).send().await)?;
                let ids: Vec<&str> = out.grants().iter().filter_map(|g| g.grant_id()).collect();
                let want: Vec<&str> = k.grant.iter().map(|(g, _)| g.as_str()).collect();
                ensure(ids == want, || format!("ListGrants listed {ids:?}"))?;
            }
            Op::ListKeyPolicies => {
                let out = api(c.list_key_policies().key_id(id).send().await)?;
                ensure(out.policy_names() == ["default"], || {
                    format!("ListKeyPolicies listed {:?}", out.policy_names())
                })?;
            }
            Op::ListKeys => {
                let (mut found, mut marker) = (false, None);
                loop {
                    let page = api(c.list_keys().limit(1000).set_marker(marker).send().await)?;
                    found |= page.keys().iter().any(|e| e.key_id() == Some(id));
                    match page.next_marker() {
                        Some(next) => marker = Some(next.to_owned()),
                        None => break,
                    }
                }
                ensure(found, || "ListKeys does not list the key".into())?;
            }
            Op::ListResourceTags => {
                let out = api(c.list_resource_tags().key_id(id).send().await)?;
                let keys: Vec<&str> = out.tags().iter().map(Tag::tag_key).collect();
                ensure(keys == [TAG_KEY], || {
                    format!("ListResourceTags listed {keys:?}")
                })?;
            }
            Op::ListRetirableGrants => {
                let out = api(c
                    .list_retirable_grants()
                    .retiring_principal(&k.retirer)
                    .send()
                    .await)?;
                let ids: Vec<&str> = out.grants().iter().filter_map(|g| g.grant_id()).collect();
                let want: Vec<&str> = k.grant.iter().map(|(g, _)| g.as_str()).collect();
                ensure(ids == want, || {
                    format!("ListRetirableGrants listed {ids:?}")
                })?;
            }
            Op::PutKeyPolicy => {
                api(c
                    .put_key_policy()
                    .key_id(id)
                    .policy_name("default")
                    .policy(POLICY)
                    .send()
                    .await)?;
            }
            Op::ReEncryptSource => {
                let blob = needs(&k.blob, "ciphertext")?;
                let out = api(c
                    .re_encrypt()
                    .ciphertext_blob(blob.clone())
                    .destination_key_id(&self.other)
                    .send()
                    .await)?;
                let other = self.daemon.key_arn(&self.other);
                ensure(
                    out.source_key_id() == Some(k.arn.as_str())
                        && out.key_id() == Some(other.as_str()),
                    || {
                        format!(
                            "ReEncrypt SourceKeyId {:?} KeyId {:?}",
                            out.source_key_id(),
                            out.key_id()
                        )
                    },
                )?;
            }
            Op::ReEncryptDestination => {
                let out = api(c
                    .re_encrypt()
                    .ciphertext_blob(self.other_blob.clone())
                    .destination_key_id(id)
                    .send()
                    .await)?;
                ensure(out.key_id() == Some(k.arn.as_str()), || {
                    format!("ReEncrypt KeyId {:?}", out.key_id())
                })?;
            }
            Op::RetireGrant => {
                let (_, token) = needs(&k.grant, "grant")?;
                api(c.retire_grant().grant_token(token).send().await)?;
            }
            Op::RevokeGrant => {
                let (grant, _) = needs(&k.grant, "grant")?;
                api(c.revoke_grant().key_id(id).grant_id(grant).send().await)?;
            }
            Op::ScheduleKeyDeletion => {
                api(c
                    .schedule_key_deletion()
                    .key_id(id)
                    .pending_window_in_days(7)
                    .send()
                    .await)?;
            }
            Op::TagResource => {
                api(c
                    .tag_resource()
                    .key_id(id)
                    .tags(tag("added", "yes"))
                    .send()
                    .await)?;
            }
            Op::UntagResource => {
                api(c.untag_resource().key_id(id).tag_keys(TAG_KEY).send().await)?;
            }
            Op::UpdateAliasSource => {
                api(c
                    .update_alias()
                    .alias_name(&k.alias)
                    .target_key_id(&self.other)
                    .send()
                    .await)?;
            }
            Op::UpdateAliasDestination => {
                let name = format!("alias/matrix-moving-{}", self.n());
                prep(
                    "CreateAlias on the Enabled key",
                    c.create_alias()
                        .alias_name(&name)
                        .target_key_id(&self.other)
                        .send()
                        .await,
                )?;
                api(c
                    .update_alias()
                    .alias_name(&name)
                    .target_key_id(id)
                    .send()
                    .await)?;
            }
            Op::UpdateKeyDescription => {
                api(c
                    .update_key_description()
                    .key_id(id)
                    .description("changed by the matrix")
                    .send()
                    .await)?;
            }
        }
        Ok(())
    }

    /// One cell on a fresh key: `Err` says what differs from `want`.
    async fn cell(&self, op: Op, state: State, kind: Kind, want: Want) -> Result<(), String> {
        let key = match self.key_in(state, kind).await {
            Ok(key) => key,
            Err(Got::Problem(p)) => return Err(format!("set-up: {p}")),
            Err(Got::Refused { code, message, .. }) => {
                return Err(format!("set-up refused: {code}: {message}"))
            }
        };
        let outcome = self.run(op, &key).await;
        match (refusal(want, &key.arn), outcome) {
            (_, Err(Got::Problem(p))) => Err(p),
            (None, Ok(())) => {
                if want == NoEff {
                    self.expect_state(&key, state, "no effect")
                        .await
                        .map_err(|_| "the key state changed".to_owned())?;
                }
                Ok(())
            }
            (None, Err(Got::Refused { code, message, .. })) => {
                Err(format!("expected success; actual {code}: {message:?}"))
            }
            (Some((code, message)), Ok(())) => {
                Err(format!("expected {code}: {message:?}; actual success"))
            }
            (
                Some((want_code, want_message)),
                Err(Got::Refused {
                    code,
                    message,
                    status,
                }),
            ) => {
                if (code.as_str(), &message) != (want_code, &want_message) {
                    return Err(format!(
                        "expected {want_code}: {want_message:?}; actual {code}: {message:?}"
                    ));
                }
                if status != Some(400) {
                    return Err(format!("{code}: HTTP status {status:?}, expected 400"));
                }
                match self.state_of(&key.id).await {
                    Ok(after) if after == state.wire() => Ok(()),
                    Ok(after) => Err(format!("refused, yet the key state became {after:?}")),
                    Err(_) => Err("DescribeKey after the refusal failed".to_owned()),
                }
            }
        }
    }
}

/// Walks the cells of `columns` on one daemon; panics listing every failing cell.
async fn walk(columns: Range<usize>, expected_cells: usize) {
    let ctx = Ctx::start().await;
    let mut failures = Vec::new();
    let mut cells = 0;
    for (op, row) in TABLE {
        for column in columns.clone() {
            let want = row[column];
            if want == Skip {
                continue;
            }
            let (state, kind) = COLUMNS[column];
            cells += 1;
            if let Err(why) = ctx.cell(op, state, kind, want).await {
                failures.push(format!("{op} / {state} / {kind}: {why}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cells} cells differ from the table:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(cells, expected_cells, "cells walked");
    eprintln!("{cells} cells asserted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabled_and_disabled_columns() {
    walk(0..4, 35 * 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_import_and_pending_deletion_columns() {
    // Decrypt, ReEncrypt (source), RetireGrant and RevokeGrant cannot be set up on a key
    // that never had material.
    walk(4..8, 35 * 4 - 4).await;
}

/// The table has a row for every operation of seed 002 that uses an existing key, each
/// exactly once (ReEncrypt and UpdateAlias once per role), and nothing else.
#[test]
fn the_table_covers_every_operation_of_seed_002() {
    let seed = [
        "CancelKeyDeletion",
        "CreateAlias",
        "CreateGrant",
        "Decrypt",
        "DeleteAlias",
        "DeleteImportedKeyMaterial",
        "DescribeKey",
        "DisableKey",
        "DisableKeyRotation",
        "EnableKey",
        "EnableKeyRotation",
        "Encrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GetKeyPolicy",
        "GetKeyRotationStatus",
        "GetParametersForImport",
        "ImportKeyMaterial",
        "ListAliases",
        "ListGrants",
        "ListKeyPolicies",
        "ListKeys",
        "ListResourceTags",
        "ListRetirableGrants",
        "PutKeyPolicy",
        "ReEncrypt",
        "RetireGrant",
        "RevokeGrant",
        "ScheduleKeyDeletion",
        "TagResource",
        "UntagResource",
        "UpdateAlias",
        "UpdateKeyDescription",
    ];
    let mut rows: Vec<&str> = TABLE.iter().map(|(op, _)| op.seed_row()).collect();
    rows.dedup();
    assert_eq!(rows, seed);
    let mut ops: Vec<&str> = TABLE.iter().map(|(op, _)| op.name()).collect();
    ops.sort_unstable();
    ops.dedup();
    assert_eq!(ops.len(), TABLE.len(), "an operation listed twice");
    // Only a key that never had material lacks the ciphertext or grant a cell needs.
    for (op, row) in TABLE {
        for (column, want) in row.iter().enumerate() {
            assert!(
                *want != Skip || COLUMNS[column].1 == Kind::NeverImported,
                "{op}: skipped in column {column}"
            );
        }
    }
}
