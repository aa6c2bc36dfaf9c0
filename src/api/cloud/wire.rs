//! Cloud KMS JSON: proto3 JSON mapping of the v1 messages. Enums arrive as names or numbers
//! (the REST transports send numbers) and leave as names; int64 checksums are decimal
//! strings; bytes are base64; timestamps RFC 3339; durations `"<seconds>s"`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error::CloudError;
use crate::kms::Millis;

/// The body parsed as the method's request message, naming the field that failed.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, CloudError> {
    let body = match body.iter().all(u8::is_ascii_whitespace) {
        true => b"{}".as_slice(),
        false => body,
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        CloudError::invalid(format!(
            "Invalid JSON payload received. {} (field: {field}).",
            first_sentence(&e.inner().to_string())
        ))
    })?;
    de.end().map_err(|_| {
        CloudError::invalid("Invalid JSON payload received: data after the object.")
    })?;
    Ok(value)
}

fn first_sentence(text: &str) -> &str {
    text.split(" at line ").next().unwrap_or(text)
}

/// A proto enum: its value names and numbers.
pub type EnumTable = &'static [(&'static str, i64)];

pub const PURPOSE: EnumTable = &[
    ("ENCRYPT_DECRYPT", 1),
    ("ASYMMETRIC_SIGN", 5),
    ("ASYMMETRIC_DECRYPT", 6),
    ("RAW_ENCRYPT_DECRYPT", 7),
    ("MAC", 9),
];

pub const PROTECTION_LEVEL: EnumTable = &[
    ("SOFTWARE", 1),
    ("HSM", 2),
    ("EXTERNAL", 3),
    ("EXTERNAL_VPC", 4),
];

pub const ALGORITHM: EnumTable = &[
    ("GOOGLE_SYMMETRIC_ENCRYPTION", 1),
    ("RSA_SIGN_PSS_2048_SHA256", 2),
    ("RSA_SIGN_PSS_3072_SHA256", 3),
    ("RSA_SIGN_PSS_4096_SHA256", 4),
    ("RSA_SIGN_PSS_4096_SHA512", 15),
    ("RSA_SIGN_PKCS1_2048_SHA256", 5),
    ("RSA_SIGN_PKCS1_3072_SHA256", 6),
    ("RSA_SIGN_PKCS1_4096_SHA256", 7),
    ("RSA_SIGN_PKCS1_4096_SHA512", 16),
    ("RSA_SIGN_RAW_PKCS1_2048", 28),
    ("RSA_SIGN_RAW_PKCS1_3072", 29),
    ("RSA_SIGN_RAW_PKCS1_4096", 30),
    ("RSA_DECRYPT_OAEP_2048_SHA256", 8),
    ("RSA_DECRYPT_OAEP_3072_SHA256", 9),
    ("RSA_DECRYPT_OAEP_4096_SHA256", 10),
    ("RSA_DECRYPT_OAEP_4096_SHA512", 17),
    ("RSA_DECRYPT_OAEP_2048_SHA1", 37),
    ("RSA_DECRYPT_OAEP_3072_SHA1", 38),
    ("RSA_DECRYPT_OAEP_4096_SHA1", 39),
    ("EC_SIGN_P256_SHA256", 12),
    ("EC_SIGN_P384_SHA384", 13),
    ("EC_SIGN_SECP256K1_SHA256", 31),
    ("EC_SIGN_ED25519", 40),
    ("HMAC_SHA256", 32),
    ("HMAC_SHA1", 33),
    ("HMAC_SHA384", 34),
    ("HMAC_SHA512", 35),
    ("HMAC_SHA224", 36),
    ("EXTERNAL_SYMMETRIC_ENCRYPTION", 18),
];

pub const VERSION_STATE: EnumTable = &[
    ("PENDING_GENERATION", 5),
    ("ENABLED", 1),
    ("DISABLED", 2),
    ("DESTROYED", 3),
    ("DESTROY_SCHEDULED", 4),
    ("PENDING_IMPORT", 6),
    ("IMPORT_FAILED", 7),
    ("GENERATION_FAILED", 8),
];

