//! The key-state table for the asymmetric, HMAC and data-key-pair operations, walked cell by
//! cell against a running daemon: every operation in every key state a key of its type can reach, for an
//! `AWS_KMS` key and, where the type can be imported, an `EXTERNAL` one, plus Unavailable
//! (the token objects gone). The operations only read the key, so each column's key serves
//! every row. The expectations are the literal [`TABLE`], independent of `src/kms/rules.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    AlgorithmSpec, DataKeyPairSpec, EncryptionAlgorithmSpec, KeyAgreementAlgorithmSpec, KeySpec,
    KeyState, KeyUsageType, MacAlgorithmSpec, OriginType, SigningAlgorithmSpec, WrappingKeySpec,
};
use aws_sdk_kms::Client;
use common::import::{import, params, wrap};
use common::{error_code, error_message, Daemon};
use p256::pkcs8::EncodePublicKey;
use rsa::pkcs8::EncodePrivateKey;
use rsa::rand_core::OsRng;

/// The columns: a key state and the key's origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    EnabledAws,
    EnabledExt,
    DisabledAws,
    DisabledExt,
    /// EXTERNAL, material imported, used, then deleted.
    PendingImportImported,
    /// EXTERNAL, never imported.
    PendingImportNew,
    PendingDeletionAws,
    PendingDeletionExt,
    /// AWS_KMS, its token objects removed from the token.
    UnavailableAws,
}

const COLUMNS: [Column; 9] = [
    Column::EnabledAws,
    Column::EnabledExt,
    Column::DisabledAws,
    Column::DisabledExt,
    Column::PendingImportImported,
    Column::PendingImportNew,
    Column::PendingDeletionAws,
    Column::PendingDeletionExt,
    Column::UnavailableAws,
];

impl Column {
    fn external(self) -> bool {
        matches!(
            self,
            Column::EnabledExt
                | Column::DisabledExt
                | Column::PendingImportImported
                | Column::PendingImportNew
                | Column::PendingDeletionExt
        )
    }

    fn state(self) -> KeyState {
        match self {
            Column::EnabledAws | Column::EnabledExt => KeyState::Enabled,
            Column::DisabledAws | Column::DisabledExt => KeyState::Disabled,
            Column::PendingImportImported | Column::PendingImportNew => KeyState::PendingImport,
            Column::PendingDeletionAws | Column::PendingDeletionExt => KeyState::PendingDeletion,
            Column::UnavailableAws => KeyState::Unavailable,
        }
    }
}

/// The key types the operations need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    RsaSigning,
    RsaEncryption,
    Hmac,
    /// ECDH: never EXTERNAL.
    Agreement,
    /// The symmetric key a data key pair is encrypted under.
    Symmetric,
}

