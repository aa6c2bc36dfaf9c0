//! Wrapped custody as an HSM engineer checks it in the token: material exists there only
//! as session objects (sensitive, never extractable) while a key may use it; eviction,
//! DisableKey, deletion and shutdown destroy them; the sidecar's blob is the material
//! wrapped under the KEK and never the material itself. The daemon runs in this process:
//! session objects are visible to their own application only. One test, as a PKCS#11
//! module reads SOFTHSM2_CONF once per process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::sync::Arc;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::Client;
use common::{contains, current_material, DEV_KEY, USER_PIN};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use hsmkms::kms::ciphertext::{aad, EncryptionContext, Envelope};
use uuid::Uuid;

const KEK_LABEL: &str = "hsmkms-system/kek";

/// A cryptoki session of this process (the daemon's application), logged in.
fn token_session() -> Session {
    let ctx = Pkcs11::new("/usr/lib/softhsm/libsofthsm2.so").expect("load module");
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) => {}
        Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => panic!("initialize: {e}"),
    }
    let slot = ctx.get_slots_with_token().expect("slots")[0];
    let session = ctx.open_rw_session(slot).expect("session");
    match session.login(UserType::User, Some(&AuthPin::from(USER_PIN))) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => panic!("login: {e}"),
    }
    session
}

/// Objects (token or session) carrying `material` as CKA_ID, with CKA_TOKEN of each.
fn objects_of(session: &Session, material: &str) -> Vec<bool> {
    let id = Uuid::parse_str(material).expect("uuid");
    let found = session
        .find_objects(&[Attribute::Id(id.as_bytes().to_vec())])
        .expect("find");
    found
        .iter()
        .map(|h| {
            let attrs = session
                .get_attributes(*h, &[AttributeType::Token])
                .expect("attrs");
            matches!(attrs.first(), Some(Attribute::Token(true)))
        })
        .collect()
}

/// No object of `material` is left in the token once it was `when`.
fn assert_destroyed(session: &Session, material: &str, when: &str) {
    assert!(
        objects_of(session, material).is_empty(),
        "{when}: destroyed"
    );
}

fn client(endpoint: &str) -> Client {
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        .region(aws_sdk_kms::config::Region::new(common::REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            DEV_KEY.0, DEV_KEY.1, None, None, "test",
        ))
        .build();
    Client::from_conf(config)
}