pub const IMPORT_METHOD: EnumTable = &[
    ("RSA_OAEP_3072_SHA1_AES_256", 1),
    ("RSA_OAEP_4096_SHA1_AES_256", 2),
    ("RSA_OAEP_3072_SHA256_AES_256", 3),
    ("RSA_OAEP_4096_SHA256_AES_256", 4),
    ("RSA_OAEP_3072_SHA256", 5),
    ("RSA_OAEP_4096_SHA256", 6),
];

/// The name of enum `field`'s value, given as a name or a number; `None` when absent or
/// the zero (unspecified) value.
pub fn enum_name(
    value: Option<&Value>,
    table: EnumTable,
    field: &str,
) -> Result<Option<&'static str>, CloudError> {
    let found = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) if n.as_i64() == Some(0) => return Ok(None),
        Some(Value::String(s)) if s.ends_with("_UNSPECIFIED") => return Ok(None),
        Some(Value::Number(n)) => table.iter().find(|(_, v)| Some(*v) == n.as_i64()),
        Some(Value::String(s)) => table.iter().find(|(name, _)| name == s),
        Some(_) => None,
    };
    match found {
        Some((name, _)) => Ok(Some(name)),
        None => Err(CloudError::invalid(format!(
            "Invalid value at '{field}': {}.",
            value.map(Value::to_string).unwrap_or_default()
        ))),
    }
}

/// Checks that protection level `value` of `field` is HSM (the only one served: every key
/// is in the token); `why` ends the message.
pub fn require_hsm(value: Option<&Value>, field: &str, why: &str) -> Result<(), CloudError> {
    match enum_name(value, PROTECTION_LEVEL, field)? {
        Some("HSM") => Ok(()),
        _ => Err(CloudError::invalid(format!("{field} must be HSM: {why}."))),
    }
}

/// A bytes field: standard or URL-safe base64, wiped when dropped.
#[derive(Default)]
pub struct Bytes(pub zeroize::Zeroizing<Vec<u8>>);

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE};
        use base64::Engine;
        let text = zeroize::Zeroizing::new(String::deserialize(d)?);
        STANDARD
            .decode(text.as_bytes())
            .or_else(|_| URL_SAFE.decode(text.as_bytes()))
            .map(|b| Bytes(zeroize::Zeroizing::new(b)))
            .map_err(|_| serde::de::Error::custom("the value is not valid base64"))
    }
}

/// Base64 of `bytes`, as a response field.
pub fn base64(bytes: &[u8]) -> Value {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    Value::String(STANDARD.encode(bytes))
}

/// An `Int64Value` checksum: a decimal string or a number, within 0..2^32.
#[derive(Debug, Clone, Copy)]
pub struct Crc(pub u32);

impl<'de> Deserialize<'de> for Crc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let number = match &value {
            Value::String(s) => s.parse::<u64>().ok(),
            Value::Number(n) => n.as_u64(),
            _ => None,
        };
        number
            .and_then(|n| u32::try_from(n).ok())
            .map(Crc)
            .ok_or_else(|| serde::de::Error::custom("a CRC32C checksum is an integer below 2^32"))
    }
}

/// The CRC32C of `data` as the API writes it (an int64 as a decimal string).
pub fn crc(data: &[u8]) -> Value {
    Value::String(crc32c::crc32c(data).to_string())
}

/// Checks a request's checksum of `data`: whether one was given and verified, or
/// INVALID_ARGUMENT naming both fields when it does not match.
pub fn verified(
    data: &[u8],
    given: Option<Crc>,
    (data_field, crc_field): (&str, &str),
) -> Result<bool, CloudError> {
    match given {
        None => Ok(false),
        Some(Crc(sum)) if sum == crc32c::crc32c(data) => Ok(true),
        Some(_) => Err(CloudError::invalid(format!(
            "The checksum in field {crc_field} did not match the data in field {data_field}."
        ))),
    }
}

