//! What an HSM engineer checks after imports and deletions: imported material sits in the
//! token as sensitive, non-extractable objects that honestly say whether they were ever
//! outside it; wrapping keys can only unwrap and vanish when their parameters expire;
//! deleted keys' objects are gone; no imported byte reaches the sidecar. Opens the token
//! with cryptoki, so it holds a single test (one PKCS#11 module per process).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{AlgorithmSpec, ExpirationModelType, WrappingKeySpec};
use aws_sdk_kms::Client;
use common::{contains, external_key, open_token, schedule_deletion, sidecar_bytes, Daemon, DAY};
use cryptoki::object::{Attribute, AttributeInfo, AttributeType, ObjectClass};
use cryptoki::session::Session;
use rsa::pkcs8::DecodePublicKey;
use rsa::rand_core::OsRng;
use rsa::{Oaep, RsaPublicKey};

/// Imports `material` into a new EXTERNAL key with RSA-OAEP of `hash`; returns the key id
/// and the material id.
async fn import(client: &Client, material: &[u8], sha256: bool) -> (String, String) {
    let key = external_key(client).await;
    let algorithm = if sha256 {
        AlgorithmSpec::RsaesOaepSha256
    } else {
        AlgorithmSpec::RsaesOaepSha1
    };
    let params = client
        .get_parameters_for_import()
        .key_id(&key)
        .wrapping_algorithm(algorithm)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .expect("parameters");
    let public = RsaPublicKey::from_public_key_der(params.public_key().expect("public").as_ref())
        .expect("spki");
    let padding = if sha256 {
        Oaep::new::<sha2::Sha256>()
    } else {
        Oaep::new::<sha1::Sha1>()
    };
    let wrapped = public.encrypt(&mut OsRng, padding, material).expect("wrap");
    let imported = client
        .import_key_material()
        .key_id(&key)
        .import_token(params.import_token().expect("token").clone())
        .encrypted_key_material(Blob::new(wrapped))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .expect("import");
    (
        key,
        imported.key_material_id().expect("material id").to_owned(),
    )
}

fn by_id(session: &Session, class: ObjectClass, id: &[u8]) -> Vec<cryptoki::object::ObjectHandle> {
    session
        .find_objects(&[Attribute::Class(class), Attribute::Id(id.to_vec())])
        .expect("find")
}

fn flags(
    session: &Session,
    handle: cryptoki::object::ObjectHandle,
    wanted: &[AttributeType],
) -> Vec<Attribute> {
    session.get_attributes(handle, wanted).expect("attributes")
}

