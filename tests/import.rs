//! Bring your own key through the AWS SDK: wrapping done client-side as a user would (RSA-OAEP
//! SHA-1/SHA-256 and RSA-AES key wrap), for every algorithm and wrapping key size; re-import,
//! expiry, and every error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::primitives::{Blob, DateTime};
use aws_sdk_kms::types::{AlgorithmSpec, ExpirationModelType, KeyState, WrappingKeySpec};
use common::import::{import, material, params, wrap};
use common::{
    assert_error, current_material, describe, encrypt, error_code, external_key, key_state,
    new_key, now_seconds, rotate_now, schedule_deletion, try_decrypt, Daemon, DAY, UNKNOWN_ID,
};

#[tokio::test]
async fn every_algorithm_and_wrapping_key_size_imports_and_reimports() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let algorithms = [
        AlgorithmSpec::RsaesOaepSha1,
        AlgorithmSpec::RsaesOaepSha256,
        AlgorithmSpec::RsaAesKeyWrapSha1,
        AlgorithmSpec::RsaAesKeyWrapSha256,
    ];
    let specs = [
        WrappingKeySpec::Rsa2048,
        WrappingKeySpec::Rsa3072,
        WrappingKeySpec::Rsa4096,
    ];
    for alg in &algorithms {
        for spec in &specs {
            let case = format!("{alg:?} / {spec:?}");
            let key = external_key(&client).await;
            let bytes = material();
            let p = params(&client, &key, alg, spec).await;
            let material_id = import(&client, &key, &p.token, wrap(alg, &p.public, &bytes))
                .await
                .unwrap_or_else(|e| panic!("{case}: import: {e:?}\n{}", daemon.log()));
            assert_eq!(key_state(&client, &key).await, KeyState::Enabled, "{case}");
            let blob = encrypt(&client, &key, case.clone()).await;

            client
                .delete_imported_key_material()
                .key_id(&key)
                .send()
                .await
                .expect("delete");
            assert_eq!(
                key_state(&client, &key).await,
                KeyState::PendingImport,
                "{case}"
            );
            let refused = try_decrypt(&client, blob.clone()).await.unwrap_err();
            assert_eq!(error_code(&refused), "KMSInvalidStateException", "{case}");

            let other = import(&client, &key, &p.token, wrap(alg, &p.public, &material()))
                .await
                .unwrap_err();
            assert_eq!(
                error_code(&other),
                "IncorrectKeyMaterialException",
                "{case}"
            );
            let again = import(&client, &key, &p.token, wrap(alg, &p.public, &bytes))
                .await
                .unwrap_or_else(|e| panic!("{case}: re-import: {e:?}"));
            assert_eq!(again, material_id, "{case}: the same material keeps its id");
            let out = try_decrypt(&client, blob)
                .await
                .expect("decrypt after re-import");
            assert_eq!(
                out.plaintext().map(|p| p.as_ref()),
                Some(case.as_bytes()),
                "{case}"
            );
        }
    }
}

#[tokio::test]
async fn imported_material_expires_into_pending_import() {
    let daemon = Daemon::start_with_dev_clock();
    let client = daemon.client();
    let key = external_key(&client).await;
    let alg = AlgorithmSpec::RsaesOaepSha1;
    let p = params(&client, &key, &alg, &WrappingKeySpec::Rsa2048).await;
    let valid_to = now_seconds() + 2 * DAY;
    client
        .import_key_material()
        .key_id(&key)
        .import_token(p.token.clone())
        .encrypted_key_material(Blob::new(wrap(&alg, &p.public, &material())))
        .expiration_model(ExpirationModelType::KeyMaterialExpires)
        .valid_to(DateTime::from_secs(valid_to))
        .send()
        .await
        .expect("import with expiry");
    let meta = describe(&client, &key).await;
    assert_eq!(
        meta.expiration_model(),
        Some(&ExpirationModelType::KeyMaterialExpires)
    );
    assert_eq!(meta.valid_to().map(|t| t.secs()), Some(valid_to));
    daemon.advance_clock(2 * DAY + 1);
    assert_eq!(key_state(&client, &key).await, KeyState::PendingImport);
}