impl Type {
    fn spec(self) -> (KeySpec, KeyUsageType) {
        match self {
            Type::RsaSigning => (KeySpec::Rsa2048, KeyUsageType::SignVerify),
            Type::RsaEncryption => (KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt),
            Type::Hmac => (KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac),
            Type::Agreement => (KeySpec::EccNistP256, KeyUsageType::KeyAgreement),
            Type::Symmetric => (KeySpec::SymmetricDefault, KeyUsageType::EncryptDecrypt),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Sign,
    Verify,
    GetPublicKey,
    Encrypt,
    Decrypt,
    GenerateMac,
    VerifyMac,
    DeriveSharedSecret,
    GenerateDataKeyPair,
    GenerateDataKeyPairWithoutPlaintext,
}

impl Op {
    fn key_type(self) -> Type {
        match self {
            Op::Sign | Op::Verify | Op::GetPublicKey => Type::RsaSigning,
            Op::Encrypt | Op::Decrypt => Type::RsaEncryption,
            Op::GenerateMac | Op::VerifyMac => Type::Hmac,
            Op::DeriveSharedSecret => Type::Agreement,
            Op::GenerateDataKeyPair | Op::GenerateDataKeyPairWithoutPlaintext => Type::Symmetric,
        }
    }
}

/// A cell's expected outcome; every refusal message is `<ARN> <text>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Yes,
    /// `DisabledException`: `is disabled.`
    Dis,
    /// `KMSInvalidStateException`: `is pending import.`
    Imp,
    /// `KMSInvalidStateException`: `is pending deletion.`
    Del,
    /// `KMSInvalidStateException`: `is unavailable.`
    Unav,
    /// Cannot be set up: a Verify, VerifyMac or Decrypt input needs a key that was once
    /// Enabled, and a never-imported key never was; EC keys are never EXTERNAL.
    Skip,
}
use Want::{Del, Dis, Imp, Skip, Unav, Yes};

#[rustfmt::skip]
const TABLE: [(Op, [Want; 9]); 10] = [
    //                    Enabled     Disabled    PendingImport     PendingDeletion  Unavailable
    //                    AWS   EXT   AWS   EXT   EXT   EXT(new)    AWS   EXT        AWS
    (Op::Sign,           [Yes,  Yes,  Dis,  Dis,  Imp,  Imp,        Del,  Del,       Unav]),
    (Op::Verify,         [Yes,  Yes,  Dis,  Dis,  Imp,  Skip,       Del,  Del,       Unav]),
    (Op::GetPublicKey,   [Yes,  Yes,  Dis,  Dis,  Imp,  Imp,        Del,  Del,       Unav]),
    (Op::Encrypt,        [Yes,  Yes,  Dis,  Dis,  Imp,  Imp,        Del,  Del,       Unav]),
    (Op::Decrypt,        [Yes,  Yes,  Dis,  Dis,  Imp,  Skip,       Del,  Del,       Unav]),
    (Op::GenerateMac,    [Yes,  Yes,  Dis,  Dis,  Imp,  Imp,        Del,  Del,       Unav]),
    (Op::VerifyMac,      [Yes,  Yes,  Dis,  Dis,  Imp,  Skip,       Del,  Del,       Unav]),
    (Op::DeriveSharedSecret, [Yes, Skip, Dis,  Skip, Skip, Skip,       Del,  Skip,      Unav]),
    (Op::GenerateDataKeyPair, [Yes, Yes, Dis,  Dis,  Imp,  Imp,        Del,  Del,       Unav]),
    (Op::GenerateDataKeyPairWithoutPlaintext,
                         [Yes,  Yes,  Dis,  Dis,  Imp,  Imp,        Del,  Del,       Unav]),
];

const MESSAGE: &[u8] = b"state table";

/// A key in its column's state, with what its rows need, made while it was Enabled.
struct TestKey {
    id: String,
    /// A signature, MAC or RSA ciphertext of [`MESSAGE`].
    made: Vec<u8>,
}

/// Exception code and message of a failed call.
type Got = (String, String);

fn api<T, E: ProvideErrorMetadata>(result: Result<T, SdkError<E, HttpResponse>>) -> Result<T, Got> {
    result.map_err(|e| (error_code(&e), error_message(&e)))
}

struct Ctx {
    daemon: Daemon,
    client: Client,
    /// PKCS #8 of the software RSA key every EXTERNAL RSA key imports.
    rsa_material: Vec<u8>,
    /// A P-256 peer public key (DER SPKI) for DeriveSharedSecret.
    peer: Vec<u8>,
}

impl Ctx {
    async fn create(&self, kind: Type, origin: OriginType) -> String {
        let (spec, usage) = kind.spec();
        let out = self
            .client
            .create_key()
            .key_spec(spec)
            .key_usage(usage)
            .origin(origin)
            .send()
            .await
            .expect("CreateKey");
        out.key_metadata().unwrap().key_id().to_owned()
    }

    async fn import(&self, kind: Type, key: &str) {
        let (algorithm, material) = match kind {
            Type::Hmac | Type::Symmetric => (AlgorithmSpec::RsaesOaepSha1, vec![0x42; 32]),
            _ => (AlgorithmSpec::RsaAesKeyWrapSha1, self.rsa_material.clone()),
        };
        let p = params(&self.client, key, &algorithm, &WrappingKeySpec::Rsa2048).await;
        import(
            &self.client,
            key,
            &p.token,
            wrap(&algorithm, &p.public, &material),
        )
        .await
        .expect("ImportKeyMaterial");
    }

