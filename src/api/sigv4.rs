//! AWS Signature Version 4, server side: parse the Authorization header and rebuild the
//! canonical request and string to sign from what arrived. Key derivation and the final
//! HMAC come from the `aws-sigv4` crate, so only the canonical forms are written here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// The only algorithm AWS SDKs use with the Authorization header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The access key id from the credential scope.
    pub access_key_id: String,
    /// `YYYYMMDD` from the credential scope.
    pub date: String,
    /// Region from the credential scope.
    pub region: String,
    /// Service from the credential scope.
    pub service: String,
    /// Lower-case header names, in the order signed.
    pub signed_headers: Vec<String>,
    /// Hex signature.
    pub signature: String,
}

/// Why an Authorization header cannot be used (IncompleteSignatureException).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

impl Authorization {
    /// Parses the header value, naming the first missing or malformed part.
    pub fn parse(value: &str) -> Result<Authorization, Malformed> {
        let rest = value
            .strip_prefix(ALGORITHM)
            .filter(|r| r.starts_with(' '))
            .ok_or_else(|| {
                Malformed(format!(
                    "Unsupported AWS 'algorithm': '{}'. Use {ALGORITHM}.",
                    first_word(value)
                ))
            })?;
        let mut credential = None;
        let mut signed_headers = None;
        let mut signature = None;
        for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some(("Credential", v)) => credential = Some(v),
                Some(("SignedHeaders", v)) => signed_headers = Some(v),
                Some(("Signature", v)) => signature = Some(v),
                _ => {
                    return Err(Malformed(format!(
                        "Authorization header has a malformed part '{part}'."
                    )))
                }
            }
        }
        let missing =
            |name: &str| Malformed(format!("Authorization header requires '{name}' parameter."));
        let credential = credential.ok_or_else(|| missing("Credential"))?;
        let signed_headers = signed_headers.ok_or_else(|| missing("SignedHeaders"))?;
        let signature = signature.ok_or_else(|| missing("Signature"))?;
        let scope: Vec<&str> = credential.split('/').collect();
        let [access_key_id, date, region, service, "aws4_request"] = scope.as_slice() else {
            return Err(Malformed(format!(
                "Credential should be scoped to a valid key id, date, region, service and 'aws4_request'; got '{credential}'."
            )));
        };
        Ok(Authorization {
            access_key_id: access_key_id.to_string(),
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
            signed_headers: header_names(signed_headers)?,
            signature: signature.to_owned(),
        })
    }

    /// `date/region/service/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// The SignedHeaders list: each name once, or the canonical request would not say which
/// of its lines the signature covers.
fn header_names(list: &str) -> Result<Vec<String>, Malformed> {
    let names: Vec<String> = list.split(';').map(str::to_owned).collect();
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(Malformed(format!(
                "SignedHeaders lists '{name}' more than once."
            )));
        }
    }
    Ok(names)
}

fn first_word(value: &str) -> &str {
    value.split_whitespace().next().unwrap_or("")
}

/// What was received, as the canonical request needs it.
pub struct Received<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path as received (percent-encoded).
    pub path: &'a str,
    /// Raw query string, if any.
    pub query: Option<&'a str>,
    /// The value(s) of each signed header, in signed-header order.
    pub headers: Vec<(&'a str, Vec<&'a str>)>,
    /// The body.
    pub body: &'a [u8],
}

/// The canonical request (SigV4 task 1).
pub fn canonical_request(r: &Received<'_>) -> String {
    let mut out = String::with_capacity(256 + r.body.len().min(64));
    out.push_str(r.method);
    out.push('\n');
    out.push_str(&canonical_path(r.path));
    out.push('\n');
    out.push_str(&canonical_query(r.query.unwrap_or("")));
    out.push('\n');
    let mut names = Vec::with_capacity(r.headers.len());
    for (name, values) in &r.headers {
        let joined: Vec<String> = values.iter().map(|v| collapse_spaces(v)).collect();
        out.push_str(name);
        out.push(':');
        out.push_str(&joined.join(","));
        out.push('\n');
        names.push(*name);
    }
    out.push('\n');
    out.push_str(&names.join(";"));
    out.push('\n');
    out.push_str(&hex(&Sha256::digest(r.body)));
    out
}

/// The string to sign (SigV4 task 2).
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    )
}

/// Each path segment URI-encoded again, as non-S3 services expect (the client encodes the
/// already encoded path once more).
fn canonical_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    path.split('/')
        .map(uri_encode)
        .collect::<Vec<_>>()
        .join("/")
}

/// Parameters sorted by encoded name, then value; each encoded once.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k)),
                uri_encode(&percent_decode(v)),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// RFC 3986 encoding of everything but the unreserved characters.
fn uri_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex_pair = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (
            bytes[i],
            hex_pair.and_then(|h| u8::from_str_radix(h, 16).ok()),
        ) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn collapse_spaces(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Lower-case hex (on every request's path: no per-byte formatting).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Parses `YYYYMMDDTHHMMSSZ` (ISO 8601 basic format, UTC).
pub fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> { text.get(range)?.parse().ok() };
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, minute, second) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).ok()?))
}

