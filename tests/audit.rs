//! The audit log as an auditor and an operator see it: every request recorded without its
//! secrets, a chain `hsmkms audit verify` checks against the token, every kind of tampering
//! caught, no acknowledged record lost to SIGKILL, and requests refused while records
//! cannot be written.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::path::{Path, PathBuf};

use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::primitives::Blob;
use base64::Engine;
use common::{context, error_code, new_key, Daemon, APP_KEY, APP_PRINCIPAL, DEV_PRINCIPAL};
use serde_json::Value;

const SECRET: &str = "audit must never hold this plaintext";

/// Every record of the log, in order, parsed.
fn records(dir: &Path) -> Vec<Value> {
    lines(dir)
        .iter()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("audit dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
}

fn lines(dir: &Path) -> Vec<String> {
    files(dir)
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).expect("audit file");
            text.lines().map(str::to_owned).collect::<Vec<_>>()
        })
        .collect()
}

fn request(records: &[Value], request_id: &str) -> Value {
    records
        .iter()
        .find(|r| r["request_id"] == request_id)
        .unwrap_or_else(|| panic!("no record of request {request_id}"))
        .clone()
}

#[tokio::test]
async fn every_request_is_recorded_without_its_secrets_and_the_chain_verifies() {
    let mut d = Daemon::start();
    let (admin, app) = (d.client(), d.client_as(APP_KEY));
    let key = new_key(&admin).await;
    let encrypted = admin
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(SECRET))
        .set_encryption_context(Some(context(&[("tenant", "blue")])))
        .send()
        .await
        .expect("Encrypt");
    let blob = encrypted.ciphertext_blob().expect("blob").clone();
    let decrypted = admin
        .decrypt()
        .ciphertext_blob(blob.clone())
        .set_encryption_context(Some(context(&[("tenant", "blue")])))
        .send()
        .await
        .expect("Decrypt");
    let denied = app
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .expect_err("the app may not describe the key");
    assert_eq!(error_code(&denied), "AccessDeniedException");
    d.stop();

    let (code, out) = d.tool(&["audit", "verify", d.audit_dir().to_str().expect("path")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ok: "), "{out}");

    let all = records(&d.audit_dir());
    let arn = d.key_arn(&key);
    let enc = request(&all, encrypted.request_id().expect("request id"));
    assert_eq!(enc["operation"], "TrentService.Encrypt");
    assert_eq!(enc["principal"], DEV_PRINCIPAL);
    assert_eq!(enc["access_key_id"], common::DEV_KEY.0);
    assert_eq!(enc["outcome"], "Success");
    assert_eq!(enc["key_arn"], arn.as_str());
    assert!(enc["key_material_id"].is_string());
    assert_eq!(enc["parameters"]["EncryptionContext"]["tenant"], "blue");
    assert_eq!(enc["parameters"]["KeyId"], key.as_str());
    assert!(enc["source"]
        .as_str()
        .is_some_and(|s| s.starts_with("127.0.0.1:")));
    let dec = request(&all, decrypted.request_id().expect("request id"));
    assert_eq!(dec["key_arn"], arn.as_str());
    let refused = request(&all, denied.request_id().expect("request id"));
    assert_eq!(refused["outcome"], "Failure");
    assert_eq!(refused["error_type"], "AccessDeniedException");
    assert_eq!(refused["principal"], APP_PRINCIPAL);

    let text = lines(&d.audit_dir()).join("\n");
    let b64 = base64::engine::general_purpose::STANDARD;
    for secret in [
        SECRET.to_owned(),
        b64.encode(SECRET),
        b64.encode(blob.as_ref()),
    ] {
        assert!(!text.contains(&secret), "the audit log holds a secret");
    }
    assert!(all.iter().any(|r| r["type"] == "checkpoint"));
    assert_eq!(all.last().expect("records")["type"], "checkpoint");
}

/// A clean log, then one copy per kind of tampering; `verify` names the first record hurt.
#[tokio::test]
async fn verify_catches_every_kind_of_tampering_with_its_sequence_number() {
    let mut d = Daemon::start();
    let client = d.client();
    let key = new_key(&client).await;
    for _ in 0..5 {
        common::encrypt(&client, &key, "x").await;
    }
    d.stop();
    let original = lines(&d.audit_dir());
    let seq_of = |i: usize| -> u64 {
        serde_json::from_str::<Value>(&original[i]).expect("record")["seq"]
            .as_u64()
            .expect("seq")
    };
    let n = original.len();
    let mid = (n / 2..n)
        .find(|i| original[*i].contains("\"type\":\"request\""))
        .expect("a request record in the second half");
    let mut cases: Vec<(&str, Vec<String>, String)> = Vec::new();
    let mut edited = original.clone();
    edited[mid] = edited[mid].replace("TrentService.", "TrentService.X");
    cases.push(("edited", edited, format!("record {}", seq_of(mid + 1))));
    let mut deleted = original.clone();
    deleted.remove(mid);
    cases.push((
        "deleted",
        deleted,
        format!("record {} is missing", seq_of(mid)),
    ));
    let mut inserted = original.clone();
    inserted.insert(mid, original[mid - 1].clone());
    cases.push(("inserted", inserted, format!("record {}", seq_of(mid - 1))));
    let mut reordered = original.clone();
    reordered.swap(mid, mid + 1);
    cases.push((
        "reordered",
        reordered,
        format!("record {} is missing", seq_of(mid)),
    ));
    let mut unsigned = original.clone();
    unsigned.pop();
    cases.push(("unsigned tail", unsigned, "unsigned tail".to_owned()));
    let mut forged = original.clone();
    let last: Value = serde_json::from_str(&original[n - 1]).expect("checkpoint");
    let mac = last["mac"].as_str().expect("mac");
    let flipped = if mac.starts_with('0') { "1" } else { "0" };
    forged[n - 1] = original[n - 1].replace(mac, &format!("{flipped}{}", &mac[1..]));
    cases.push((
        "forged checkpoint",
        forged,
        format!("checkpoint {} is not signed", seq_of(n - 1)),
    ));

    for (case, lines, expected) in cases {
        write_log(&d.audit_dir(), &lines, false);
        let (code, out) = d.tool(&["audit", "verify", d.audit_dir().to_str().expect("path")]);
        assert_eq!(code, 1, "{case}: {out}");
        assert!(
            out.contains(&expected),
            "{case}: expected {expected:?} in {out}"
        );
    }
    let mut cut = original.clone();
    let half = cut[n - 1].len() / 2;
    cut[n - 1].truncate(half);
    write_log(&d.audit_dir(), &cut, true);
    let (code, out) = d.tool(&["audit", "verify", d.audit_dir().to_str().expect("path")]);
    assert_eq!(code, 1, "truncated: {out}");
    assert!(out.contains("not a complete record"), "truncated: {out}");

    write_log(&d.audit_dir(), &original, false);
    let (code, out) = d.tool(&["audit", "verify", d.audit_dir().to_str().expect("path")]);
    assert_eq!(code, 0, "restored: {out}");
}

/// Replaces the log with one file holding `lines`; the last without its newline if `cut`.
fn write_log(dir: &Path, lines: &[String], cut: bool) {
    for file in files(dir) {
        std::fs::remove_file(file).expect("remove");
    }
    let mut text = lines.join("\n");
    if !cut {
        text.push('\n');
    }
    std::fs::write(dir.join("audit-00000000000000000001.jsonl"), text).expect("write");
}

/// Killed with SIGKILL under load, the daemon has a record of every request it answered;
/// started again, it continues the chain and signs the tail it finds.
#[tokio::test]
async fn sigkill_under_load_loses_no_acknowledged_record() {
    let mut d = Daemon::start();
    let client = d.client();
    let key = new_key(&client).await;
    let mut load = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (client, key) = (client.clone(), key.clone());
        load.spawn(async move {
            let mut answered = Vec::new();
            for _ in 0..400 {
                match common::try_encrypt(&client, &key, "x").await {
                    Ok(out) => answered.push(out.request_id().expect("id").to_owned()),
                    Err(_) => break, // the daemon is gone
                }
            }
            answered
        });
    }
    // Kill once some requests are answered, while the others are in flight.
    while lines(&d.audit_dir()).len() < 200 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    d.kill();
    let answered: Vec<String> = load.join_all().await.into_iter().flatten().collect();
    assert!(!answered.is_empty());
    let all = records(&d.audit_dir());
    for id in &answered {
        assert!(
            all.iter().any(|r| r["request_id"] == id.as_str()),
            "request {id} was answered but has no record"
        );
    }

    d.start_again();
    common::encrypt(&d.client(), &key, "after the crash").await;
    d.stop();
    let (code, out) = d.tool(&["audit", "verify", d.audit_dir().to_str().expect("path")]);
    assert_eq!(code, 0, "{out}");
}

