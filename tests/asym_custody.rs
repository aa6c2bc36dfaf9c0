//! What an HSM engineer checks for asymmetric and HMAC keys: private and secret halves are
//! sensitive, never extractable, not modifiable and not copyable, their secret values are
//! unreadable through PKCS#11, and a key pair interrupted during CreateKey is rolled back
//! (both halves) at start-up. This binary opens the token itself with cryptoki, so it holds
//! a single test: a PKCS#11 module reads SOFTHSM2_CONF once per process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use common::{open_token, Daemon};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeInfo, AttributeType, ObjectClass};
use cryptoki::session::Session;
use uuid::Uuid;

fn objects(session: &Session, id: Uuid, class: ObjectClass) -> Vec<cryptoki::object::ObjectHandle> {
    let template = [
        Attribute::Class(class),
        Attribute::Id(id.as_bytes().to_vec()),
    ];
    session.find_objects(&template).expect("find")
}

#[tokio::test]
async fn private_and_secret_halves_never_leave_the_token() {
    let mut daemon = Daemon::start();
    let client = daemon.client();
    // Each case: spec, usage, the secret attribute, and the only mechanisms the private or
    // secret half may be used with (raw RSA for the OAEP-SHA-256 fallback the test
    // configuration enables on SoftHSM2), in the ascending order SoftHSM2 returns them.
    use cryptoki::mechanism::MechanismType as M;
    let cases = [
        (
            KeySpec::Rsa2048,
            KeyUsageType::SignVerify,
            AttributeType::PrivateExponent,
            vec![M::RSA_PKCS, M::RSA_PKCS_PSS],
        ),
        (
            KeySpec::Rsa2048,
            KeyUsageType::EncryptDecrypt,
            AttributeType::PrivateExponent,
            vec![M::RSA_X_509, M::RSA_PKCS_OAEP],
        ),
        (
            KeySpec::EccNistP256,
            KeyUsageType::SignVerify,
            AttributeType::Value,
            vec![M::ECDSA],
        ),
        (
            KeySpec::EccNistP384,
            KeyUsageType::KeyAgreement,
            AttributeType::Value,
            vec![M::ECDH1_DERIVE],
        ),
        (
            KeySpec::EccSecgP256K1,
            KeyUsageType::SignVerify,
            AttributeType::Value,
            vec![M::ECDSA],
        ),
        (
            KeySpec::Hmac256,
            KeyUsageType::GenerateVerifyMac,
            AttributeType::Value,
            vec![M::SHA256_HMAC],
        ),
    ];
    let mut materials = Vec::new();
    for (spec, usage, secret, allowed) in &cases {
        let created = client
            .create_key()
            .key_spec(spec.clone())
            .key_usage(usage.clone())
            .send()
            .await
            .expect("CreateKey");
        let meta = created.key_metadata().unwrap();
        let material = Uuid::parse_str(meta.current_key_material_id().unwrap()).unwrap();
        materials.push((
            spec.clone(),
            usage.clone(),
            *secret,
            material,
            allowed.clone(),
        ));
    }
    let (_ctx, session) = open_token(&daemon);
    for (spec, usage, secret, material, allowed) in &materials {
        let what = format!("{spec:?} {usage:?}");
        let hmac = *spec == KeySpec::Hmac256;
        let class = if hmac {
            ObjectClass::SECRET_KEY
        } else {
            ObjectClass::PRIVATE_KEY
        };
        let found = objects(&session, *material, class);
        assert_eq!(found.len(), 1, "{what}: one private or secret object");
        let wanted = [
            AttributeType::Token,
            AttributeType::Private,
            AttributeType::Sensitive,
            AttributeType::Extractable,
            AttributeType::AlwaysSensitive,
            AttributeType::NeverExtractable,
            AttributeType::Modifiable,
            AttributeType::Copyable,
        ];
        let attrs = session
            .get_attributes(found[0], &wanted)
            .expect("attributes");
        for expected in [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::AlwaysSensitive(true),
            Attribute::NeverExtractable(true),
            Attribute::Modifiable(false),
            Attribute::Copyable(false),
        ] {
            assert!(
                attrs.contains(&expected),
                "{what}: {expected:?} missing from {attrs:?}"
            );
        }
        let restriction = session
            .get_attributes(found[0], &[AttributeType::AllowedMechanisms])
            .expect("allowed mechanisms");
        assert_eq!(
            restriction,
            [Attribute::AllowedMechanisms(allowed.clone())],
            "{what}: usable only with its own mechanisms"
        );
        let info = session
            .get_attribute_info(found[0], &[*secret])
            .expect("attribute info");
        assert!(
            matches!(info.as_slice(), [AttributeInfo::Sensitive]),
            "{what}: {secret:?} must not be readable: {info:?}"
        );
        let publics = objects(&session, *material, ObjectClass::PUBLIC_KEY);
        assert_eq!(publics.len(), usize::from(!hmac), "{what}: public halves");
    }

    // A key pair whose CreateKey was interrupted: its row says Creating, both halves exist.
    daemon.kill();
    let (key, material) = (Uuid::new_v4(), Uuid::new_v4());
    {
        let db = rusqlite::Connection::open(daemon.db_path()).expect("open db");
        db.execute(
            "INSERT INTO keys (key_id, created_at, description, key_usage, key_spec, origin,
                               key_state, policy, current_material_id)
             VALUES (?1, 0, '', 'SIGN_VERIFY', 'ECC_NIST_P256', 'AWS_KMS', 'Creating', '{}', ?2)",
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
    let label = format!("hsmkms/{key}/{material}").into_bytes();
    let id = material.as_bytes().to_vec();
    let public = [
        Attribute::Token(true),
        Attribute::EcParams(vec![
            0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
        ]),
        Attribute::Verify(true),
        Attribute::Id(id.clone()),
        Attribute::Label(label.clone()),
    ];
    let private = [
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Sign(true),
        Attribute::Id(id),
        Attribute::Label(label),
    ];
    session
        .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
        .expect("leftover key pair");
    daemon.start_again();
    let log = daemon.log();
    assert!(
        log.contains(&format!("key_id={key}")) && log.contains("rolling it back"),
        "{log}"
    );
    for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
        assert!(
            objects(&session, material, class).is_empty(),
            "{class:?} half of the interrupted key pair destroyed"
        );
    }
    for (_, _, _, material, _) in &materials {
        let left = objects(&session, *material, ObjectClass::PRIVATE_KEY).len()
            + objects(&session, *material, ObjectClass::SECRET_KEY).len();
        assert_eq!(left, 1, "live keys are untouched");
    }
    let keys = daemon.client().list_keys().send().await.expect("ListKeys");
    assert_eq!(
        keys.keys().len(),
        materials.len(),
        "only acknowledged keys are listed"
    );
    // Their objects pass vetting at start-up: every key is served, none Unavailable.
    for key in keys.keys() {
        let meta = common::describe(&daemon.client(), key.key_id().unwrap()).await;
        assert_eq!(
            meta.key_state(),
            Some(&aws_sdk_kms::types::KeyState::Enabled)
        );
    }
}
