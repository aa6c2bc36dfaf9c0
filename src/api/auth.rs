//! Who is calling: SigV4 verification of every request against the configured access keys,
//! with AWS's error types. Derived signing keys are cached per access key and date.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use hyper::http::request::Parts;
use hyper::HeaderMap;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::sigv4::{self, Authorization, Received};
use super::ApiError;
use crate::kms::Caller;

/// The most a request's X-Amz-Date may differ from our clock, as in AWS.
const MAX_SKEW: Duration = Duration::from_secs(5 * 60);
/// The service name in credential scopes.
const SERVICE: &str = "kms";
/// Bound on cached signing keys (a few per access key and day are in use at once).
const MAX_CACHED_KEYS: usize = 4096;

/// Headers the service reads one value of.
const SINGLE_HEADERS: [&str; 6] = [
    "Authorization",
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "X-Amz-Target",
    "Content-Type",
    "Host",
];
/// Headers every signature must cover.
const ALWAYS_SIGNED: [&str; 2] = ["host", "x-amz-date"];
/// Headers a signature must cover whenever the request carries them.
const SIGNED_IF_SENT: [&str; 2] = ["x-amz-target", "content-type"];

/// An access key id and a credential-scope date.
type ScopeId = (String, String);

/// One access key the daemon accepts.
pub struct AccessKey {
    /// The secret, held only to derive signing keys.
    pub secret: Zeroizing<String>,
    /// Who signs with it.
    pub caller: Caller,
}

/// Verifies SigV4 signatures.
pub struct Authenticator {
    /// Region expected in credential scopes.
    region: String,
    /// Access key id to its secret and principal.
    keys: HashMap<String, AccessKey>,
    /// (access key id, scope date) to the derived signing key: four HMACs saved per request.
    signing_keys: Mutex<HashMap<ScopeId, Zeroizing<Vec<u8>>>>,
}

impl Authenticator {
    /// An authenticator for `region` accepting `keys`.
    pub fn new(region: String, keys: HashMap<String, AccessKey>) -> Authenticator {
        Authenticator {
            region,
            keys,
            signing_keys: Mutex::new(HashMap::new()),
        }
    }

    /// The caller of a request whose signature verifies, or AWS's error for why not.
    pub fn verify(&self, parts: &Parts, body: &[u8], now: SystemTime) -> Result<Caller, ApiError> {
        once_each(&parts.headers)?;
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let Some(value) = header("authorization") else {
            return Err(error(
                "MissingAuthenticationTokenException",
                "Request is missing Authentication Token",
            ));
        };
        let auth =
            Authorization::parse(value).map_err(|m| error("IncompleteSignatureException", &m.0))?;
        if header("x-amz-security-token").is_some() {
            return Err(unrecognized());
        }
        let amz_date = header("x-amz-date").ok_or_else(|| {
            error(
                "IncompleteSignatureException",
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            )
        })?;
        let signed_at = sigv4::parse_amz_date(amz_date).ok_or_else(|| {
            error(
                "IncompleteSignatureException",
                &format!("X-Amz-Date '{amz_date}' is not in the form YYYYMMDDTHHMMSSZ."),
            )
        })?;
        self.check_scope(&auth, amz_date)?;
        check_signed(&auth, &parts.headers)?;
        let key = self
            .keys
            .get(&auth.access_key_id)
            .ok_or_else(unrecognized)?;
        check_skew(signed_at, now)?;
        let received = Received {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: signed_values(&auth, &parts.headers)?,
            body,
        };
        let canonical = sigv4::canonical_request(&received);
        let to_sign = sigv4::string_to_sign(amz_date, &auth.scope(), &canonical);
        let signing_key = self.signing_key(&auth, key, signed_at);
        let expected = aws_sigv4::sign::v4::calculate_signature(&*signing_key, to_sign.as_bytes());
        if expected.as_bytes().ct_eq(auth.signature.as_bytes()).into() {
            Ok(key.caller.clone())
        } else {
            tracing::debug!(access_key_id = %auth.access_key_id, "signature mismatch");
            Err(error(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            ))
        }
    }

    fn check_scope(&self, auth: &Authorization, amz_date: &str) -> Result<(), ApiError> {
        let date = amz_date.get(..8).unwrap_or_default();
        if auth.date != date {
            return Err(error(
                "InvalidSignatureException",
                &format!(
                    "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{date}', from '{amz_date}'.",
                    auth.date
                ),
            ));
        }
        if auth.region != self.region {
            return Err(error(
                "InvalidSignatureException",
                &format!(
                    "Credential should be scoped to a valid region, not '{}'.",
                    auth.region
                ),
            ));
        }
        if auth.service != SERVICE {
            return Err(error(
                "InvalidSignatureException",
                &format!("Credential should be scoped to correct service: '{SERVICE}'."),
            ));
        }
        Ok(())
    }