/// While records cannot be written the daemon serves nothing (KMSInternalException), and
/// serves again once they can; nothing is missing from the chain.
#[tokio::test]
async fn requests_fail_closed_while_the_audit_log_cannot_be_written() {
    let mut d = Daemon::start();
    let client = d.client();
    let key = new_key(&client).await;
    let file = files(&d.audit_dir()).pop().expect("audit file");
    let aside = file.with_extension("aside");
    std::fs::rename(&file, &aside).expect("move the file away");
    std::os::unix::fs::symlink("/dev/full", &file).expect("symlink /dev/full");

    for _ in 0..2 {
        let refused = common::try_encrypt(&client, &key, "x")
            .await
            .expect_err("an unaudited request was served");
        assert_eq!(error_code(&refused), "KMSInternalException");
    }

    std::fs::remove_file(&file).expect("remove symlink");
    std::fs::rename(&aside, &file).expect("put the file back");
    let served = common::try_encrypt(&client, &key, "x").await;
    // The first request after repair may be the one that finds the log writable again.
    if served.is_err() {
        common::try_encrypt(&client, &key, "x")
            .await
            .expect("served again once records can be written");
    }
    d.stop();
    let (code, out) = d.tool(&["audit", "verify", d.audit_dir().to_str().expect("path")]);
    assert_eq!(code, 0, "{out}");
}