#[tokio::test]
async fn imported_material_and_wrapping_keys_in_the_token() {
    let mut daemon = Daemon::start_with_dev_clock();
    let client = daemon.client();
    let in_token: Vec<u8> = (0..32).map(|i| 0xA0 ^ i).collect();
    let on_host: Vec<u8> = (0..32).map(|i| 0x5C ^ (i * 7)).collect();
    let (_, token_material) = import(&client, &in_token, false).await;
    let (_, host_material) = import(&client, &on_host, true).await;
    let doomed = client.create_key().send().await.expect("create");
    let doomed = doomed.key_metadata().expect("metadata");
    let doomed_material =
        uuid::Uuid::parse_str(doomed.current_key_material_id().expect("id")).expect("uuid");

    // `open_token` sets SOFTHSM2_CONF: sound here, as this binary holds this one test.
    let (_ctx, session) = open_token(&daemon);
    let protection = [
        AttributeType::Sensitive,
        AttributeType::Extractable,
        AttributeType::AlwaysSensitive,
        AttributeType::NeverExtractable,
        AttributeType::Token,
        AttributeType::Modifiable,
        AttributeType::Copyable,
        AttributeType::AllowedMechanisms,
    ];
    // The check value was computed on a session copy that is gone: only the key objects
    // and the three system keys are secret keys on the token.
    let secret_keys = session
        .find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)])
        .expect("find");
    assert_eq!(secret_keys.len(), 6, "no probe object is left behind");
    for material in [&token_material, &host_material] {
        let id = uuid::Uuid::parse_str(material).expect("uuid");
        let handles = by_id(&session, ObjectClass::SECRET_KEY, id.as_bytes());
        assert_eq!(handles.len(), 1, "one token object per imported material");
        let attrs = flags(&session, handles[0], &protection);
        for expected in [
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Token(true),
            // Imported material existed outside the token once: the token says so.
            Attribute::AlwaysSensitive(false),
            Attribute::NeverExtractable(false),
            Attribute::Modifiable(false),
            Attribute::Copyable(false),
            Attribute::AllowedMechanisms(vec![cryptoki::mechanism::MechanismType::AES_GCM]),
        ] {
            assert!(
                attrs.contains(&expected),
                "{material}: {expected:?} not in {attrs:?}"
            );
        }
        let value = session
            .get_attribute_info(handles[0], &[AttributeType::Value])
            .expect("info");
        assert!(
            matches!(value.as_slice(), [AttributeInfo::Sensitive]),
            "CKA_VALUE readable: {value:?}"
        );
    }

    // Wrapping keys: private halves only, sensitive, non-extractable, unwrap-only unless the
    // host fallback needed raw RSA decryption.
    let private_keys = session
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
        .expect("find");
    assert_eq!(
        private_keys.len(),
        2,
        "one wrapping key per parameters issued"
    );
    assert!(session
        .find_objects(&[Attribute::Class(ObjectClass::PUBLIC_KEY)])
        .expect("find")
        .is_empty());
    let mut decrypt_flags = Vec::new();
    for handle in &private_keys {
        let attrs = flags(
            &session,
            *handle,
            &[
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::Unwrap,
                AttributeType::Decrypt,
                AttributeType::Sign,
            ],
        );
        for expected in [
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Unwrap(true),
            Attribute::Sign(false),
        ] {
            assert!(attrs.contains(&expected), "{expected:?} not in {attrs:?}");
        }
        decrypt_flags.push(attrs.contains(&Attribute::Decrypt(true)));
    }
    decrypt_flags.sort();
    assert_eq!(
        decrypt_flags,
        vec![false, true],
        "only the host-decoding wrapping key may decrypt"
    );

    // Expired parameters lose their wrapping keys; a deleted key loses its object.
    schedule_deletion(&client, doomed.key_id()).await;
    daemon.advance_clock(7 * DAY + 1);
    assert!(session
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
        .expect("find")
        .is_empty());
    assert!(by_id(
        &session,
        ObjectClass::SECRET_KEY,
        doomed_material.as_bytes()
    )
    .is_empty());

    // The sidecar knows how each material was unwrapped, and never what it is.
    daemon.kill();
    let db = rusqlite::Connection::open(daemon.db_path()).expect("db");
    let unwrapped_by = |id: &str| -> String {
        db.query_row(
            "SELECT unwrapped_by FROM key_materials WHERE material_id = ?1",
            [id],
            |r| r.get(0),
        )
        .expect("row")
    };
    assert_eq!(unwrapped_by(&token_material), "TOKEN");
    assert_eq!(unwrapped_by(&host_material), "HOST");
    let check_value_len: i64 = db
        .query_row(
            "SELECT length(key_check_value) FROM key_materials WHERE material_id = ?1",
            [&token_material],
            |r| r.get(0),
        )
        .expect("row");
    assert_eq!(
        check_value_len, 8,
        "the key check value is truncated to 8 bytes"
    );
    drop(db);
    let sidecar = sidecar_bytes(&daemon);
    assert!(
        !contains(&sidecar, &in_token),
        "imported material found in the sidecar"
    );
    assert!(
        !contains(&sidecar, &on_host),
        "imported material found in the sidecar"
    );
}