#[tokio::test]
async fn import_errors() {
    let daemon = Daemon::start_with_dev_clock();
    let client = daemon.client();
    let alg = AlgorithmSpec::RsaesOaepSha1;
    let spec = WrappingKeySpec::Rsa2048;
    let (key, other_key) = (external_key(&client).await, external_key(&client).await);
    let arn = daemon.key_arn(&key);
    let p = params(&client, &key, &alg, &spec).await;
    let invalid_token = "InvalidImportTokenException";

    let garbage = import(
        &client,
        &key,
        &Blob::new(vec![1u8; 75]),
        wrap(&alg, &p.public, &material()),
    )
    .await
    .unwrap_err();
    assert_eq!(error_code(&garbage), invalid_token);
    let others = params(&client, &other_key, &alg, &spec).await;
    let moved = import(
        &client,
        &key,
        &others.token,
        wrap(&alg, &others.public, &material()),
    )
    .await
    .unwrap_err();
    assert_eq!(
        error_code(&moved),
        invalid_token,
        "a token is bound to its key"
    );
    let newer = params(&client, &key, &alg, &spec).await;
    let superseded = import(&client, &key, &p.token, wrap(&alg, &p.public, &material()))
        .await
        .unwrap_err();
    assert_eq!(
        error_code(&superseded),
        invalid_token,
        "newer parameters supersede older ones"
    );
    let not_wrapped = import(&client, &key, &newer.token, vec![7u8; 256])
        .await
        .unwrap_err();
    assert_eq!(error_code(&not_wrapped), "InvalidCiphertextException");

    let no_valid_to = client
        .import_key_material()
        .key_id(&key)
        .import_token(newer.token.clone())
        .encrypted_key_material(Blob::new(wrap(&alg, &newer.public, &material())))
        .expiration_model(ExpirationModelType::KeyMaterialExpires)
        .send()
        .await;
    assert_error(
        no_valid_to,
        "ValidationException",
        "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES",
    );
    let past = client
        .import_key_material()
        .key_id(&key)
        .import_token(newer.token.clone())
        .encrypted_key_material(Blob::new(wrap(&alg, &newer.public, &material())))
        .expiration_model(ExpirationModelType::KeyMaterialExpires)
        .valid_to(DateTime::from_secs(1))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&past), "ValidationException");
    let pair = client
        .get_parameters_for_import()
        .key_id(&key)
        .wrapping_algorithm(AlgorithmSpec::Sm2Pke)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&pair), "ValidationException");
    let missing = client
        .get_parameters_for_import()
        .key_id(UNKNOWN_ID)
        .wrapping_algorithm(alg.clone())
        .wrapping_key_spec(spec.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(error_code(&missing), "NotFoundException");

    let generated = new_key(&client).await;
    let not_external = format!(
        "{} origin is AWS_KMS which is not valid for this operation.",
        daemon.key_arn(&generated)
    );
    let unsupported = "UnsupportedOperationException";
    let refused = client
        .get_parameters_for_import()
        .key_id(&generated)
        .wrapping_algorithm(alg.clone())
        .wrapping_key_spec(spec.clone())
        .send()
        .await;
    assert_error(refused, unsupported, &not_external);
    let refused = import(
        &client,
        &generated,
        &newer.token,
        wrap(&alg, &newer.public, &material()),
    )
    .await;
    assert_error(refused, unsupported, &not_external);
    let refused = client
        .delete_imported_key_material()
        .key_id(&generated)
        .send()
        .await;
    assert_error(refused, unsupported, &not_external);

    // Parameters expire after 24 hours; their wrapping key is destroyed.
    daemon.advance_clock(DAY + 1);
    let expired = import(
        &client,
        &key,
        &newer.token,
        wrap(&alg, &newer.public, &material()),
    )
    .await
    .unwrap_err();
    assert_eq!(error_code(&expired), "ExpiredImportTokenException");

    schedule_deletion(&client, &key).await;
    let pending = client
        .get_parameters_for_import()
        .key_id(&key)
        .wrapping_algorithm(alg.clone())
        .wrapping_key_spec(spec.clone())
        .send()
        .await;
    assert_error(
        pending,
        "KMSInvalidStateException",
        &format!("{arn} is pending deletion."),
    );
}

/// Material that is not 256 bits is refused where the token path can see its length (the
/// host-decoding path, and RFC 5649 wrapping), and leaves the key awaiting material.
#[tokio::test]
async fn material_of_another_length_is_refused() {
    let daemon = Daemon::start();
    let client = daemon.client();
    for (alg, len) in [
        (AlgorithmSpec::RsaAesKeyWrapSha1, 16),
        (AlgorithmSpec::RsaAesKeyWrapSha256, 24),
        (AlgorithmSpec::RsaesOaepSha256, 16),
    ] {
        let key = external_key(&client).await;
        let p = params(&client, &key, &alg, &WrappingKeySpec::Rsa2048).await;
        let short = vec![7u8; len];
        let refused = import(&client, &key, &p.token, wrap(&alg, &p.public, &short))
            .await
            .expect_err("short material");
        assert_eq!(
            error_code(&refused),
            "IncorrectKeyMaterialException",
            "{alg:?}"
        );
        assert_eq!(key_state(&client, &key).await, KeyState::PendingImport);
    }
}