/// Concurrent requests share one write (and its fsync); a request served alone is written
/// at once. The commit delay here is far longer than the test may take, so a write that
/// waited for it instead of for the requests in progress would show.
#[tokio::test]
async fn concurrent_requests_share_a_write_and_a_lone_one_is_not_delayed() {
    let d = Daemon::start_with_env(&[("HSMKMS__AUDIT__COMMIT_DELAY_MICROS", "60000000")]);
    let client = d.client();
    let key = new_key(&client).await;
    let started = std::time::Instant::now();
    common::encrypt(&client, &key, "alone").await;
    let writes_before = writes(&d);
    let mut load = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (client, key) = (client.clone(), key.clone());
        load.spawn(async move { common::encrypt(&client, &key, "together").await });
    }
    load.join_all().await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "a write waited for the commit delay: {:?}",
        started.elapsed()
    );
    let writes = writes(&d) - writes_before;
    assert!(writes < 16.0, "16 concurrent requests took {writes} writes");
    let recorded = records(&d.audit_dir())
        .iter()
        .filter(|r| r["operation"] == "TrentService.Encrypt")
        .count();
    assert_eq!(recorded, 17);
}

/// The audit writes made so far, from the operator's metrics.
fn writes(d: &Daemon) -> f64 {
    let address = d.endpoint.trim_start_matches("http://");
    common::sample(
        &common::get(address, "/metrics").2,
        "hsmkms_audit_batch_records_count",
    )
}
