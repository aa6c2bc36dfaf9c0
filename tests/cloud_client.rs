//! The Cloud KMS API driven by a client nobody here wrote: Google's google-cloud-kms Python
//! client over its REST transport (tests/cloud_client/test_cloud_kms.py), run from the
//! virtualenv that `make cloud-venv` makes. One daemon on the development clock; the script
//! runs in three phases with the clock moved between them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::path::Path;
use std::process::Command;

use common::{new_key, Daemon, CLOUD_APP_TOKEN, CLOUD_TOKEN, DAY};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/cloud_client/test_cloud_kms.py"
);
const PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/var/cloud-venv/bin/python");

/// The virtualenv's python; a missing virtualenv fails the test and names the step that
/// makes it.
fn python() -> &'static Path {
    let python = Path::new(PYTHON);
    assert!(
        python.exists(),
        "{PYTHON} is missing: run `make cloud-venv` (`make test` runs it first) to install \
         the google-cloud-kms client from tests/cloud_client/requirements.txt"
    );
    python
}

/// Runs one phase of the script against `d` and asserts that every check passed, printing
/// the script's output and the daemon's log when one did not.
fn run_phase(d: &Daemon, aws_key: &str, phase: &str) {
    let output = Command::new(python())
        .arg(SCRIPT)
        .arg(phase)
        .env("HSMKMS_CLOUD_ENDPOINT", &d.cloud_endpoint)
        .env("HSMKMS_CLOUD_TOKEN", CLOUD_TOKEN)
        .env("HSMKMS_CLOUD_APP_TOKEN", CLOUD_APP_TOKEN)
        .env("HSMKMS_AWS_KEY_ID", aws_key)
        .env(
            "HSMKMS_CLOUD_STATE",
            d.dir().join("cloud-client-state.json"),
        )
        // The daemon is on the loopback: no proxy of the environment may stand between.
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run the google-cloud-kms client script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "phase {phase} of the google-cloud-kms client failed ({}):\n{stdout}{stderr}\n\
         --- daemon log ---\n{}",
        output.status,
        d.log()
    );
    print!("{stdout}");
}

#[tokio::test]
async fn the_google_cloud_kms_client_drives_the_cloud_kms_api() {
    python();
    let d = Daemon::start_with_dev_clock();
    assert!(
        !d.cloud_endpoint.is_empty(),
        "the daemon announced no Cloud KMS endpoint:\n{}",
        d.log()
    );
    let aws_key = new_key(&d.client()).await;

    run_phase(&d, &aws_key, "main");
    // Import jobs expire 3 days after their creation.
    d.advance_clock(3 * DAY + 1);
    run_phase(&d, &aws_key, "expired");
    // Past the 30 days a version destroyed in the first phase was scheduled for, with a
    // minute to spare for the time the phases took.
    d.advance_clock(27 * DAY + 60);
    run_phase(&d, &aws_key, "destroyed");
}
