//! SIGTERM under load: the daemon stops accepting, finishes the requests in flight, signs
//! the audit log's tail, closes the token and exits 0; every request it answered has its
//! record and `hsmkms audit verify` accepts the log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::SystemTime;

use aws_sdk_kms::operation::RequestId;
use base64::Engine;
use common::{new_key, signed_request, Daemon, DEV_KEY};
use serde_json::Value;

fn records(d: &Daemon) -> Vec<Value> {
    let mut files: Vec<_> = std::fs::read_dir(d.audit_dir())
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

#[tokio::test]
async fn sigterm_finishes_requests_in_flight_and_leaves_a_signed_verifiable_log() {
    let mut d = Daemon::start();
    let client = d.client();
    let key = new_key(&client).await;
    let address = d.endpoint.trim_start_matches("http://").to_owned();

    // One request deterministically in flight: its body is still arriving at SIGTERM.
    let plaintext = base64::engine::general_purpose::STANDARD.encode("in flight");
    let body = serde_json::json!({ "KeyId": key, "Plaintext": plaintext }).to_string();
    let request = signed_request(
        &address,
        Some("TrentService.Encrypt"),
        &body,
        DEV_KEY,
        SystemTime::now(),
        "Connection: close\r\n",
    );
    let (first, rest) = request.split_at(request.len() - 8);
    let mut in_flight = TcpStream::connect(&address).expect("connect");
    in_flight.write_all(first.as_bytes()).expect("write");

    let mut load = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (client, key) = (client.clone(), key.clone());
        load.spawn(async move {
            let mut answered = Vec::new();
            for _ in 0..300 {
                match common::try_encrypt(&client, &key, "x").await {
                    Ok(out) => answered.push(out.request_id().expect("id").to_owned()),
                    Err(_) => break, // the daemon has stopped taking requests
                }
            }
            answered
        });
    }
    while records(&d).len() < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    d.terminate();
    // Once new connections are refused the daemon is shutting down.
    let refused = (0..500).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        TcpStream::connect(&address).is_err()
    });
    assert!(
        refused,
        "the daemon kept accepting connections after SIGTERM"
    );
    in_flight
        .write_all(rest.as_bytes())
        .expect("write the rest");
    let mut response = String::new();
    in_flight.read_to_string(&mut response).expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let in_flight_id = response
        .lines()
        .find_map(|l| {
            l.to_lowercase()
                .strip_prefix("x-amzn-requestid: ")
                .map(str::to_owned)
        })
        .expect("request id");

    let answered: Vec<String> = load.join_all().await.into_iter().flatten().collect();
    d.wait_for_exit();
    let all = records(&d);
    for id in answered.iter().chain([&in_flight_id]) {
        assert!(
            all.iter().any(|r| r["request_id"] == id.as_str()),
            "request {id} was answered but has no record"
        );
    }
    assert_eq!(all.last().expect("records")["type"], "checkpoint");
    let (code, out) = d.tool(&["audit", "verify", d.audit_dir().to_str().expect("path")]);
    assert_eq!(code, 0, "{out}");
    let log = d.log();
    assert!(log.contains("audit log closed"), "{log}");
    assert!(log.contains("module finalized"), "{log}");
}
