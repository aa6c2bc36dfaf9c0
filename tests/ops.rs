//! The operator's endpoints over HTTP: `/metrics` in Prometheus text format with every
//! instrument and no key data, `/healthz`, `/readyz` following the audit log's health, and
//! all three on a separate address when `server.ops_listen` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use common::{error_code, get, new_key, sample, Daemon};

fn api(daemon: &Daemon) -> String {
    daemon.endpoint.trim_start_matches("http://").to_owned()
}

#[tokio::test]
async fn metrics_health_and_readiness_are_served_without_authentication() {
    let d = Daemon::start();
    let client = d.client();
    let key = new_key(&client).await;
    for _ in 0..3 {
        common::encrypt(&client, &key, "metered").await;
    }
    let (status, _, _) =
        d.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
    assert_eq!(status, 400, "an unsigned request");

    assert_eq!(get(&api(&d), "/healthz").0, 200);
    let (status, _, body) = get(&api(&d), "/readyz");
    assert_eq!(status, 200, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        ready,
        serde_json::json!({"ready": true, "token": "ok", "sidecar": "ok", "audit_log": "ok"})
    );

    let (status, content_type, m) = get(&api(&d), "/metrics");
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let encrypts = r#"hsmkms_requests_total{operation="Encrypt",outcome="Success"}"#;
    assert_eq!(sample(&m, encrypts), 3.0);
    assert_eq!(
        sample(
            &m,
            r#"hsmkms_requests_total{operation="unauthenticated",outcome="MissingAuthenticationTokenException"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            r#"hsmkms_request_duration_seconds_count{operation="Encrypt"}"#
        ),
        3.0
    );
    assert_eq!(
        sample(
            &m,
            r#"hsmkms_pkcs11_call_duration_seconds_count{function="encrypt"}"#
        ),
        3.0
    );
    assert_eq!(
        sample(
            &m,
            r#"hsmkms_pkcs11_call_duration_seconds_count{function="generate_key"}"#
        ),
        1.0
    );
    assert_eq!(sample(&m, "hsmkms_session_pool_size"), 2.0);
    assert_eq!(sample(&m, "hsmkms_session_pool_in_use"), 0.0);
    assert_eq!(sample(&m, "hsmkms_session_pool_waiting"), 0.0);
    assert!(sample(&m, "hsmkms_audit_write_duration_seconds_count") >= 5.0);
    assert!(sample(&m, "hsmkms_audit_batch_records_sum") >= 5.0);
    assert_eq!(sample(&m, "hsmkms_audit_log_writable"), 1.0);
    assert_eq!(sample(&m, "hsmkms_token_available"), 1.0);
    assert_eq!(sample(&m, "hsmkms_token_recoveries_total"), 0.0);
    assert_eq!(sample(&m, r#"hsmkms_keys{state="Enabled"}"#), 1.0);
    assert!(sample(&m, "hsmkms_scheduler_runs_total") >= 1.0);
    assert!(
        m.contains(r#"hsmkms_request_duration_seconds_bucket{le="+Inf",operation="Encrypt"}"#)
            || m.contains(
                r#"hsmkms_request_duration_seconds_bucket{operation="Encrypt",le="+Inf"}"#
            ),
        "{m}"
    );
    assert!(!m.contains(&key), "metrics name no key");
}

#[tokio::test]
async fn readiness_is_false_while_audit_records_cannot_be_written() {
    let d = Daemon::start();
    let client = d.client();
    let key = new_key(&client).await;
    let file = audit_file(&d);
    let aside = file.with_extension("aside");
    std::fs::rename(&file, &aside).expect("move the file away");
    std::os::unix::fs::symlink("/dev/full", &file).expect("symlink /dev/full");
    let refused = common::try_encrypt(&client, &key, "x")
        .await
        .expect_err("unaudited");
    assert_eq!(error_code(&refused), "KMSInternalException");

    let (status, _, body) = get(&api(&d), "/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(r#""audit_log":"failing""#), "{body}");
    let (_, _, m) = get(&api(&d), "/metrics");
    assert_eq!(sample(&m, "hsmkms_audit_log_writable"), 0.0);
    assert_eq!(
        sample(
            &m,
            r#"hsmkms_requests_total{operation="Encrypt",outcome="KMSInternalException"}"#
        ),
        1.0
    );

    // Repaired, the log finds out by itself (it retries while failing), with no request.
    std::fs::remove_file(&file).expect("remove symlink");
    std::fs::rename(&aside, &file).expect("put the file back");
    let ready = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        get(&api(&d), "/readyz").0 == 200
    });
    assert!(ready, "readiness did not return");
    common::encrypt(&client, &key, "served again").await;
}

fn audit_file(d: &Daemon) -> std::path::PathBuf {
    let mut files: Vec<_> = std::fs::read_dir(d.audit_dir())
        .expect("audit dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files.pop().expect("an audit file")
}

#[tokio::test]
async fn a_separate_ops_address_serves_them_and_the_api_address_does_not() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("free port")
        .local_addr()
        .expect("address")
        .port();
    let ops = format!("127.0.0.1:{port}");
    let d = Daemon::start_with_server_settings(&format!("ops_listen = \"{ops}\""));
    assert_eq!(get(&ops, "/healthz").0, 200);
    assert_eq!(get(&ops, "/readyz").0, 200);
    let (status, _, m) = get(&ops, "/metrics");
    assert_eq!(status, 200);
    assert!(m.contains("hsmkms_session_pool_size 2"), "{m}");
    assert_eq!(get(&ops, "/").0, 404);
    let (status, _, body) = get(&api(&d), "/metrics");
    assert_ne!(status, 200, "{body}");
    assert!(!body.contains("hsmkms_"), "{body}");
}