    /// What Verify, VerifyMac or Decrypt of `key` needs, made by the daemon.
    async fn make(&self, kind: Type, key: &str) -> Vec<u8> {
        let c = &self.client;
        let blob = match kind {
            Type::RsaSigning => {
                c.sign()
                    .key_id(key)
                    .message(Blob::new(MESSAGE))
                    .signing_algorithm(SigningAlgorithmSpec::RsassaPssSha256)
                    .send()
                    .await
                    .expect("Sign")
                    .signature
            }
            Type::RsaEncryption => {
                c.encrypt()
                    .key_id(key)
                    .plaintext(Blob::new(MESSAGE))
                    .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
                    .send()
                    .await
                    .expect("Encrypt")
                    .ciphertext_blob
            }
            Type::Agreement | Type::Symmetric => return Vec::new(),
            Type::Hmac => Some(
                c.generate_mac()
                    .key_id(key)
                    .message(Blob::new(MESSAGE))
                    .mac_algorithm(MacAlgorithmSpec::HmacSha256)
                    .send()
                    .await
                    .expect("GenerateMac")
                    .mac
                    .unwrap(),
            ),
        };
        blob.unwrap().into_inner()
    }

    /// A fresh key of `kind` in `column`'s state.
    async fn key_in(&self, kind: Type, column: Column) -> TestKey {
        let origin = match column.external() {
            true => OriginType::External,
            false => OriginType::AwsKms,
        };
        let before = object_files(self.daemon.dir());
        let id = self.create(kind, origin).await;
        if column == Column::PendingImportNew {
            return TestKey {
                id,
                made: vec![0; 256],
            };
        }
        if column.external() {
            self.import(kind, &id).await;
        }
        let made = self.make(kind, &id).await;
        let c = &self.client;
        match column {
            Column::DisabledAws | Column::DisabledExt => {
                c.disable_key()
                    .key_id(&id)
                    .send()
                    .await
                    .expect("DisableKey");
            }
            Column::PendingImportImported => {
                let deleted = c.delete_imported_key_material().key_id(&id).send().await;
                deleted.expect("DeleteImportedKeyMaterial");
            }
            Column::PendingDeletionAws | Column::PendingDeletionExt => {
                let scheduled = c
                    .schedule_key_deletion()
                    .key_id(&id)
                    .pending_window_in_days(7);
                scheduled.send().await.expect("ScheduleKeyDeletion");
            }
            Column::UnavailableAws => self.remove_objects(&before),
            Column::EnabledAws | Column::EnabledExt | Column::PendingImportNew => {}
        }
        TestKey { id, made }
    }

    /// Moves the token objects made since `before` out of the token, as a restore from an
    /// older backup would, and bumps the token's generation so SoftHSM2 notices.
    fn remove_objects(&self, before: &BTreeSet<PathBuf>) {
        let added: Vec<PathBuf> = object_files(self.daemon.dir())
            .difference(before)
            .cloned()
            .collect();
        assert!(!added.is_empty(), "the key's objects are on the token");
        for (n, object) in added.iter().enumerate() {
            let aside = self.daemon.dir().join(format!("aside-{n}-{}", unique()));
            std::fs::rename(object, aside).expect("move object away");
        }
        bump_generation(&added[0]);
    }

    async fn run(&self, op: Op, key: &TestKey) -> Result<(), Got> {
        let c = &self.client;
        let id = key.id.as_str();
        let message = Blob::new(MESSAGE);
        let made = Blob::new(key.made.clone());
        let pss = SigningAlgorithmSpec::RsassaPssSha256;
        let oaep = EncryptionAlgorithmSpec::RsaesOaepSha256;
        let mac = MacAlgorithmSpec::HmacSha256;
        match op {
            Op::Sign => {
                let sent = c.sign().key_id(id).message(message).signing_algorithm(pss);
                api(sent.send().await).map(drop)
            }
            Op::Verify => {
                let sent = c.verify().key_id(id).message(message).signature(made);
                api(sent.signing_algorithm(pss).send().await).map(drop)
            }
            Op::GetPublicKey => api(c.get_public_key().key_id(id).send().await).map(drop),
            Op::Encrypt => {
                let sent = c.encrypt().key_id(id).plaintext(message);
                api(sent.encryption_algorithm(oaep).send().await).map(drop)
            }
            Op::Decrypt => {
                let sent = c.decrypt().key_id(id).ciphertext_blob(made);
                let out = api(sent.encryption_algorithm(oaep).send().await)?;
                assert_eq!(out.plaintext().unwrap().as_ref(), MESSAGE);
                Ok(())
            }
            Op::GenerateMac => {
                let sent = c.generate_mac().key_id(id).message(message);
                api(sent.mac_algorithm(mac).send().await).map(drop)
            }
            Op::VerifyMac => {
                let sent = c.verify_mac().key_id(id).message(message).mac(made);
                api(sent.mac_algorithm(mac).send().await).map(drop)
            }
            Op::DeriveSharedSecret => {
                let peer = Blob::new(self.peer.clone());
                let sent = c.derive_shared_secret().key_id(id).public_key(peer);
                let ecdh = KeyAgreementAlgorithmSpec::Ecdh;
                api(sent.key_agreement_algorithm(ecdh).send().await).map(drop)
            }
            Op::GenerateDataKeyPair => {
                let sent = c.generate_data_key_pair().key_id(id);
                api(sent
                    .key_pair_spec(DataKeyPairSpec::EccNistP256)
                    .send()
                    .await)
                .map(drop)
            }
            Op::GenerateDataKeyPairWithoutPlaintext => {
                let sent = c.generate_data_key_pair_without_plaintext().key_id(id);
                api(sent
                    .key_pair_spec(DataKeyPairSpec::EccNistP256)
                    .send()
                    .await)
                .map(drop)
            }
        }
    }
}

/// The object files in the daemon's token directory.
fn object_files(dir: &Path) -> BTreeSet<PathBuf> {
    let mut files = BTreeSet::new();
    for token in std::fs::read_dir(dir.join("tokens"))
        .expect("tokens")
        .flatten()
    {
        for entry in std::fs::read_dir(token.path())
            .expect("token dir")
            .flatten()
        {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "object") {
                files.insert(path);
            }
        }
    }
    files
}

