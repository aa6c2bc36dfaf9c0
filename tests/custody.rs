//! What an HSM engineer checks: key objects are sensitive and never extractable, no key
//! material reaches the sidecar, and a crash during CreateKey is rolled back at start-up.
//! This binary opens the token itself with cryptoki, so it holds a single test: a PKCS#11
//! module reads SOFTHSM2_CONF once per process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::primitives::Blob;
use common::{contains, open_token, sidecar_bytes, Daemon};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeInfo, AttributeType, KeyType, ObjectClass};
use cryptoki::session::Session;
use uuid::Uuid;

fn objects_with_id(session: &Session, id: Uuid) -> usize {
    let template = [Attribute::Id(id.as_bytes().to_vec())];
    session.find_objects(&template).expect("find").len()
}

#[tokio::test]
async fn key_custody_and_crash_recovery() {
    let mut daemon = Daemon::start();
    let client = daemon.client();
    let created = client.create_key().send().await.expect("create key");
    let meta = created.key_metadata().expect("metadata");
    let material = Uuid::parse_str(meta.current_key_material_id().expect("material id"))
        .expect("material id is a UUID");
    let data_key = client
        .generate_data_key()
        .key_id(meta.key_id())
        .number_of_bytes(32)
        .send()
        .await
        .expect("data key");
    let data_key = data_key.plaintext().expect("plaintext").as_ref().to_vec();
    let secret = b"a sentence that must never reach the sidecar";
    client
        .encrypt()
        .key_id(meta.key_id())
        .plaintext(Blob::new(&secret[..]))
        .send()
        .await
        .expect("encrypt");

    // `open_token` sets SOFTHSM2_CONF: sound here, as this binary holds this one test.
    let (_ctx, session) = open_token(&daemon);

    // The key object is a sensitive, never-extractable AES-256 token object.
    let handles = session
        .find_objects(&[Attribute::Id(material.as_bytes().to_vec())])
        .expect("find");
    assert_eq!(
        handles.len(),
        1,
        "exactly one object carries the material id"
    );
    let wanted = [
        AttributeType::Token,
        AttributeType::Private,
        AttributeType::Sensitive,
        AttributeType::Extractable,
        AttributeType::AlwaysSensitive,
        AttributeType::NeverExtractable,
        AttributeType::KeyType,
        AttributeType::ValueLen,
    ];
    let attrs = session
        .get_attributes(handles[0], &wanted)
        .expect("attributes");
    for expected in [
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::AlwaysSensitive(true),
        Attribute::NeverExtractable(true),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(32.into()),
    ] {
        assert!(
            attrs.contains(&expected),
            "{expected:?} missing from {attrs:?}"
        );
    }
    let value = session
        .get_attribute_info(handles[0], &[AttributeType::Value])
        .expect("attribute info");
    assert!(
        matches!(value.as_slice(), [AttributeInfo::Sensitive]),
        "CKA_VALUE must not be readable: {value:?}"
    );

    // Nothing secret is in the sidecar or its write-ahead log.
    daemon.kill();
    let sidecar = sidecar_bytes(&daemon);
    assert!(
        !contains(&sidecar, &data_key),
        "data key plaintext found in the sidecar"
    );
    assert!(
        !contains(&sidecar, secret),
        "plaintext found in the sidecar"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(daemon.db_path())
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the sidecar is private to its owner");

    // Simulate three crash leftovers while the daemon is down:
    // a key row whose token object was created, a key row without one, and a token
    // object of ours without any row.
    let with_object = (Uuid::new_v4(), Uuid::new_v4());
    let without_object = (Uuid::new_v4(), Uuid::new_v4());
    let orphan = Uuid::new_v4();
    {
        let db = rusqlite::Connection::open(daemon.db_path()).expect("open db");
        for (key, material) in [with_object, without_object] {
            db.execute(
                "INSERT INTO keys (key_id, created_at, description, key_usage, key_spec, origin,
                                   key_state, policy, current_material_id)
                 VALUES (?1, 0, '', 'ENCRYPT_DECRYPT', 'SYMMETRIC_DEFAULT', 'AWS_KMS',
                         'Creating', '{}', ?2)",
                [key.to_string(), material.to_string()],
            )
            .expect("insert key");
            db.execute(
                "INSERT INTO key_materials (material_id, key_id, state, custody, created_at)
                 VALUES (?1, ?2, 'PENDING_GENERATION', 'TOKEN_OBJECT', 0)",
                [material.to_string(), key.to_string()],
            )
            .expect("insert material");
        }
    }
    for (owner, id) in [(with_object.0, with_object.1), (Uuid::nil(), orphan)] {
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Sign(false),
            Attribute::Verify(false),
            Attribute::Id(id.as_bytes().to_vec()),
            Attribute::Label(format!("hsmkms/{owner}/{id}").into_bytes()),
        ];
        session
            .generate_key(&Mechanism::AesKeyGen, &template)
            .expect("generate leftover object");
    }

    daemon.start_again();
    let log = daemon.log();
    assert!(log.contains(&format!("key_id={}", with_object.0)), "{log}");
    assert!(
        log.contains(&format!("key_id={}", without_object.0)),
        "{log}"
    );
    assert!(log.contains("rolling it back"), "{log}");
    assert!(
        log.contains(&format!("material_id={orphan}")) && log.contains("has no sidecar row"),
        "the orphan token object is reported: {log}"
    );
    assert_eq!(
        objects_with_id(&session, with_object.1),
        0,
        "unacknowledged object destroyed"
    );
    assert_eq!(
        objects_with_id(&session, orphan),
        1,
        "an orphan is reported, not destroyed"
    );
    assert_eq!(
        objects_with_id(&session, material),
        1,
        "live keys are untouched"
    );
    let keys = daemon.client().list_keys().send().await.expect("list keys");
    let ids: Vec<&str> = keys.keys().iter().filter_map(|k| k.key_id()).collect();
    assert_eq!(
        ids,
        vec![meta.key_id()],
        "only the acknowledged key is listed"
    );
}
