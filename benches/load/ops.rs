//! The operations the benchmark drives, each with the check its answers must pass.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use aws_sdk_kms::Client;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use crate::client::Answer;

/// What an answer must carry to count.
#[derive(Clone)]
enum Check {
    /// The member is present.
    Member(&'static str),
    /// `Plaintext` decodes to these bytes.
    Plaintext(Vec<u8>),
}

/// One operation: its target, its request body, and the check of its answers.
#[derive(Clone)]
pub struct Op {
    pub name: &'static str,
    pub target: &'static str,
    pub body: String,
    check: Check,
}

impl Op {
    fn new(name: &'static str, operation: &str, body: Value, check: Check) -> Op {
        Op {
            name,
            target: Box::leak(format!("TrentService.{operation}").into_boxed_str()),
            body: body.to_string(),
            check,
        }
    }

    /// `Ok` for an answer that passes the check, else the error type to count.
    pub fn check(&self, answer: Answer) -> Result<(), String> {
        if answer.status != 200 {
            return Err(answer
                .error_type
                .unwrap_or_else(|| format!("HTTP {}", answer.status)));
        }
        let body: Value =
            serde_json::from_slice(&answer.body).map_err(|_| "bad JSON".to_owned())?;
        let passed = match &self.check {
            Check::Member(member) => body.get(member).is_some(),
            Check::Plaintext(expected) => body
                .get("Plaintext")
                .and_then(Value::as_str)
                .and_then(|p| STANDARD.decode(p).ok())
                .is_some_and(|p| &p == expected),
        };
        match passed {
            true => Ok(()),
            false => Err("wrong answer".to_owned()),
        }
    }
}

/// A key of `spec` and `usage`, by id.
async fn key_of(client: &Client, spec: KeySpec, usage: KeyUsageType) -> String {
    let created = client
        .create_key()
        .key_spec(spec)
        .key_usage(usage)
        .send()
        .await
        .expect("create key");
    created
        .key_metadata()
        .expect("metadata")
        .key_id()
        .to_owned()
}

/// Sign with an ECC P-256 and an RSA-2048 key (a 32-byte digest each), and GenerateMac with an
/// HMAC-256 key: the private-key operations of the asymmetric key types.
async fn asymmetric(client: &Client) -> Vec<Op> {
    let digest = STANDARD.encode([5u8; 32]);
    let sign = |key: String, algorithm: &str| json!({ "KeyId": key, "Message": digest, "MessageType": "DIGEST", "SigningAlgorithm": algorithm });
    let p256 = key_of(client, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let rsa = key_of(client, KeySpec::Rsa2048, KeyUsageType::SignVerify).await;
    let hmac = key_of(client, KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;
    let mac = json!({ "KeyId": hmac, "Message": STANDARD.encode([6u8; 32]), "MacAlgorithm": "HMAC_SHA_256" });
    vec![
        Op::new(
            "SignP256",
            "Sign",
            sign(p256, "ECDSA_SHA_256"),
            Check::Member("Signature"),
        ),
        Op::new(
            "SignRsa2048",
            "Sign",
            sign(rsa, "RSASSA_PKCS1_V1_5_SHA_256"),
            Check::Member("Signature"),
        ),
        Op::new("GenerateMac", "GenerateMac", mac, Check::Member("Mac")),
    ]
}

/// A key to work on and the operations on it.
pub async fn prepare(client: &Client) -> Vec<Op> {
    let key = client.create_key().send().await.expect("create key");
    let key = key.key_metadata().expect("metadata").key_id().to_owned();
    let context = json!({ "purpose": "bench", "tenant": "t-0001" });
    let encrypt = |size: usize| json!({ "KeyId": key, "Plaintext": STANDARD.encode(vec![7u8; size]), "EncryptionContext": context });
    let secret = vec![9u8; 32];
    let blob = client
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(secret.clone()))
        .encryption_context("purpose", "bench")
        .encryption_context("tenant", "t-0001")
        .send()
        .await
        .expect("encrypt")
        .ciphertext_blob
        .expect("blob");
    let decrypt = json!({
        "CiphertextBlob": STANDARD.encode(blob.as_ref()),
        "EncryptionContext": context,
    });
    let mut ops = vec![
        Op::new(
            "Encrypt32",
            "Encrypt",
            encrypt(32),
            Check::Member("CiphertextBlob"),
        ),
        Op::new(
            "Encrypt4K",
            "Encrypt",
            encrypt(4096),
            Check::Member("CiphertextBlob"),
        ),
        Op::new("Decrypt", "Decrypt", decrypt, Check::Plaintext(secret)),
        Op::new(
            "GenDataKey",
            "GenerateDataKey",
            json!({ "KeyId": key, "KeySpec": "AES_256", "EncryptionContext": context }),
            Check::Member("CiphertextBlob"),
        ),
        Op::new(
            "GenRandom",
            "GenerateRandom",
            json!({ "NumberOfBytes": 32 }),
            Check::Member("Plaintext"),
        ),
        Op::new(
            "DescribeKey",
            "DescribeKey",
            json!({ "KeyId": key }),
            Check::Member("KeyMetadata"),
        ),
        Op::new(
            "CreateKey",
            "CreateKey",
            json!({}),
            Check::Member("KeyMetadata"),
        ),
    ];
    ops.extend(asymmetric(client).await);
    ops
}
