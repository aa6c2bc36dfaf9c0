//! The daemon's logs never hold a secret: a full run at the most verbose level (start-up,
//! every data operation, an import, a refused signature, shutdown) is searched for the PIN,
//! the secret access keys, and every plaintext, data key and random byte string the run
//! handled, raw, in base64 and in hex.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{AlgorithmSpec, ExpirationModelType, WrappingKeySpec};
use base64::Engine;
use common::{external_key, new_key, Daemon, APP_KEY, CLOCK_KEY, DEV_KEY, USER_PIN};
use rsa::pkcs8::DecodePublicKey;
use rsa::rand_core::OsRng;
use rsa::{Oaep, RsaPublicKey};

const PLAINTEXT: &[u8] = b"log-grep plaintext: never in any log line";

/// The forms a byte string could take in a log line.
fn forms(bytes: &[u8]) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut forms = vec![b64.encode(bytes), hex.to_uppercase(), hex];
    forms.extend(std::str::from_utf8(bytes).ok().map(str::to_owned));
    // A debug-printed byte array, as `{:?}` of a Vec<u8> shows it.
    forms.push(
        format!("{:?}", &bytes[..bytes.len().min(8)])
            .trim_end_matches(']')
            .to_owned(),
    );
    forms
}

#[tokio::test]
async fn a_full_run_logs_no_pin_secret_plaintext_or_key_bytes() {
    let mut d = Daemon::start_with_dev_clock();
    d.set_env("RUST_LOG", "trace");
    d.stop();
    d.start_again();
    let client = d.client();
    let mut secrets: Vec<Vec<u8>> = vec![
        USER_PIN.into(),
        DEV_KEY.1.into(),
        APP_KEY.1.into(),
        CLOCK_KEY.1.into(),
        PLAINTEXT.into(),
    ];

    let key = new_key(&client).await;
    let blob = common::encrypt(&client, &key, PLAINTEXT).await;
    assert_eq!(common::decrypt(&client, blob.clone()).await, PLAINTEXT);
    let other = new_key(&client).await;
    client
        .re_encrypt()
        .ciphertext_blob(blob)
        .destination_key_id(&other)
        .send()
        .await
        .expect("ReEncrypt");
    let data_key = client
        .generate_data_key()
        .key_id(&key)
        .number_of_bytes(32)
        .send()
        .await
        .expect("GenerateDataKey");
    secrets.push(data_key.plaintext().expect("plaintext").as_ref().to_vec());
    let random = client
        .generate_random()
        .number_of_bytes(32)
        .send()
        .await
        .expect("GenerateRandom");
    secrets.push(random.plaintext().expect("random").as_ref().to_vec());

    let imported = external_key(&client).await;
    let params = client
        .get_parameters_for_import()
        .key_id(&imported)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha1)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .expect("GetParametersForImport");
    let public = RsaPublicKey::from_public_key_der(params.public_key().expect("key").as_ref())
        .expect("SubjectPublicKeyInfo");
    let material: Vec<u8> = (0u8..32)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    let wrapped = public
        .encrypt(&mut OsRng, Oaep::new::<sha1::Sha1>(), &material)
        .expect("wrap");
    client
        .import_key_material()
        .key_id(&imported)
        .import_token(params.import_token().expect("token").clone())
        .encrypted_key_material(Blob::new(wrapped))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .expect("ImportKeyMaterial");
    secrets.push(material);

    // A signature made with a wrong secret is refused; the secret tried is not logged.
    let wrong = (DEV_KEY.0, "wrongSecretThatMustNotBeLoggedEXAMPLE000");
    secrets.push(wrong.1.into());
    assert!(d.client_as(wrong).list_keys().send().await.is_err());
    d.advance_clock(60);
    d.stop();

    let log = d.log();
    assert!(
        log.contains(" DEBUG ") && log.contains(&key),
        "not the log of a verbose run"
    );
    for secret in &secrets {
        for form in forms(secret) {
            assert!(
                !log.contains(&form),
                "the log holds a secret in the form {form:?}"
            );
        }
    }
}
