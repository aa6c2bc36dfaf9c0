//! A key whose token object cannot be reached is Unavailable: crypto operations fail with
//! KMSInvalidStateException, not a 500, and the key recovers by itself when the object is
//! back on the token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use aws_sdk_kms::types::KeyState;
use common::{
    assert_error, decrypt, encrypt, error_code, key_state, new_key, try_decrypt, try_encrypt,
    Daemon,
};

/// The object files in the daemon's token directory.
fn object_files(daemon: &Daemon) -> BTreeSet<PathBuf> {
    let token_dirs = std::fs::read_dir(daemon.dir().join("tokens")).expect("tokens");
    let mut files = BTreeSet::new();
    for dir in token_dirs.flatten() {
        for entry in std::fs::read_dir(dir.path()).expect("token dir").flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "object") {
                files.insert(path);
            }
        }
    }
    files
}

/// Increments the token's generation counter (8 bytes, big-endian) beside `object`.
fn bump_generation(object: &std::path::Path) {
    let path = object.with_file_name("generation");
    let bytes: [u8; 8] = std::fs::read(&path)
        .expect("generation")
        .try_into()
        .expect("8 bytes");
    let next = u64::from_be_bytes(bytes) + 1;
    std::fs::write(&path, next.to_be_bytes()).expect("write generation");
}

#[tokio::test]
async fn a_key_without_its_token_object_is_unavailable_until_it_returns() {
    let daemon = Daemon::start_with_dev_clock();
    let client = daemon.client();
    let before = object_files(&daemon);
    let key = new_key(&client).await;
    let added: Vec<_> = object_files(&daemon).difference(&before).cloned().collect();
    assert_eq!(added.len(), 1, "one token object per key: {added:?}");
    let blob = encrypt(&client, &key, "later").await;

    // The object leaves the token (a restore from an older backup, an operator's mistake);
    // the token records the change in its generation counter, as SoftHSM2 does.
    let aside = daemon.dir().join("aside.object");
    std::fs::rename(&added[0], &aside).expect("move object away");
    bump_generation(&added[0]);
    assert_error(
        try_encrypt(&client, &key, "x").await,
        "KMSInvalidStateException",
        &format!("{} is unavailable.", daemon.key_arn(&key)),
    );
    assert_eq!(key_state(&client, &key).await, KeyState::Unavailable);
    let refused = try_decrypt(&client, blob.clone()).await.unwrap_err();
    assert_eq!(error_code(&refused), "KMSInvalidStateException");

    // It comes back, recorded the same way; the next scheduler run finds it again.
    std::fs::rename(&aside, &added[0]).expect("put object back");
    bump_generation(&added[0]);
    daemon.advance_clock(1);
    assert_eq!(key_state(&client, &key).await, KeyState::Enabled);
    assert_eq!(decrypt(&client, blob).await, b"later");
}