/// RFC 3339 UTC time of epoch milliseconds.
pub fn timestamp(ms: Millis) -> Value {
    let nanos = i128::from(ms) * 1_000_000;
    let text = OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default();
    Value::String(text)
}

/// Epoch milliseconds of an RFC 3339 time field.
pub fn parse_timestamp(text: &str, field: &str) -> Result<Millis, CloudError> {
    let time = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        CloudError::invalid(format!(
            "Invalid value at '{field}': {text:?} is not an RFC 3339 time."
        ))
    })?;
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| CloudError::invalid(format!("Invalid value at '{field}': out of range.")))
}

/// A duration as the API writes it: whole seconds, `"<n>s"`.
pub fn duration(ms: i64) -> Value {
    Value::String(format!("{}s", ms / 1000))
}

/// Milliseconds of a duration field (`"<seconds>[.<fraction>]s"`).
pub fn parse_duration(text: &str, field: &str) -> Result<i64, CloudError> {
    let bad = || {
        CloudError::invalid(format!(
            "Invalid value at '{field}': {text:?} is not a duration such as \"86400s\"."
        ))
    };
    let seconds = text.strip_suffix('s').ok_or_else(bad)?;
    let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, ""));
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let digits = fraction.get(..3.min(fraction.len())).unwrap_or("");
    let millis: i64 = match digits.is_empty() {
        true => 0,
        false => format!("{digits:0<3}").parse().map_err(|_| bad())?,
    };
    if !fraction.bytes().all(|b| b.is_ascii_digit()) || whole < 0 {
        return Err(bad());
    }
    whole
        .checked_mul(1000)
        .and_then(|ms| ms.checked_add(millis))
        .ok_or_else(bad)
}

/// A JSON object from pairs, leaving out the absent ones.
pub fn object(members: Vec<(&str, Option<Value>)>) -> Value {
    let map: Map<String, Value> = members
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
        .collect();
    Value::Object(map)
}

/// A list response: the items under `field`, the next page's token when more follow, and
/// the total size.
pub fn page(field: &str, items: Vec<Value>, next: Option<String>, total: usize) -> Value {
    let mut map = Map::new();
    map.insert(field.to_owned(), Value::Array(items));
    if let Some(token) = next {
        map.insert("nextPageToken".into(), Value::String(token));
    }
    map.insert("totalSize".into(), json!(total));
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times_round_trip() {
        assert_eq!(parse_duration("86400s", "d").ok(), Some(86_400_000));
        assert_eq!(parse_duration("1.5s", "d").ok(), Some(1_500));
        assert!(parse_duration("86400", "d").is_err());
        assert!(parse_duration("-1s", "d").is_err());
        assert_eq!(duration(86_400_000), json!("86400s"));
        let t = timestamp(1_765_000_000_123);
        assert_eq!(
            parse_timestamp(t.as_str().unwrap_or(""), "t").ok(),
            Some(1_765_000_000_123)
        );
    }

    #[test]
    fn enums_come_as_names_or_numbers() {
        assert_eq!(
            enum_name(Some(&json!(1)), PURPOSE, "p").ok().flatten(),
            Some("ENCRYPT_DECRYPT")
        );
        assert_eq!(
            enum_name(Some(&json!("MAC")), PURPOSE, "p").ok().flatten(),
            Some("MAC")
        );
        assert_eq!(
            enum_name(Some(&json!(0)), PURPOSE, "p").ok().flatten(),
            None
        );
        assert!(enum_name(Some(&json!(2)), PURPOSE, "p").is_err());
    }

    #[test]
    fn checksums_are_checked() {
        let sum = crc32c::crc32c(b"data");
        assert_eq!(
            verified(b"data", Some(Crc(sum)), ("d", "c")).ok(),
            Some(true)
        );
        assert_eq!(verified(b"data", None, ("d", "c")).ok(), Some(false));
        assert!(verified(b"data", Some(Crc(sum ^ 1)), ("d", "c")).is_err());
    }
}
