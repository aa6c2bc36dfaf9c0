//! Cloud KMS crypto key versions against the state table of seed 004, cell by cell, with the
//! injected clock: use, enable, disable, destroy and restore in every state a client can
//! reach; DESTROYED removes the token object and keeps the metadata.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::Daemon;
use cryptoki::object::{Attribute, ObjectClass};
use serde_json::{json, Value};

const RING: &str = "projects/p1/locations/global/keyRings/states";
const DAY: i64 = 86_400;

/// The operations of the table.
const OPS: [&str; 6] = [
    "encrypt", "decrypt", "enable", "disable", "destroy", "restore",
];

/// What each operation answers in each state: the state after, or "refused".
fn expected(state: &str, op: &str) -> &'static str {
    match (state, op) {
        ("ENABLED", "encrypt" | "decrypt" | "enable") => "ENABLED",
        ("ENABLED" | "DISABLED", "disable") => "DISABLED",
        ("DISABLED", "enable") => "ENABLED",
        ("ENABLED" | "DISABLED", "destroy") => "DESTROY_SCHEDULED",
        ("DESTROY_SCHEDULED", "restore") => "DISABLED",
        _ => "refused",
    }
}

fn ok(answer: (u16, Value)) -> Value {
    assert_eq!(answer.0, 200, "{}", answer.1);
    answer.1
}

struct Keys<'a> {
    daemon: &'a Daemon,
    count: usize,
}

/// A version put into a state, with a ciphertext it made while it was enabled.
struct Version {
    name: String,
    key: String,
    ciphertext: String,
}

impl<'a> Keys<'a> {
    /// Keys in a new key ring of `daemon`.
    fn in_new_ring(daemon: &'a Daemon) -> Keys<'a> {
        let path = "/v1/projects/p1/locations/global/keyRings?keyRingId=states";
        ok(daemon.cloud("POST", path, "{}"));
        Keys { daemon, count: 0 }
    }

    fn call(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        self.daemon
            .cloud(method, &format!("/v1/{path}"), &body.to_string())
    }

    /// A new crypto key whose version 1 is enabled, destroyed after `destroy_days`.
    fn version(&mut self, destroy_days: i64) -> Version {
        self.count += 1;
        let id = format!("k{}", self.count);
        let body = json!({"purpose": "ENCRYPT_DECRYPT", "destroyScheduledDuration": format!("{}s", destroy_days * DAY)});
        ok(self.call("POST", &format!("{RING}/cryptoKeys?cryptoKeyId={id}"), body));
        let key = format!("{RING}/cryptoKeys/{id}");
        let name = format!("{key}/cryptoKeyVersions/1");
        let sealed = ok(self.call(
            "POST",
            &format!("{name}:encrypt"),
            json!({"plaintext": "AQID"}),
        ));
        Version {
            name,
            key,
            ciphertext: sealed["ciphertext"]
                .as_str()
                .expect("ciphertext")
                .to_owned(),
        }
    }

    fn to_state(&self, version: &Version, state: &str) {
        let name = &version.name;
        let change = |op: &str| ok(self.apply(version, op));
        match state {
            "ENABLED" | "DESTROYED" => {}
            "DISABLED" => drop(change("disable")),
            "DESTROY_SCHEDULED" => drop(change("destroy")),
            other => panic!("no way to {other} for {name}"),
        }
    }

    fn apply(&self, version: &Version, op: &str) -> (u16, Value) {
        let name = &version.name;
        match op {
            "encrypt" => self.call(
                "POST",
                &format!("{name}:encrypt"),
                json!({"plaintext": "AQID"}),
            ),
            "decrypt" => self.call(
                "POST",
                &format!("{}:decrypt", version.key),
                json!({"ciphertext": version.ciphertext}),
            ),
            "enable" | "disable" => {
                let state = if op == "enable" {
                    "ENABLED"
                } else {
                    "DISABLED"
                };
                self.call(
                    "PATCH",
                    &format!("{name}?updateMask=state"),
                    json!({"state": state}),
                )
            }
            "destroy" | "restore" => self.call("POST", &format!("{name}:{op}"), json!({})),
            other => panic!("unknown op {other}"),
        }
    }

    fn state(&self, version: &Version) -> String {
        let shown = ok(self.call("GET", &version.name, json!({})));
        shown["state"].as_str().expect("state").to_owned()
    }
}

fn secret_keys(session: &cryptoki::session::Session) -> usize {
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::Token(true),
    ];
    session.find_objects(&template).expect("find").len()
}