    fn signing_key(
        &self,
        auth: &Authorization,
        key: &AccessKey,
        signed_at: SystemTime,
    ) -> Zeroizing<Vec<u8>> {
        let mut cache = self
            .signing_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let id = (auth.access_key_id.clone(), auth.date.clone());
        if let Some(k) = cache.get(&id) {
            return k.clone();
        }
        let derived = aws_sigv4::sign::v4::generate_signing_key(
            &key.secret,
            signed_at,
            &self.region,
            SERVICE,
        );
        let derived = Zeroizing::new(derived.as_ref().to_vec());
        if cache.len() >= MAX_CACHED_KEYS {
            cache.clear();
        }
        cache.insert(id, derived.clone());
        derived
    }
}

/// Refuses a request that repeats a header the service reads one value of: which copy
/// counted would be up to the parser, not to what was signed.
fn once_each(headers: &HeaderMap) -> Result<(), ApiError> {
    for name in SINGLE_HEADERS {
        if headers.get_all(name).iter().nth(1).is_some() {
            return Err(error(
                "IncompleteSignatureException",
                &format!("The request must not carry more than one '{name}' header."),
            ));
        }
    }
    Ok(())
}

/// Host and X-Amz-Date are always signed; X-Amz-Target and Content-Type whenever sent, so
/// a captured request cannot be replayed as another operation or read as another format.
fn check_signed(auth: &Authorization, headers: &HeaderMap) -> Result<(), ApiError> {
    let sent = SIGNED_IF_SENT.iter().filter(|h| headers.contains_key(**h));
    for required in ALWAYS_SIGNED.iter().chain(sent) {
        if !auth.signed_headers.iter().any(|h| h == required) {
            return Err(error(
                "InvalidSignatureException",
                &format!("'{required}' must be a 'SignedHeader' in the AWS Authorization."),
            ));
        }
    }
    Ok(())
}

/// The values of each signed header, in signed order; all must be printable ASCII, since
/// a value left out of the canonical request would go unsigned.
fn signed_values<'a>(
    auth: &'a Authorization,
    headers: &'a HeaderMap,
) -> Result<Vec<(&'a str, Vec<&'a str>)>, ApiError> {
    auth.signed_headers
        .iter()
        .map(|name| {
            let values = headers.get_all(name.as_str()).iter().map(|v| {
                v.to_str().map_err(|_| {
                    error(
                        "InvalidSignatureException",
                        &format!("The value of the signed header '{name}' is not printable ASCII."),
                    )
                })
            });
            Ok((name.as_str(), values.collect::<Result<_, _>>()?))
        })
        .collect()
}

fn check_skew(signed_at: SystemTime, now: SystemTime) -> Result<(), ApiError> {
    let fmt = sigv4::format_amz_date;
    if signed_at + MAX_SKEW < now {
        return Err(error(
            "InvalidSignatureException",
            &format!(
                "Signature expired: {} is now earlier than {} ({} - 5 min.)",
                fmt(signed_at),
                fmt(now - MAX_SKEW),
                fmt(now)
            ),
        ));
    }
    if signed_at > now + MAX_SKEW {
        return Err(error(
            "InvalidSignatureException",
            &format!(
                "Signature not yet current: {} is still later than {} ({} + 5 min.)",
                fmt(signed_at),
                fmt(now + MAX_SKEW),
                fmt(now)
            ),
        ));
    }
    Ok(())
}

fn unrecognized() -> ApiError {
    error(
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
    )
}

fn error(type_name: &'static str, message: &str) -> ApiError {
    ApiError {
        type_name,
        status: hyper::StatusCode::BAD_REQUEST,
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn authenticator() -> Authenticator {
        let caller = Caller {
            principal: "arn:aws:iam::111122223333:user/dev".into(),
            account: "111122223333".into(),
            admin: false,
        };
        let key = AccessKey {
            secret: Zeroizing::new("secret".into()),
            caller,
        };
        Authenticator::new("us-east-1".into(), [("AKID".to_owned(), key)].into())
    }

    /// A header name: one the verifier reads, or any other.
    fn name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("authorization".to_owned()),
            Just("x-amz-date".to_owned()),
            Just("host".to_owned()),
            Just("x-amz-target".to_owned()),
            Just("content-type".to_owned()),
            Just("x-amz-security-token".to_owned()),
            "[a-z-]{1,12}",
        ]
    }

    /// A header value: near-valid SigV4 text, or any bytes a header may carry.
    fn value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(b"AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date;x-extra, Signature=00".to_vec()),
            Just(b"20150830T123600Z".to_vec()),
            "[ -~]{0,40}".prop_map(String::into_bytes),
            proptest::collection::vec(0x20u8..=0xff, 0..40),
        ]
    }

    proptest! {
        /// Any set of headers is refused with a 400, never a panic.
        #[test]
        fn any_headers_are_refused_cleanly(
            headers in proptest::collection::vec((name(), value()), 0..8),
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..32),
        ) {
            let mut request = hyper::Request::builder().method("POST").uri("/");
            for (name, value) in &headers {
                request = request.header(name.as_str(), value.as_slice());
            }
            let Ok(request) = request.body(()) else { return Ok(()) };
            let (parts, ()) = request.into_parts();
            let now = sigv4::parse_amz_date("20150830T123600Z").unwrap_or(SystemTime::UNIX_EPOCH);
            let refused = authenticator().verify(&parts, &body, now).unwrap_err();
            prop_assert_eq!(refused.status, hyper::StatusCode::BAD_REQUEST);
        }
    }
}