/// Formats a time as `YYYYMMDDTHHMMSSZ`.
pub fn format_amz_date(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let secs = i64::try_from(secs).unwrap_or(0);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

// Howard Hinnant's days-from-civil and its inverse (proleptic Gregorian calendar).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    // AWS's published SigV4 test suite: credentials, date and host of every vector.
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const DATE: &str = "20150830T123600Z";
    const SCOPE: &str = "20150830/us-east-1/service/aws4_request";

    fn signature(method: &str, path: &str, query: Option<&str>, extra: &[(&str, &str)]) -> String {
        let mut headers = vec![("host", vec!["example.amazonaws.com"])];
        headers.extend(extra.iter().map(|(n, v)| (*n, vec![*v])));
        headers.push(("x-amz-date", vec![DATE]));
        headers.sort();
        let creq = canonical_request(&Received {
            method,
            path,
            query,
            headers,
            body: b"",
        });
        let sts = string_to_sign(DATE, SCOPE, &creq);
        let time = parse_amz_date(DATE).unwrap();
        let key = aws_sigv4::sign::v4::generate_signing_key(SECRET, time, "us-east-1", "service");
        aws_sigv4::sign::v4::calculate_signature(key, sts.as_bytes())
    }

    #[test]
    fn published_test_suite_vectors() {
        let cases = [
            (
                "get-vanilla",
                "GET",
                "/",
                None,
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            (
                "post-vanilla",
                "POST",
                "/",
                None,
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
            (
                "get-vanilla-query-order-key-case",
                "GET",
                "/",
                Some("Param2=value2&Param1=value1"),
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
            // The suite's request line carries the raw UTF-8 path.
            (
                "get-utf8",
                "GET",
                "/\u{1234}",
                None,
                "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
            ),
        ];
        for (name, method, path, query, expected) in cases {
            assert_eq!(signature(method, path, query, &[]), expected, "{name}");
        }
    }

    #[test]
    fn get_vanilla_intermediate_forms() {
        let headers = vec![
            ("host", vec!["example.amazonaws.com"]),
            ("x-amz-date", vec![DATE]),
        ];
        let creq = canonical_request(&Received {
            method: "GET",
            path: "/",
            query: None,
            headers,
            body: b"",
        });
        assert_eq!(
            creq,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            string_to_sign(DATE, SCOPE, &creq),
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
        );
    }

    #[test]
    fn derived_signing_key_matches_the_documented_example() {
        let time = parse_amz_date("20120215T000000Z").unwrap();
        let key = aws_sigv4::sign::v4::generate_signing_key(SECRET, time, "us-east-1", "iam");
        assert_eq!(
            hex(key.as_ref()),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn parses_an_sdk_authorization_header() {
        let header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=abc";
        let auth = Authorization::parse(header).unwrap();
        assert_eq!(auth.access_key_id, "AKIDEXAMPLE");
        assert_eq!(auth.scope(), "20150830/us-east-1/kms/aws4_request");
        assert_eq!(auth.signed_headers, ["content-type", "host", "x-amz-date"]);
        for (bad, says) in [
            ("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc", "'Credential'"),
            ("AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/kms/aws4_request, Signature=abc", "'SignedHeaders'"),
            ("AWS4-HMAC-SHA256 Credential=A/20150830/us-east-1/kms/aws4_request, SignedHeaders=host", "'Signature'"),
            ("Basic dXNlcjpwYXNz", "algorithm"),
            ("AWS4-HMAC-SHA256 Credential=A/20150830/kms, SignedHeaders=host, Signature=abc", "scoped"),
        ] {
            assert!(Authorization::parse(bad).unwrap_err().0.contains(says), "{bad}");
        }
    }

    /// Text shaped like an Authorization header, its parts drawn from pieces that matter.
    fn authorization_like() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            Just("AWS4-HMAC-SHA256 ".to_owned()),
            Just("Credential=A/20150830/us-east-1/kms/aws4_request".to_owned()),
            Just("SignedHeaders=host;x-amz-date".to_owned()),
            Just("Signature=".to_owned()),
            Just(",".to_owned()),
            Just(";".to_owned()),
            Just("=".to_owned()),
            Just("/".to_owned()),
            ".{0,12}",
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|p| p.concat())
    }

    proptest::proptest! {
        /// Any header text parses or is Malformed; a parsed one lists each name once.
        #[test]
        fn any_authorization_parses_or_is_malformed(
            text in proptest::prop_oneof![authorization_like(), ".{0,80}"],
        ) {
            if let Ok(auth) = Authorization::parse(&text) {
                let names = &auth.signed_headers;
                for (i, name) in names.iter().enumerate() {
                    proptest::prop_assert!(!names[..i].contains(name));
                }
                let _ = auth.scope();
            }
        }

        /// Any date text parses or is None, and what parses formats back the same way
        /// when it is a real date.
        #[test]
        fn any_date_parses_or_is_refused(text in "[0-9TZ]{0,20}|.{0,20}") {
            if let Some(time) = parse_amz_date(&text) {
                let _ = format_amz_date(time);
            }
        }

        /// Any method, path, query, header values and body make a canonical request.
        #[test]
        fn any_request_has_a_canonical_form(
            path in ".{0,40}",
            query in proptest::option::of(".{0,40}"),
            values in proptest::collection::vec(".{0,20}", 0..4),
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
        ) {
            let headers = values.iter().map(|v| ("x-h", vec![v.as_str()])).collect();
            let creq = canonical_request(&Received {
                method: "POST",
                path: &path,
                query: query.as_deref(),
                headers,
                body: &body,
            });
            let _ = string_to_sign(DATE, SCOPE, &creq);
        }
    }

    #[test]
    fn dates_round_trip() {
        for text in [
            "20150830T123600Z",
            "20000229T000000Z",
            "19700101T000000Z",
            "20991231T235959Z",
        ] {
            assert_eq!(format_amz_date(parse_amz_date(text).unwrap()), text);
        }
        for bad in [
            "2015-08-30T12:36:00Z",
            "20151330T000000Z",
            "20150830T123600",
            "",
        ] {
            assert!(parse_amz_date(bad).is_none(), "{bad}");
        }
    }
}