#[test]
fn every_cell_of_the_version_state_table() {
    let daemon = Daemon::start_with_dev_clock();
    let mut keys = Keys::in_new_ring(&daemon);
    // DESTROYED versions first: a one-day schedule, then the clock moves a day.
    let destroyed: Vec<(&str, Version)> = OPS.iter().map(|op| (*op, keys.version(1))).collect();
    for (_, version) in &destroyed {
        keys.to_state(version, "DESTROY_SCHEDULED");
        let shown = ok(keys.call("GET", &version.name, json!({})));
        assert!(shown["destroyTime"].is_string(), "{shown}");
    }
    let (_ctx, session) = common::open_token(&daemon);
    let before = secret_keys(&session);
    daemon.advance_clock(DAY + 1);
    assert_eq!(
        secret_keys(&session),
        before - OPS.len(),
        "destroyed versions' objects are gone"
    );
    let mut cells = Vec::new();
    for (op, version) in &destroyed {
        assert_eq!(keys.state(version), "DESTROYED");
        cells.push(("DESTROYED", *op, version));
    }
    let mut others = Vec::new();
    for state in ["ENABLED", "DISABLED", "DESTROY_SCHEDULED"] {
        for op in OPS {
            let version = keys.version(30);
            keys.to_state(&version, state);
            assert_eq!(keys.state(&version), state);
            others.push((state, op, version));
        }
    }
    cells.extend(others.iter().map(|(s, o, v)| (*s, *o, v)));
    for (state, op, version) in cells {
        let answer = keys.apply(version, op);
        match expected(state, op) {
            "refused" => {
                assert_eq!(answer.0, 400, "{op} in {state}: {}", answer.1);
                assert_eq!(
                    answer.1["error"]["status"], "FAILED_PRECONDITION",
                    "{op} in {state}"
                );
                assert_eq!(
                    keys.state(version),
                    state,
                    "{op} in {state} changed nothing"
                );
            }
            after => {
                assert_eq!(answer.0, 200, "{op} in {state}: {}", answer.1);
                assert_eq!(keys.state(version), after, "{op} in {state}");
            }
        }
    }
    // A restored version keeps its material: enabled again, it decrypts what it made.
    let version = keys.version(30);
    keys.to_state(&version, "DESTROY_SCHEDULED");
    ok(keys.apply(&version, "restore"));
    ok(keys.apply(&version, "enable"));
    let opened = ok(keys.apply(&version, "decrypt"));
    assert_eq!(
        STANDARD
            .decode(opened["plaintext"].as_str().unwrap())
            .unwrap(),
        [1, 2, 3]
    );
    let listed = ok(keys.call(
        "GET",
        &format!(
            "{}/cryptoKeyVersions?filter=state%3DDESTROYED",
            destroyed[0].1.key
        ),
        json!({}),
    ));
    assert_eq!(listed["cryptoKeyVersions"][0]["name"], destroyed[0].1.name);
}

#[test]
fn new_versions_and_the_primary_version() {
    let daemon = Daemon::start();
    let mut keys = Keys::in_new_ring(&daemon);
    let first = keys.version(30);
    let second = ok(keys.call(
        "POST",
        &format!("{}/cryptoKeyVersions", first.key),
        json!({}),
    ));
    let second_name = second["name"].as_str().unwrap().to_owned();
    assert_eq!(second_name, format!("{}/cryptoKeyVersions/2", first.key));
    let sealed = ok(keys.call(
        "POST",
        &format!("{}:encrypt", first.key),
        json!({"plaintext": "AQID"}),
    ));
    assert_eq!(sealed["name"], first.name, "version 1 stays primary");
    let body = json!({"cryptoKeyVersionId": "2"});
    let key = ok(keys.call("POST", &format!("{}:updatePrimaryVersion", first.key), body));
    assert_eq!(key["primary"]["name"], second_name);
    let sealed = ok(keys.call(
        "POST",
        &format!("{}:encrypt", first.key),
        json!({"plaintext": "AQID"}),
    ));
    assert_eq!(sealed["name"], second_name);
    // Version 1 still decrypts its own ciphertexts, not as primary.
    let opened = ok(keys.apply(&first, "decrypt"));
    assert_eq!(opened["usedPrimary"], false);
    let missing = json!({"cryptoKeyVersionId": "9"});
    let answer = keys.call(
        "POST",
        &format!("{}:updatePrimaryVersion", first.key),
        missing,
    );
    assert_eq!(answer.0, 404, "{}", answer.1);
}

#[test]
fn rotation_schedules_make_new_primary_versions() {
    let daemon = Daemon::start_with_dev_clock();
    let keys = Keys::in_new_ring(&daemon);
    let soon = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let soon = soon
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let body = json!({"purpose": "ENCRYPT_DECRYPT", "rotationPeriod": "864000s", "nextRotationTime": soon});
    let created = ok(keys.call("POST", &format!("{RING}/cryptoKeys?cryptoKeyId=rot"), body));
    assert_eq!(created["rotationPeriod"], "864000s");
    assert!(created["nextRotationTime"].is_string(), "{created}");
    let key = format!("{RING}/cryptoKeys/rot");
    daemon.advance_clock(2 * 3600);
    let rotated = ok(keys.call("GET", &key, json!({})));
    assert_eq!(
        rotated["primary"]["name"],
        format!("{key}/cryptoKeyVersions/2")
    );
    // Turned off through updateMask: no schedule any more.
    let path = format!("{key}?updateMask=rotationPeriod,nextRotationTime");
    let off = ok(keys.call("PATCH", &path, json!({})));
    assert!(off["rotationPeriod"].is_null(), "{off}");
    let hours =
        json!({"purpose": "ENCRYPT_DECRYPT", "rotationPeriod": "3600s", "nextRotationTime": soon});
    let refused = keys.call(
        "POST",
        &format!("{RING}/cryptoKeys?cryptoKeyId=rot2"),
        hours,
    );
    assert_eq!(refused.0, 400, "{}", refused.1);
}