#[tokio::test]
async fn new_key_material_waits_for_an_on_demand_rotation() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let key = external_key(&client).await;
    let alg = AlgorithmSpec::RsaAesKeyWrapSha256;
    let p = params(&client, &key, &alg, &WrappingKeySpec::Rsa2048).await;
    let first = import(&client, &key, &p.token, wrap(&alg, &p.public, &material()))
        .await
        .expect("first");
    let old = encrypt(&client, &key, "old").await;
    let second = client
        .import_key_material()
        .key_id(&key)
        .import_token(p.token.clone())
        .encrypted_key_material(Blob::new(wrap(&alg, &p.public, &material())))
        .import_type(aws_sdk_kms::types::ImportType::NewKeyMaterial)
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .expect("new material")
        .key_material_id
        .expect("id");
    assert_ne!(first, second);
    assert_eq!(current_material(&client, &key).await, first);
    rotate_now(&client, &key).await;
    assert_eq!(current_material(&client, &key).await, second);
    let out = try_decrypt(&client, old).await.expect("old decrypts");
    assert_eq!(out.key_material_id(), Some(first.as_str()));
}

/// A crash during the re-import of deleted material can leave a token object under the
/// material's id before its check value was compared. Start-up destroys it: the next
/// import with the right material brings back exactly the old material.
#[tokio::test]
async fn an_import_interrupted_by_a_crash_leaves_no_unverified_material() {
    use cryptoki::mechanism::Mechanism;
    use cryptoki::object::{Attribute, KeyType, ObjectClass};

    let mut daemon = Daemon::start();
    let client = daemon.client();
    let (alg, spec) = (AlgorithmSpec::RsaesOaepSha1, WrappingKeySpec::Rsa2048);
    let key = external_key(&client).await;
    let bytes = material();
    let p = params(&client, &key, &alg, &spec).await;
    let material_id = import(&client, &key, &p.token, wrap(&alg, &p.public, &bytes))
        .await
        .expect("import");
    let blob = encrypt(&client, &key, "kept").await;
    client
        .delete_imported_key_material()
        .key_id(&key)
        .send()
        .await
        .expect("delete");

    // What the crash leaves: other material under the material's id, as ours.
    daemon.kill();
    let (_ctx, session) = common::open_token(&daemon);
    let id = uuid::Uuid::parse_str(&material_id).expect("material id");
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(32.into()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Id(id.as_bytes().to_vec()),
        Attribute::Label(format!("hsmkms/{key}/{id}").into_bytes()),
    ];
    session
        .generate_key(&Mechanism::AesKeyGen, &template)
        .expect("stray object");
    daemon.start_again();

    let by_id = [Attribute::Id(id.as_bytes().to_vec())];
    assert!(
        session.find_objects(&by_id).expect("find").is_empty(),
        "start-up left the unverified object in the token"
    );
    let client = daemon.client(); // the restarted daemon listens elsewhere
    let p = params(&client, &key, &alg, &spec).await;
    let again = import(&client, &key, &p.token, wrap(&alg, &p.public, &bytes))
        .await
        .expect("re-import");
    assert_eq!(again, material_id, "{}", daemon.log());
    let out = try_decrypt(&client, blob)
        .await
        .expect("decrypt with the re-imported material");
    assert_eq!(out.plaintext().map(|p| p.as_ref()), Some(&b"kept"[..]));
}

/// Wrapping key pairs take a token session for a long time: at most half the session pool
/// generates at once, and callers beyond that are throttled at once, not queued, while other
/// requests are still served.
#[tokio::test]
async fn concurrent_import_parameter_requests_beyond_half_the_pool_are_throttled() {
    let daemon = Daemon::start();
    let client = daemon.client();
    let keys = [
        external_key(&client).await,
        external_key(&client).await,
        external_key(&client).await,
        external_key(&client).await,
        external_key(&client).await,
        external_key(&client).await,
    ];
    let symmetric = new_key(&client).await;
    let mut asks = tokio::task::JoinSet::new();
    for key in keys {
        let ask = client
            .get_parameters_for_import()
            .key_id(key)
            .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
            .wrapping_key_spec(WrappingKeySpec::Rsa4096);
        asks.spawn(ask.send());
    }
    let served = encrypt(&client, &symmetric, "served meanwhile").await;
    assert!(!served.as_ref().is_empty());
    let answers: Vec<_> = asks.join_all().await;
    let throttled: Vec<_> = answers
        .iter()
        .filter_map(|a| a.as_ref().err())
        .map(|e| {
            assert_eq!(error_code(e), "ThrottlingException", "{e:?}");
            common::error_message(e)
        })
        .collect();
    let issued = answers.iter().filter(|a| a.is_ok()).count();
    assert!((1..=2).contains(&issued), "issued {issued} of 6 at once");
    assert_eq!(throttled.len(), 6 - issued);
    assert!(throttled.iter().all(|m| m == "Rate exceeded"));
}
