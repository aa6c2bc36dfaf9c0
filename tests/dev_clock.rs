//! The development clock: only `dev.clock_principal` moves it, forward only, at most ten
//! years a call, never past what the clock can count; and the settings it needs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use serde_json::json;

use common::{start_refused, Daemon, CLOCK_KEY, DEV_KEY, DEV_PRINCIPAL, VALIDATION};

const ADVANCE: &str = "HsmKmsDev.AdvanceClock";
const TEN_YEARS: i64 = 10 * 365 * 86_400;

/// The (`__type`, `message`) of an AdvanceClock by `seconds` signed with `key`, asserting
/// HTTP 400.
fn refused(d: &Daemon, key: common::AccessKey, seconds: i64) -> (String, String) {
    let body = json!({ "Seconds": seconds }).to_string();
    let (status, answer, _) = d.raw_as(key, Some(ADVANCE), &body);
    assert_eq!(status, 400, "{answer}");
    (
        answer["__type"].as_str().unwrap_or_default().to_owned(),
        answer["message"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn only_the_clock_principal_moves_the_clock() {
    let d = Daemon::start_with_dev_clock();
    let (type_name, message) = refused(&d, DEV_KEY, 60);
    assert_eq!(
        (type_name.as_str(), message.as_str()),
        (
            "AccessDeniedException",
            format!("User: {DEV_PRINCIPAL} is not authorized to perform: hsmkms-dev:AdvanceClock because only dev.clock_principal may move the clock").as_str()
        ),
        "an admin principal may not move it"
    );
    d.advance_clock(60);
}

#[test]
fn steps_are_forward_and_at_most_ten_years() {
    let d = Daemon::start_with_dev_clock();
    d.advance_clock(TEN_YEARS);
    for seconds in [-1, TEN_YEARS + 1, i64::MAX, i64::MIN] {
        let (type_name, message) = refused(&d, CLOCK_KEY, seconds);
        assert_eq!(
            (type_name.as_str(), message.as_str()),
            (
                VALIDATION,
                format!(
                    "The clock moves forward by 0 to {TEN_YEARS} seconds at a time, not {seconds}."
                )
                .as_str()
            )
        );
    }
}

#[test]
fn clock_control_needs_a_dedicated_clock_principal() {
    let on = ("HSMKMS__DEV__CLOCK_CONTROL", "true");
    let (status, log) = start_refused("", &[on]);
    assert!(!status.success());
    assert!(
        log.contains("dev.clock_control needs dev.clock_principal"),
        "{log}"
    );
    let (status, log) = start_refused("", &[on, ("HSMKMS__DEV__CLOCK_PRINCIPAL", DEV_PRINCIPAL)]);
    assert!(!status.success());
    assert!(
        log.contains("dev.clock_principal must not be an admin principal"),
        "{log}"
    );
    let unknown = "arn:aws:iam::111122223333:user/nobody";
    let (status, log) = start_refused("", &[on, ("HSMKMS__DEV__CLOCK_PRINCIPAL", unknown)]);
    assert!(!status.success());
    assert!(
        log.contains("dev.clock_principal must be the principal of a [[credentials]] entry"),
        "{log}"
    );
}
