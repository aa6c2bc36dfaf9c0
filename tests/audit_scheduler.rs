//! What the scheduler changes by itself is in the audit log: deletion at the end of the
//! waiting period, automatic rotation, expiry of imported material and of import
//! parameters, each with the state before and after and its trigger; the chain still
//! verifies against the token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::primitives::{Blob, DateTime};
use aws_sdk_kms::types::{AlgorithmSpec, ExpirationModelType, WrappingKeySpec};
use aws_sdk_kms::Client;
use common::{
    current_material, external_key, new_key, now_seconds, schedule_deletion, Daemon, DAY,
};
use rsa::pkcs8::DecodePublicKey;
use rsa::rand_core::OsRng;
use rsa::{Oaep, RsaPublicKey};
use serde_json::Value;

/// GetParametersForImport (RSA-OAEP SHA-1, RSA 2048): the public key and the token.
async fn parameters(client: &Client, key: &str) -> (Vec<u8>, Blob) {
    let out = client
        .get_parameters_for_import()
        .key_id(key)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha1)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .expect("GetParametersForImport");
    let public = out.public_key().expect("public key").as_ref().to_vec();
    (public, out.import_token().expect("token").clone())
}

/// Imports fresh material into `key`, valid until `valid_to`; its material id.
async fn import_expiring(client: &Client, key: &str, valid_to: i64) -> String {
    let (public, token) = parameters(client, key).await;
    let public = RsaPublicKey::from_public_key_der(&public).expect("SubjectPublicKeyInfo");
    let wrapped = public
        .encrypt(&mut OsRng, Oaep::new::<sha1::Sha1>(), &[7u8; 32])
        .expect("wrap");
    let out = client
        .import_key_material()
        .key_id(key)
        .import_token(token)
        .encrypted_key_material(Blob::new(wrapped))
        .expiration_model(ExpirationModelType::KeyMaterialExpires)
        .valid_to(DateTime::from_secs(valid_to))
        .send()
        .await
        .expect("ImportKeyMaterial");
    out.key_material_id().expect("material id").to_owned()
}

/// Every record of the log, in order.
fn records(daemon: &Daemon) -> Vec<Value> {
    let mut files: Vec<_> = std::fs::read_dir(daemon.audit_dir())
        .expect("audit dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).expect("audit file");
            let lines: Vec<Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).expect("record"))
                .collect();
            lines
        })
        .collect()
}

/// The one state-change record of `change` on `arn`.
fn change<'a>(all: &'a [Value], what: &str, arn: &str) -> &'a Value {
    let found: Vec<&Value> = all
        .iter()
        .filter(|r| r["type"] == "state_change" && r["change"] == what && r["key_arn"] == arn)
        .collect();
    assert_eq!(found.len(), 1, "{what} of {arn}: {found:?}");
    found[0]
}

#[tokio::test]
async fn scheduled_state_changes_are_audited_and_the_chain_verifies() {
    let mut d = Daemon::start_with_dev_clock();
    let client = d.client();
    let doomed = new_key(&client).await;
    schedule_deletion(&client, &doomed).await;
    let rotating = new_key(&client).await;
    client
        .enable_key_rotation()
        .key_id(&rotating)
        .rotation_period_in_days(90)
        .send()
        .await
        .expect("EnableKeyRotation");
    let first_material = current_material(&client, &rotating).await;
    let imported = external_key(&client).await;
    let material = import_expiring(&client, &imported, now_seconds() + 2 * DAY).await;
    let waiting = external_key(&client).await;
    parameters(&client, &waiting).await; // valid for 24 hours, never used

    d.advance_clock(91 * DAY);
    let rotated_to = current_material(&client, &rotating).await;
    assert_ne!(rotated_to, first_material);
    d.stop();
    let (code, out) = d.tool(&["audit", "verify", d.audit_dir().to_str().expect("path")]);
    assert_eq!(code, 0, "{out}");

    let all = records(&d);
    let expect = |what: &str, key: &str, from: &str, to: &str, subject: Option<&str>| {
        let record = change(&all, what, &d.key_arn(key));
        assert_eq!(
            (record["from_state"].as_str(), record["to_state"].as_str()),
            (Some(from), Some(to)),
            "{what}: {record}"
        );
        let trigger = record["trigger"].as_str().unwrap_or_default();
        assert!(trigger.starts_with("scheduler: "), "{what}: {record}");
        if let Some(subject) = subject {
            assert_eq!(record["subject_id"], subject, "{what}: {record}");
        }
        record["seq"].as_u64().expect("seq")
    };
    let seqs = [
        expect("KeyDeleted", &doomed, "PendingDeletion", "Deleted", None),
        expect(
            "KeyRotated",
            &rotating,
            "Enabled",
            "Enabled",
            Some(&rotated_to),
        ),
        expect(
            "KeyMaterialExpired",
            &imported,
            "Enabled",
            "PendingImport",
            Some(&material),
        ),
        expect(
            "ImportParametersExpired",
            &waiting,
            "ACTIVE",
            "EXPIRED",
            None,
        ),
    ];
    // The changes happened while the clock was being moved: before that request's record.
    let advanced = all
        .iter()
        .find(|r| r["operation"] == "HsmKmsDev.AdvanceClock")
        .expect("the AdvanceClock record");
    let advanced_seq = advanced["seq"].as_u64().expect("seq");
    assert!(
        seqs.iter().all(|s| *s < advanced_seq),
        "{seqs:?} {advanced_seq}"
    );
}