/// Increments the token's generation counter (8 bytes, big-endian) beside `object`.
fn bump_generation(object: &Path) {
    let path = object.with_file_name("generation");
    let bytes: [u8; 8] = std::fs::read(&path)
        .expect("generation")
        .try_into()
        .expect("8 bytes");
    let next = u64::from_be_bytes(bytes) + 1;
    std::fs::write(&path, next.to_be_bytes()).expect("write generation");
}

fn unique() -> u128 {
    uuid::Uuid::new_v4().as_u128()
}

fn refusal(want: Want) -> Option<(&'static str, &'static str)> {
    match want {
        Yes | Skip => None,
        Dis => Some(("DisabledException", "is disabled.")),
        Imp => Some(("KMSInvalidStateException", "is pending import.")),
        Del => Some(("KMSInvalidStateException", "is pending deletion.")),
        Unav => Some(("KMSInvalidStateException", "is unavailable.")),
    }
}

#[tokio::test]
async fn every_asymmetric_and_hmac_operation_in_every_key_state() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let software = rsa::RsaPrivateKey::new(&mut OsRng, 2048).expect("software key");
    let rsa_material = software
        .to_pkcs8_der()
        .expect("PKCS #8")
        .as_bytes()
        .to_vec();
    let peer = p256::SecretKey::random(&mut OsRng)
        .public_key()
        .to_public_key_der()
        .expect("peer SPKI")
        .into_vec();
    let ctx = Ctx {
        daemon,
        client,
        rsa_material,
        peer,
    };
    let mut failures = Vec::new();
    let mut cells = 0;
    for (index, column) in COLUMNS.into_iter().enumerate() {
        let kinds = [
            Type::RsaSigning,
            Type::RsaEncryption,
            Type::Hmac,
            Type::Agreement,
            Type::Symmetric,
        ];
        for kind in kinds {
            if kind == Type::Agreement && column.external() {
                continue;
            }
            let key = ctx.key_in(kind, column).await;
            let arn = ctx.daemon.key_arn(&key.id);
            for (op, row) in TABLE.iter().filter(|(op, _)| op.key_type() == kind) {
                let want = row[index];
                if want == Skip {
                    continue;
                }
                cells += 1;
                let got = ctx.run(*op, &key).await;
                let expected =
                    refusal(want).map(|(code, text)| (code.to_owned(), format!("{arn} {text}")));
                if got.as_ref().err() != expected.as_ref() {
                    failures.push(format!(
                        "{op:?} in {column:?}: want {expected:?}, got {got:?}"
                    ));
                }
            }
            // Read after the rows: a key's objects are found missing when it is next used.
            let described = common::describe(&ctx.client, &key.id).await;
            assert_eq!(
                described.key_state(),
                Some(&column.state()),
                "{column:?} {kind:?}"
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(cells, 82, "cells walked");
}
