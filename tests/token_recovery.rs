//! The token side recovers by itself: a token that logged us out is logged in again, and
//! the request that noticed still succeeds. Runs the token layer in this process, so it
//! holds a single test (one PKCS#11 module per process).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use hsmkms::config::Settings;
use hsmkms::hsm::Hsm;
use uuid::Uuid;
use zeroize::Zeroizing;

#[tokio::test]
async fn a_logged_out_token_is_logged_in_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    common::init_token(dir.path());
    // SAFETY of the env change: the only test in this binary, before the module loads.
    std::env::set_var("SOFTHSM2_CONF", dir.path().join("softhsm2.conf"));
    let settings = Settings::load(&dir.path().join("hsmkms.toml")).expect("settings");
    let pin = settings.hsm.user_pin().expect("pin");
    let hsm = Hsm::open(&settings.hsm, pin).expect("open token");
    let id = Uuid::new_v4();
    hsm.generate_key(id, "test".into()).await.expect("generate");
    let aad = b"aad".to_vec();
    let sealed = hsm
        .encrypt(id, aad.clone(), Zeroizing::new(b"before".to_vec()))
        .await
        .expect("encrypt");

    // Another handle on the same module logs the application out, as a token reset would.
    let other = Pkcs11::new(&settings.hsm.module).expect("load module");
    let _ = other.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let slot = other.get_slots_with_token().expect("slots")[0];
    other
        .open_ro_session(slot)
        .expect("session")
        .logout()
        .expect("logout");

    let plaintext = hsm
        .decrypt(id, aad.clone(), sealed)
        .await
        .expect("decrypt after logout");
    assert_eq!(plaintext.as_slice(), b"before");
    hsm.encrypt(id, aad, Zeroizing::new(b"after".to_vec()))
        .await
        .expect("encrypt after logout");
}
