//! The raw token: the same work straight through cryptoki, in this process, on the daemon's
//! token, with 1 and 2 sessions. What the daemon adds is the difference.

use std::time::{Duration, Instant};

use cryptoki::context::Pkcs11;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

use crate::common::{open_token, Daemon};

fn aes_key(session: &Session, token: bool) -> ObjectHandle {
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(32.into()),
        Attribute::Token(token),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Label(b"bench-raw".to_vec()),
    ];
    session
        .generate_key(&Mechanism::AesKeyGen, &template)
        .expect("generate")
}

/// The DER DigestInfo prefix of SHA-256 (RFC 8017 9.2).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// The private half of a token key pair generated with `mechanism`; the public half is
/// dropped (the operations measured are private-key ones).
fn private_key(session: &Session, mechanism: Mechanism, public: &[Attribute]) -> ObjectHandle {
    let private = [
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Label(b"bench-raw".to_vec()),
    ];
    let (public, private) = session
        .generate_key_pair(&mechanism, public, &private)
        .expect("generate pair");
    session.destroy_object(public).expect("destroy public");
    private
}

fn ec_key(session: &Session) -> ObjectHandle {
    let p256 = vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    let public = [
        Attribute::Token(false),
        Attribute::EcParams(p256),
        Attribute::Verify(true),
    ];
    private_key(session, Mechanism::EccKeyPairGen, &public)
}

fn rsa_key(session: &Session) -> ObjectHandle {
    let public = [
        Attribute::Token(false),
        Attribute::ModulusBits(2048.into()),
        Attribute::PublicExponent(vec![1, 0, 1]),
        Attribute::Verify(true),
    ];
    private_key(session, Mechanism::RsaPkcsKeyPairGen, &public)
}

fn hmac_key(session: &Session) -> ObjectHandle {
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::ValueLen(32.into()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Label(b"bench-raw".to_vec()),
    ];
    session
        .generate_key(&Mechanism::GenericSecretKeyGen, &template)
        .expect("generate hmac key")
}

fn seal(session: &Session, key: ObjectHandle, plaintext: &[u8]) -> ([u8; 12], Vec<u8>) {
    let mut iv = [0u8; 12];
    session.generate_random_slice(&mut iv).expect("random");
    let aad = b"bench aad";
    let params = GcmParams::new(&mut iv, aad, 128.into()).expect("params");
    let data = session
        .encrypt(&Mechanism::AesGcm(params), key, plaintext)
        .expect("encrypt");
    (iv, data)
}

fn open(session: &Session, key: ObjectHandle, sealed: &([u8; 12], Vec<u8>)) -> Vec<u8> {
    let mut iv = sealed.0;
    let params = GcmParams::new(&mut iv, b"bench aad", 128.into()).expect("params");
    session
        .decrypt(&Mechanism::AesGcm(params), key, &sealed.1)
        .expect("decrypt")
}

/// Runs `work` on `sessions` sessions in parallel for `seconds`; operations per second.
fn measure(ctx: &Pkcs11, sessions: usize, seconds: u64, work: &(dyn Fn(&Session) + Sync)) -> f64 {
    let slot = ctx.get_slots_with_token().expect("slots")[0];
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let count: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..sessions)
            .map(|_| {
                scope.spawn(|| {
                    let session = ctx.open_rw_session(slot).expect("session");
                    let mut n = 0u64;
                    while Instant::now() < until {
                        work(&session);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("worker")).sum()
    });
    count as f64 / started.elapsed().as_secs_f64()
}

fn print(operation: &str, sessions: usize, ops_per_second: f64) {
    println!(
        "raw       {operation:<22} sessions {sessions}: {ops_per_second:>9.0} ops/s  {:>8.1} us/op",
        1e6 / ops_per_second
    );
}

/// One operation's work on a session.
type Work<'a> = Box<dyn Fn(&Session) + Sync + 'a>;

/// Prints the raw token's figures for the operations the daemon serves.
pub fn run(daemon: &Daemon, seconds: u64) {
    let (ctx, session) = open_token(daemon);
    let token_key = aes_key(&session, true);
    let session_key = aes_key(&session, false);
    let small = [7u8; 32];
    let big = vec![7u8; 4096];
    let sealed = seal(&session, token_key, &small);
    let cases: Vec<(&str, Work)> = vec![
        (
            "GCM encrypt 32 B token",
            Box::new(|s| drop(seal(s, token_key, &small))),
        ),
        (
            "GCM encrypt 4 KiB token",
            Box::new(|s| drop(seal(s, token_key, &big))),
        ),
        (
            "GCM decrypt 32 B token",
            Box::new(|s| drop(open(s, token_key, &sealed))),
        ),
        (
            "GCM encrypt 32 B session",
            Box::new(|s| drop(seal(s, session_key, &small))),
        ),
        (
            "GenerateRandom 32 B",
            Box::new(|s| {
                let mut bytes = [0u8; 32];
                s.generate_random_slice(&mut bytes).expect("random");
            }),
        ),
    ];
    for (operation, work) in &cases {
        for sessions in [1, 2] {
            print(
                operation,
                sessions,
                measure(&ctx, sessions, seconds, work.as_ref()),
            );
        }
    }
    let (p256, rsa, hmac) = (ec_key(&session), rsa_key(&session), hmac_key(&session));
    let digest = [5u8; 32];
    let mut digest_info = SHA256_DIGEST_INFO.to_vec();
    digest_info.extend_from_slice(&digest);
    let signing: Vec<(&str, Work)> = vec![
        (
            "ECDSA P-256 sign",
            Box::new(|s| drop(s.sign(&Mechanism::Ecdsa, p256, &digest).expect("sign"))),
        ),
        (
            "RSA-2048 PKCS#1 sign",
            Box::new(|s| {
                drop(
                    s.sign(&Mechanism::RsaPkcs, rsa, &digest_info)
                        .expect("sign"),
                )
            }),
        ),
        (
            "HMAC-SHA256 32 B",
            Box::new(|s| drop(s.sign(&Mechanism::Sha256Hmac, hmac, &digest).expect("mac"))),
        ),
    ];
    for (operation, work) in &signing {
        for sessions in [1, 2] {
            print(
                operation,
                sessions,
                measure(&ctx, sessions, seconds, work.as_ref()),
            );
        }
    }
    for handle in [p256, rsa, hmac] {
        session.destroy_object(handle).expect("destroy");
    }
    let create = |s: &Session| s.destroy_object(aes_key(s, true)).expect("destroy");
    print(
        "token key create+destroy",
        1,
        measure(&ctx, 1, seconds, &create),
    );
    session.destroy_object(token_key).expect("destroy");
}
