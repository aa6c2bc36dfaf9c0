//! Cloud KMS asymmetric, MAC and import methods, each result checked by an independent
//! implementation: ECDSA and RSA signatures verified with RustCrypto, RSA-OAEP ciphertexts
//! made here and decrypted by the daemon, MACs verified and tampered with; keys imported with the
//! documented RSA-OAEP + AES-KWP wrapping; an import job expiring with the injected clock.
//! One test opens the token in this process (one PKCS#11 module per process).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use aws_sdk_kms::types::AlgorithmSpec;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::Daemon;
use cryptoki::object::{Attribute, ObjectClass};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use rsa::pkcs8::DecodePublicKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const LOCATION: &str = "projects/p1/locations/global";
const RING: &str = "projects/p1/locations/global/keyRings/r";

fn ok(answer: (u16, Value)) -> Value {
    assert_eq!(answer.0, 200, "{}", answer.1);
    answer.1
}

fn status(answer: (u16, Value)) -> String {
    answer.1["error"]["status"]
        .as_str()
        .unwrap_or("none")
        .to_owned()
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn unb64(value: &Value) -> Vec<u8> {
    STANDARD
        .decode(value.as_str().expect("base64"))
        .expect("base64")
}

fn call(daemon: &Daemon, method: &str, path: &str, body: Value) -> (u16, Value) {
    daemon.cloud(method, &format!("/v1/{path}"), &body.to_string())
}

/// The error status of a POST of `body` to `path:verb`.
fn refusal(daemon: &Daemon, target: &str, body: Value) -> String {
    status(call(daemon, "POST", target, body))
}

fn ring(daemon: &Daemon) {
    ok(call(
        daemon,
        "POST",
        &format!("{LOCATION}/keyRings?keyRingId=r"),
        json!({}),
    ));
}

/// A crypto key of `purpose` and `algorithm` (enums as numbers, as the REST transports
/// send them); its version 1.
fn key(daemon: &Daemon, id: &str, purpose: i64, algorithm: i64) -> String {
    let body = json!({"purpose": purpose, "versionTemplate": {"algorithm": algorithm, "protectionLevel": 2}});
    ok(call(
        daemon,
        "POST",
        &format!("{RING}/cryptoKeys?cryptoKeyId={id}"),
        body,
    ));
    format!("{RING}/cryptoKeys/{id}/cryptoKeyVersions/1")
}

fn public_der(daemon: &Daemon, version: &str) -> (Vec<u8>, Value) {
    let shown = ok(call(
        daemon,
        "GET",
        &format!("{version}/publicKey"),
        json!({}),
    ));
    let pem = shown["pem"].as_str().expect("pem");
    assert_eq!(
        shown["pemCrc32c"],
        crc32c::crc32c(pem.as_bytes()).to_string()
    );
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    (STANDARD.decode(body).expect("pem body"), shown)
}

#[test]
fn asymmetric_sign_verifies_with_rustcrypto() {
    let daemon = Daemon::start();
    ring(&daemon);
    let ec = key(&daemon, "ec", 5, 12);
    let (der, shown) = public_der(&daemon, &ec);
    assert_eq!(shown["algorithm"], "EC_SIGN_P256_SHA256");
    let verifier = p256::ecdsa::VerifyingKey::from_public_key_der(&der).expect("P-256 key");
    let digest = Sha256::digest(b"signed through cloud kms");
    let body = json!({"digest": {"sha256": b64(&digest)}, "digestCrc32c": crc32c::crc32c(&digest).to_string()});
    let signed = ok(call(&daemon, "POST", &format!("{ec}:asymmetricSign"), body));
    assert_eq!(signed["verifiedDigestCrc32c"], true);
    let signature = unb64(&signed["signature"]);
    assert_eq!(
        signed["signatureCrc32c"],
        crc32c::crc32c(&signature).to_string()
    );
    let signature = p256::ecdsa::Signature::from_der(&signature).expect("DER signature");
    verifier
        .verify_prehash(&digest, &signature)
        .expect("ECDSA verifies");
    let wrong = json!({"digest": {"sha384": b64(&[0u8; 48])}});
    assert_eq!(
        status(call(
            &daemon,
            "POST",
            &format!("{ec}:asymmetricSign"),
            wrong
        )),
        "INVALID_ARGUMENT"
    );
    // RSA PKCS #1 v1.5 over data hashed by the daemon.
    let rsa_version = key(&daemon, "rsa", 5, 5);
    let (der, _) = public_der(&daemon, &rsa_version);
    let public = rsa::RsaPublicKey::from_public_key_der(&der).expect("RSA key");
    let body = json!({"data": b64(b"rsa data")});
    let signed = ok(call(
        &daemon,
        "POST",
        &format!("{rsa_version}:asymmetricSign"),
        body,
    ));
    let scheme = rsa::Pkcs1v15Sign::new::<Sha256>();
    public
        .verify(
            scheme,
            &Sha256::digest(b"rsa data"),
            &unb64(&signed["signature"]),
        )
        .expect("PKCS #1 v1.5 verifies");
    // A signing key has no MAC and no encrypt.
    let mac = refusal(&daemon, &format!("{ec}:macSign"), json!({"data": "AA=="}));
    assert_eq!(mac, "INVALID_ARGUMENT");
}

#[test]
fn asymmetric_decrypt_and_macs() {
    let daemon = Daemon::start();
    ring(&daemon);
    let rsa_version = key(&daemon, "oaep", 6, 8);
    let (der, _) = public_der(&daemon, &rsa_version);
    let public = rsa::RsaPublicKey::from_public_key_der(&der).expect("RSA key");
    let ciphertext = public
        .encrypt(
            &mut rsa::rand_core::OsRng,
            rsa::Oaep::new::<Sha256>(),
            b"for the token",
        )
        .expect("encrypt");
    let body = json!({"ciphertext": b64(&ciphertext), "ciphertextCrc32c": crc32c::crc32c(&ciphertext).to_string()});
    let opened = ok(call(
        &daemon,
        "POST",
        &format!("{rsa_version}:asymmetricDecrypt"),
        body,
    ));
    assert_eq!(unb64(&opened["plaintext"]), b"for the token");
    assert_eq!(opened["verifiedCiphertextCrc32c"], true);
    let tampered = json!({"ciphertext": b64(&[7u8; 256])});
    let refused = call(
        &daemon,
        "POST",
        &format!("{rsa_version}:asymmetricDecrypt"),
        tampered,
    );
    assert_eq!(status(refused), "INVALID_ARGUMENT");
    let mac_version = key(&daemon, "mac", 9, 32);
    let signed = ok(call(
        &daemon,
        "POST",
        &format!("{mac_version}:macSign"),
        json!({"data": b64(b"m")}),
    ));
    let mac = unb64(&signed["mac"]);
    assert_eq!(mac.len(), 32);
    let verify = |mac: &[u8]| {
        let body = json!({"data": b64(b"m"), "mac": b64(mac)});
        ok(call(
            &daemon,
            "POST",
            &format!("{mac_version}:macVerify"),
            body,
        ))
    };
    assert_eq!(verify(&mac)["success"], true);
    assert_eq!(verify(&mac)["verifiedSuccessIntegrity"], true);
    let mut bad = mac.clone();
    bad[0] ^= 1;
    assert_eq!(verify(&bad)["success"], false);
    let random = json!({"lengthBytes": 32, "protectionLevel": "HSM"});
    let bytes = ok(call(
        &daemon,
        "POST",
        &format!("{LOCATION}:generateRandomBytes"),
        random,
    ));
    assert_eq!(unb64(&bytes["data"]).len(), 32);
}

/// An ACTIVE import job and an importOnly symmetric key without versions.
struct Byok {
    job: String,
    wrapping_der: Vec<u8>,
    key: String,
}

impl Byok {
    fn new(daemon: &Daemon) -> Byok {
        let body = json!({"importMethod": "RSA_OAEP_3072_SHA1_AES_256", "protectionLevel": "HSM"});
        let job = ok(call(
            daemon,
            "POST",
            &format!("{RING}/importJobs?importJobId=j"),
            body,
        ));
        assert_eq!(job["state"], "ACTIVE");
        let pem = job["publicKey"]["pem"].as_str().expect("wrapping key");
        let der: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let body = json!({"purpose": "ENCRYPT_DECRYPT", "importOnly": true, "destroyScheduledDuration": "86400s"});
        let path = format!("{RING}/cryptoKeys?cryptoKeyId=byok&skipInitialVersionCreation=true");
        assert!(ok(call(daemon, "POST", &path, body))["primary"].is_null());
        Byok {
            job: job["name"].as_str().unwrap().to_owned(),
            wrapping_der: STANDARD.decode(der).unwrap(),
            key: format!("{RING}/cryptoKeys/byok"),
        }
    }

    fn import(&self, daemon: &Daemon, wrapped: &[u8]) -> (u16, Value) {
        let body = json!({"algorithm": "GOOGLE_SYMMETRIC_ENCRYPTION", "importJob": self.job, "rsaAesWrappedKey": b64(wrapped)});
        call(
            daemon,
            "POST",
            &format!("{}/cryptoKeyVersions:import", self.key),
            body,
        )
    }
}

#[test]
fn pending_import_versions_refuse_use_and_every_change() {
    let daemon = Daemon::start();
    ring(&daemon);
    let byok = Byok::new(&daemon);
    let material = common::import::material();
    let wrapped = common::import::wrap(
        &AlgorithmSpec::RsaAesKeyWrapSha1,
        &byok.wrapping_der,
        &material,
    );
    let version = ok(byok.import(&daemon, &wrapped));
    let name = version["name"].as_str().unwrap().to_owned();
    // Through the AWS API: the key's imported material is deleted.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = daemon.client();
    rt.block_on(async {
        let keys = client
            .list_keys()
            .send()
            .await
            .expect("list keys")
            .keys
            .unwrap_or_default();
        for entry in keys {
            let id = entry.key_id.expect("key id");
            let described = client
                .describe_key()
                .key_id(&id)
                .send()
                .await
                .expect("describe");
            let metadata = described.key_metadata.expect("metadata");
            if metadata.description.unwrap_or_default().contains(&byok.key) {
                client
                    .delete_imported_key_material()
                    .key_id(&id)
                    .send()
                    .await
                    .expect("delete material");
            }
        }
    });
    let shown = ok(call(&daemon, "GET", &name, json!({})));
    assert_eq!(shown["state"], "PENDING_IMPORT");
    let attempts = [
        (
            "POST",
            format!("{name}:encrypt"),
            json!({"plaintext": "AA=="}),
        ),
        (
            "PATCH",
            format!("{name}?updateMask=state"),
            json!({"state": "ENABLED"}),
        ),
        (
            "PATCH",
            format!("{name}?updateMask=state"),
            json!({"state": "DISABLED"}),
        ),
        ("POST", format!("{name}:destroy"), json!({})),
        ("POST", format!("{name}:restore"), json!({})),
    ];
    for (method, path, body) in attempts {
        let answer = call(&daemon, method, &path, body);
        assert_eq!(status(answer), "FAILED_PRECONDITION", "{method} {path}");
    }
    assert_eq!(
        ok(call(&daemon, "GET", &name, json!({})))["state"],
        "PENDING_IMPORT"
    );
}

#[test]
fn keys_are_imported_through_import_jobs_until_they_expire() {
    let daemon = Daemon::start_with_dev_clock();
    ring(&daemon);
    let byok = Byok::new(&daemon);
    let (job_name, der, key) = (&byok.job, &byok.wrapping_der, &byok.key);
    let material = common::import::material();
    let wrapped = common::import::wrap(&AlgorithmSpec::RsaAesKeyWrapSha1, der, &material);
    let import = |wrapped: &[u8]| byok.import(&daemon, wrapped);
    let version = ok(import(&wrapped));
    assert_eq!(version["state"], "ENABLED");
    assert_eq!(version["importJob"], *job_name);
    assert!(version["importTime"].is_string());
    let sealed = ok(call(
        &daemon,
        "POST",
        &format!("{key}:encrypt"),
        json!({"plaintext": b64(b"byok")}),
    ));
    let decrypts = || {
        let body = json!({"ciphertext": sealed["ciphertext"]});
        let opened = ok(call(&daemon, "POST", &format!("{key}:decrypt"), body));
        assert_eq!(unb64(&opened["plaintext"]), b"byok");
    };
    decrypts();
    // A second version from the same job; garbage becomes an IMPORT_FAILED version.
    let again = common::import::wrap(
        &AlgorithmSpec::RsaAesKeyWrapSha1,
        der,
        &common::import::material(),
    );
    assert_eq!(
        ok(import(&again))["name"],
        format!("{key}/cryptoKeyVersions/2")
    );
    let failed = ok(import(&vec![0x5a; 384 + 40]));
    assert_eq!(failed["state"], "IMPORT_FAILED");
    assert!(failed["importFailureReason"].is_string(), "{failed}");
    let failed_name = failed["name"].as_str().unwrap();
    let refused = refusal(
        &daemon,
        &format!("{failed_name}:encrypt"),
        json!({"plaintext": "AA=="}),
    );
    assert_eq!(refused, "FAILED_PRECONDITION");
    let generated = call(
        &daemon,
        "POST",
        &format!("{key}/cryptoKeyVersions"),
        json!({}),
    );
    assert_eq!(
        status(generated),
        "FAILED_PRECONDITION",
        "importOnly keys generate nothing"
    );
    // Three days on, the job is EXPIRED, its wrapping key is gone from the token, and
    // imports are refused.
    let (_ctx, session) = common::open_token(&daemon);
    let private_keys = || {
        let template = [Attribute::Class(ObjectClass::PRIVATE_KEY)];
        session.find_objects(&template).expect("find").len()
    };
    let before = private_keys();
    daemon.advance_clock(3 * 86_400 + 1);
    assert_eq!(private_keys(), before - 1, "the wrapping key is destroyed");
    let shown = ok(call(&daemon, "GET", job_name, json!({})));
    assert_eq!(shown["state"], "EXPIRED");
    assert_eq!(status(import(&wrapped)), "FAILED_PRECONDITION");
    let jobs = ok(call(
        &daemon,
        "GET",
        &format!("{RING}/importJobs"),
        json!({}),
    ));
    assert_eq!(jobs["importJobs"][0]["name"], *job_name);
    // The imported material outlives the job.
    decrypts();
}
