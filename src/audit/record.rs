//! What a record holds. Never plaintext, ciphertext, signatures, MACs, key material or
//! grant tokens: request members that carry them are left out as they are read.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// Request members never recorded: data, key material, and bearer tokens.
const SECRET_MEMBERS: &[&str] = &[
    "Plaintext",
    "CiphertextBlob",
    "EncryptedKeyMaterial",
    "ImportToken",
    "Message",
    "Signature",
    "Mac",
    "PublicKey",
    "GrantTokens",
    "Recipient",
    // The Cloud KMS API's members.
    "plaintext",
    "ciphertext",
    "additionalAuthenticatedData",
    "data",
    "digest",
    "signature",
    "mac",
    "wrappedKey",
    "rsaAesWrappedKey",
];

/// One line of the log, after its sequence number and the hash of the line before.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A request, allowed or denied, successful or failed.
    Request(RequestRecord),
    /// A change the scheduler made without a request.
    StateChange(StateChange),
    /// The daemon started on this chain.
    Start {
        /// Epoch milliseconds.
        time_ms: i64,
        /// The daemon's version.
        version: String,
    },
    /// The chain head, signed by a token key.
    Checkpoint {
        /// Epoch milliseconds.
        time_ms: i64,
        /// The hash of the record before (the head being signed).
        head: String,
        /// The label of the token key that made `mac`.
        signer: String,
        /// HMAC-SHA256 over `checkpoint_message(seq, head)`, hex.
        mac: String,
    },
}

/// A request as an auditor needs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Epoch milliseconds when the request arrived.
    pub time_ms: i64,
    /// The id returned in `x-amzn-RequestId`.
    pub request_id: String,
    /// `X-Amz-Target`, as sent.
    pub operation: String,
    /// The authenticated principal's ARN; absent when authentication failed.
    pub principal: Option<String>,
    /// The access key id the request claimed.
    pub access_key_id: Option<String>,
    /// The client's address and port.
    pub source: Option<String>,
    /// The key the operation acted on, by ARN, as the response names it.
    pub key_arn: Option<String>,
    /// The key material version used, when the response names one.
    pub key_material_id: Option<String>,
    /// The request's members, without any secret ones.
    pub parameters: Parameters,
    /// `Success` or `Failure`.
    pub outcome: String,
    /// The error's `__type` on failure.
    pub error_type: Option<String>,
    /// Microseconds from arrival to the answer (before this record's write).
    pub latency_us: u64,
}

/// A scheduled change: deletion at the end of the waiting period, automatic rotation,
/// expiry of imported material or of import parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateChange {
    /// Epoch milliseconds.
    pub time_ms: i64,
    /// What happened, e.g. `KeyDeleted`, `KeyRotated`.
    pub change: String,
    /// The key's ARN.
    pub key_arn: String,
    /// The material version or import job concerned.
    pub subject_id: Option<String>,
    /// State before.
    pub from_state: Option<String>,
    /// State after.
    pub to_state: Option<String>,
    /// What triggered it, e.g. `scheduler`.
    pub trigger: String,
}

/// Request members by name, secret ones skipped as they are parsed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Parameters(pub BTreeMap<String, serde_json::Value>);

impl Parameters {
    /// The members of a request body; a body that is not a JSON object records none.
    pub fn of(body: &[u8]) -> Parameters {
        let mut de = serde_json::Deserializer::from_slice(body);
        Redacted::deserialize(&mut de)
            .map(|r| r.0)
            .unwrap_or_default()
    }
}

struct Redacted(Parameters);

impl<'de> Deserialize<'de> for Redacted {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RedactingVisitor)
    }
}

struct RedactingVisitor;

impl<'de> Visitor<'de> for RedactingVisitor {
    type Value = Redacted;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Redacted, A::Error> {
        let mut members = BTreeMap::new();
        while let Some(name) = map.next_key::<String>()? {
            if SECRET_MEMBERS.contains(&name.as_str()) {
                map.next_value::<IgnoredAny>()?;
            } else {
                members.insert(name, map.next_value()?);
            }
        }
        Ok(Redacted(Parameters(members)))
    }
}

/// The key and material a response names; other members are skipped unread.
#[derive(Debug, Default, Deserialize)]
pub struct ResponseIds {
    /// `KeyId` (an ARN in responses).
    #[serde(rename = "KeyId")]
    pub key_id: Option<String>,
    /// `KeyMaterialId`, or ReEncrypt's `DestinationKeyMaterialId`.
    #[serde(rename = "KeyMaterialId", alias = "DestinationKeyMaterialId")]
    pub key_material_id: Option<String>,
    /// `KeyMetadata`, for the operations that return it.
    #[serde(rename = "KeyMetadata")]
    pub metadata: Option<MetadataIds>,
}

/// The ids inside `KeyMetadata`.
#[derive(Debug, Default, Deserialize)]
pub struct MetadataIds {
    /// The key's ARN.
    #[serde(rename = "Arn")]
    pub arn: Option<String>,
    /// Its current material version.
    #[serde(rename = "CurrentKeyMaterialId")]
    pub current_key_material_id: Option<String>,
}

impl ResponseIds {
    /// The ids in a response body we produced.
    pub fn of(body: &[u8]) -> ResponseIds {
        serde_json::from_slice(body).unwrap_or_default()
    }

    /// The key's ARN and the material id, wherever the response put them.
    pub fn into_pair(self) -> (Option<String>, Option<String>) {
        let (arn, material) = match self.metadata {
            Some(m) => (m.arn, m.current_key_material_id),
            None => (None, None),
        };
        (self.key_id.or(arn), self.key_material_id.or(material))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_members_are_never_kept() {
        let body = br#"{"KeyId":"alias/a","Plaintext":"c2VjcmV0","EncryptionContext":{"t":"1"},"GrantTokens":["x"]}"#;
        let kept = Parameters::of(body);
        let names: Vec<_> = kept.0.keys().map(String::as_str).collect();
        assert_eq!(names, ["EncryptionContext", "KeyId"]);
        let text = serde_json::to_string(&kept).unwrap_or_default();
        assert!(!text.contains("c2VjcmV0"));
        assert!(Parameters::of(b"not json").0.is_empty());
    }

    #[test]
    fn response_ids_are_found_without_reading_data_members() {
        let body = br#"{"CiphertextBlob":"AAAA","KeyId":"arn:k","KeyMaterialId":"m"}"#;
        assert_eq!(
            ResponseIds::of(body).into_pair(),
            (Some("arn:k".into()), Some("m".into()))
        );
        let body = br#"{"KeyMetadata":{"Arn":"arn:k","CurrentKeyMaterialId":"m","KeyId":"k"}}"#;
        assert_eq!(
            ResponseIds::of(body).into_pair(),
            (Some("arn:k".into()), Some("m".into()))
        );
    }
}
