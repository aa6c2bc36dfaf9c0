//! What an HSM engineer checks of the objects the daemon trusts: new keys cannot be widened
//! or copied and allow one mechanism; an object planted under a material's CKA_ID, a second
//! object sharing one, or an object of ours with weakened attributes is never used; a
//! planted system key stops the daemon from starting. One test: this binary opens the
//! token itself, and a PKCS#11 module reads SOFTHSM2_CONF once per process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::types::KeyState;
use common::{current_material, encrypt, key_state, new_key, open_token, Daemon};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use uuid::Uuid;

fn object(session: &Session, id: Uuid) -> ObjectHandle {
    let found = session
        .find_objects(&[Attribute::Id(id.as_bytes().to_vec())])
        .expect("find");
    assert_eq!(found.len(), 1, "one object carries {id}");
    found[0]
}

/// An AES-256 object with our label under `id`, made with `extra` attributes.
fn plant(session: &Session, key_id: &str, id: Uuid, extra: &[Attribute]) {
    let mut template = vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Sign(false),
        Attribute::Verify(false),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
        Attribute::Id(id.as_bytes().to_vec()),
        Attribute::Label(format!("hsmkms/{key_id}/{id}").into_bytes()),
    ];
    template.extend_from_slice(extra);
    match extra.iter().any(|a| matches!(a, Attribute::Value(_))) {
        true => session.create_object(&template).expect("create object"),
        false => {
            template.push(Attribute::ValueLen(32.into()));
            session
                .generate_key(&Mechanism::AesKeyGen, &template)
                .expect("generate object")
        }
    };
}

#[tokio::test]
async fn only_vetted_objects_are_used() {
    let mut daemon = Daemon::start();
    let client = daemon.client();
    let mut keys = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..4 {
        let key = new_key(&client).await;
        ids.push(Uuid::parse_str(&current_material(&client, &key).await).expect("uuid"));
        keys.push(key);
    }
    let (_ctx, session) = open_token(&daemon);

    // A new key allows AES-GCM only, and can be neither modified nor copied.
    let material = ids[0];
    let wanted = [
        AttributeType::Modifiable,
        AttributeType::Copyable,
        AttributeType::AllowedMechanisms,
    ];
    let attributes = session
        .get_attributes(object(&session, material), &wanted)
        .expect("attributes");
    for expected in [
        Attribute::Modifiable(false),
        Attribute::Copyable(false),
        Attribute::AllowedMechanisms(vec![MechanismType::AES_GCM]),
    ] {
        assert!(
            attributes.contains(&expected),
            "{expected:?} missing from {attributes:?}"
        );
    }
    let copied = session.copy_object(object(&session, material), &[Attribute::Token(false)]);
    assert!(copied.is_err(), "a key object cannot be copied");
    let ecb = session.encrypt(&Mechanism::AesEcb, object(&session, material), &[0u8; 16]);
    assert!(
        ecb.is_err(),
        "a key object refuses every mechanism but AES-GCM"
    );

    // While the daemon is down: a second object under one material's CKA_ID, a known-value
    // object in place of another's, and an extractable one in place of a third's.
    daemon.stop();
    plant(&session, &keys[1], ids[1], &[Attribute::Extractable(false)]);
    session
        .destroy_object(object(&session, ids[2]))
        .expect("destroy");
    plant(
        &session,
        &keys[2],
        ids[2],
        &[
            Attribute::Extractable(false),
            Attribute::Value(vec![7u8; 32]),
        ],
    );
    session
        .destroy_object(object(&session, ids[3]))
        .expect("destroy");
    plant(&session, &keys[3], ids[3], &[Attribute::Extractable(true)]);

    daemon.start_again();
    let client = daemon.client();
    let log = daemon.log();
    assert!(
        log.contains("several token objects carry one CKA_ID"),
        "{log}"
    );
    assert!(
        log.contains("not made the way the sidecar records"),
        "{log}"
    );
    assert!(log.contains("fails vetting"), "{log}");
    encrypt(&client, &keys[0], "still served").await;
    for key in &keys[1..] {
        assert_eq!(
            key_state(&client, key).await,
            KeyState::Unavailable,
            "a key whose object is not ours is not served"
        );
    }

    // A planted second audit-checkpoint key stops the daemon from starting.
    daemon.stop();
    let system = Uuid::from_u128(0x6873_6d6b_6d73_4000_8000_0000_0000_0002);
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sign(true),
        Attribute::Verify(true),
        Attribute::Id(system.as_bytes().to_vec()),
        Attribute::Value(vec![1u8; 32]),
    ];
    session
        .create_object(&template)
        .expect("plant a system key");
    let output = start_expecting_failure(&daemon);
    assert!(output.contains("is not trustworthy"), "{output}");
}

/// Starts the daemon on `daemon`'s files and returns what it printed when it exited; a
/// daemon still running after a minute has not refused to start.
fn start_expecting_failure(daemon: &Daemon) -> String {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_hsmkms"))
        .arg("--config")
        .arg(daemon.dir().join("hsmkms.toml"))
        .env("SOFTHSM2_CONF", daemon.softhsm_conf())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hsmkms");
    for _ in 0..600 {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(!status.success(), "the daemon must refuse to start");
            let output = child.wait_with_output().expect("output");
            return format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("the daemon kept running on a token with a duplicated system key");
}