async fn encrypt(client: &Client, key: &str) -> Vec<u8> {
    let out = (client
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new(&b"wrapped secret"[..])))
    .send()
    .await
    .expect("encrypt");
    out.ciphertext_blob().expect("blob").as_ref().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrapped_material_lives_in_session_objects_only_while_usable() {
    let dir = tempfile::tempdir().expect("tempdir");
    common::init_token(dir.path());
    common::use_wrapped_custody(dir.path());
    let config = dir.path().join("hsmkms.toml");
    let mut text = std::fs::read_to_string(&config).expect("config");
    text = text.replacen("[hsm]\n", "[hsm]\nwrapped_cache_size = 2\n", 1);
    text.push_str(&format!(
        "[[credentials]]\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\nprincipal = \"{}\"\n\
         [dev]\nclock_control = true\nclock_principal = \"{}\"\n",
        common::CLOCK_KEY.0,
        common::CLOCK_KEY.1,
        common::CLOCK_PRINCIPAL,
        common::CLOCK_PRINCIPAL
    ));
    std::fs::write(&config, text).expect("config");
    // This process is the daemon's application from here on.
    std::env::set_var("SOFTHSM2_CONF", dir.path().join("softhsm2.conf"));
    let settings = hsmkms::config::Settings::load(&config).expect("settings");
    let opened = hsmkms::open(&settings).await.expect("open");
    let service = hsmkms::api::Service::new(opened.kms.clone(), opened.audit.clone(), &settings)
        .expect("service");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let transport = hsmkms::api::Transport::new(&settings.server, address).expect("transport");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(hsmkms::api::serve(
        listener,
        transport,
        Arc::new(service),
        async move {
            let mut stopped = stopped;
            let _ = stopped.wait_for(|s| *s).await;
        },
    ));
    let client = client(&format!("http://{address}"));
    let session = token_session();

    let mut keys = Vec::new();
    for _ in 0..3 {
        let key = common::new_key(&client).await;
        let material = current_material(&client, &key).await;
        // Made, wrapped and destroyed: nothing of a new key stays in the token.
        assert!(
            objects_of(&session, &material).is_empty(),
            "nothing stays after CreateKey"
        );
        keys.push((key, material));
    }
    let [(a, a_material), (b, b_material), (c, c_material)] = keys.as_slice() else {
        unreachable!()
    };

    // Use unwraps into one session object: sensitive, never extractable, AES-GCM only.
    let sealed_by_a = encrypt(&client, a).await;
    assert_eq!(
        objects_of(&session, a_material),
        [false],
        "one session object"
    );
    let id = Uuid::parse_str(a_material).expect("uuid");
    let handle = session
        .find_objects(&[Attribute::Id(id.as_bytes().to_vec())])
        .expect("find")[0];
    let wanted = [
        AttributeType::Private,
        AttributeType::Sensitive,
        AttributeType::Extractable,
        AttributeType::Modifiable,
        AttributeType::Copyable,
        AttributeType::Wrap,
        AttributeType::KeyType,
    ];
    let attrs = session.get_attributes(handle, &wanted).expect("attributes");
    for expected in [
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Modifiable(false),
        Attribute::Copyable(false),
        Attribute::Wrap(false),
        Attribute::KeyType(KeyType::AES),
    ] {
        assert!(attrs.contains(&expected), "{expected:?} in {attrs:?}");
    }

    // A cache of two: the third key used pushes out the least recently used one.
    encrypt(&client, b).await;
    encrypt(&client, a).await;
    encrypt(&client, c).await;
    assert_destroyed(&session, b_material, "evicted");
    assert_eq!(objects_of(&session, a_material), [false]);
    assert_eq!(objects_of(&session, c_material), [false]);

    // DisableKey destroys the key's session object; EnableKey and use bring one back.
    client
        .disable_key()
        .key_id(a)
        .send()
        .await
        .expect("disable");
    assert_destroyed(&session, a_material, "disabled");
    client.enable_key().key_id(a).send().await.expect("enable");
    encrypt(&client, a).await;
    assert_eq!(objects_of(&session, a_material), [false]);

    // Deletion destroys it too.
    client
        .schedule_key_deletion()
        .key_id(c)
        .pending_window_in_days(7)
        .send()
        .await
        .expect("schedule deletion");
    assert_destroyed(&session, c_material, "pending deletion");
    opened
        .kms
        .advance_clock(8 * 24 * 3600)
        .await
        .expect("advance clock");
    assert_destroyed(&session, c_material, "deleted");
    assert_eq!(
        opened.kms.hsm().unwrapped_count(),
        1,
        "only a's object is cached"
    );

    // Shutdown destroys the rest before the module is finalized.
    let _ = stop.send(true);
    server.await.expect("server");
    opened.scheduler.stop().await;
    let audit = opened.audit.clone();
    tokio::task::spawn_blocking(move || audit.close())
        .await
        .expect("audit close");
    opened
        .kms
        .hsm()
        .close(std::time::Duration::from_secs(5))
        .await;
    assert_eq!(
        opened.kms.hsm().unwrapped_count(),
        0,
        "shutdown empties the cache"
    );
    drop(session);
    // The sidecar is opened exclusively: the last reference closes it.
    drop((opened.kms, opened.audit));

    // An auditor with the user PIN opens the sidecar's blob with the KEK, in the token:
    // it is a's material (it opens a's ciphertext), and those 32 bytes are nowhere in the
    // sidecar file.
    let blob: Vec<u8> = {
        let db = rusqlite::Connection::open(&settings.store.path).expect("sidecar");
        db.query_row(
            "SELECT wrapped_material FROM key_materials WHERE material_id = ?1",
            [a_material],
            |row| row.get(0),
        )
        .expect("blob")
    };
    let session = token_session();
    let kek = session
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Label(KEK_LABEL.into()),
        ])
        .expect("find KEK")[0];
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Token(false),
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::Decrypt(true),
    ];
    let opened_blob = session
        .unwrap_key(&Mechanism::AesKeyWrapPad, kek, &blob, &template)
        .expect("unwrap the blob");
    let value = session
        .get_attributes(opened_blob, &[AttributeType::Value])
        .expect("value");
    let Some(Attribute::Value(material)) = value.first() else {
        panic!("no CKA_VALUE: {value:?}")
    };
    assert_eq!(material.len(), 32);
    let mut sidecar = std::fs::read(&settings.store.path).expect("sidecar bytes");
    sidecar.extend(
        std::fs::read(settings.store.path.with_extension("sqlite3-wal")).unwrap_or_default(),
    );
    assert!(
        contains(&sidecar, &blob),
        "the sidecar holds the wrapped blob"
    );
    assert!(
        !contains(&sidecar, material),
        "the sidecar never holds the material"
    );

    let envelope = Envelope::parse(&sealed_by_a).expect("envelope");
    let aad = aad(
        envelope.key_id,
        envelope.material_id,
        &EncryptionContext::new(),
    );
    let mut iv = envelope.sealed.iv;
    let params = GcmParams::new(&mut iv, &aad, 128.into()).expect("gcm");
    let plaintext = session
        .decrypt(
            &Mechanism::AesGcm(params),
            opened_blob,
            &envelope.sealed.data,
        )
        .expect("the blob's material opens a's ciphertext");
    assert_eq!(plaintext, b"wrapped secret");
}
