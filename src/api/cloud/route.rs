//! The v1 REST paths: `/v1/{name}` for a resource, `/v1/{parent}/{collection}` for its
//! children, `/v1/{name}:{verb}` for a custom method, and the query parameters.

use std::collections::HashMap;

use hyper::Method;

use super::error::CloudError;

/// Each method served, by the name Cloud KMS gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    CreateKeyRing,
    GetKeyRing,
    ListKeyRings,
    CreateCryptoKey,
    GetCryptoKey,
    ListCryptoKeys,
    UpdateCryptoKey,
    UpdateCryptoKeyPrimaryVersion,
    Encrypt,
    Decrypt,
    CreateCryptoKeyVersion,
    GetCryptoKeyVersion,
    ListCryptoKeyVersions,
    UpdateCryptoKeyVersion,
    DestroyCryptoKeyVersion,
    RestoreCryptoKeyVersion,
    ImportCryptoKeyVersion,
    GetPublicKey,
    AsymmetricSign,
    AsymmetricDecrypt,
    MacSign,
    MacVerify,
    CreateImportJob,
    GetImportJob,
    ListImportJobs,
    GenerateRandomBytes,
}

impl Op {
    /// The method's full name, as Cloud Audit Logs record it.
    pub fn method_name(self) -> String {
        format!("google.cloud.kms.v1.KeyManagementService.{self:?}")
    }
}

/// A request's method and the resource or parent it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The method.
    pub op: Op,
    /// The resource name (or, for create, list and import, the parent's).
    pub name: String,
}

/// The route of `method` on `path`, or NOT_FOUND.
pub fn route(method: &Method, path: &str) -> Result<Route, CloudError> {
    let missing = || CloudError::no_method(method.as_str(), path);
    let rest = path.strip_prefix("/v1/").ok_or_else(missing)?;
    let (name, verb) = match rest.rsplit_once(':') {
        Some((name, verb)) => (name, Some(verb)),
        None => (rest, None),
    };
    let (name, public_key) = match name.strip_suffix("/publicKey") {
        Some(version) if verb.is_none() => (version, true),
        _ => (name, false),
    };
    let segments: Vec<&str> = name.split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(missing());
    }
    let kind = match segments.len() % 2 {
        0 => segments.get(segments.len().wrapping_sub(2)).copied(),
        _ => segments.last().copied(),
    };
    let is_collection = segments.len() % 2 == 1;
    let op = match (method.as_str(), kind, is_collection, verb, public_key) {
        ("GET", Some("cryptoKeyVersions"), false, None, true) => Op::GetPublicKey,
        (_, _, _, _, true) => return Err(missing()),
        ("POST", Some("keyRings"), true, None, _) => Op::CreateKeyRing,
        ("GET", Some("keyRings"), true, None, _) => Op::ListKeyRings,
        ("GET", Some("keyRings"), false, None, _) => Op::GetKeyRing,
        ("POST", Some("cryptoKeys"), true, None, _) => Op::CreateCryptoKey,
        ("GET", Some("cryptoKeys"), true, None, _) => Op::ListCryptoKeys,
        ("GET", Some("cryptoKeys"), false, None, _) => Op::GetCryptoKey,
        ("PATCH", Some("cryptoKeys"), false, None, _) => Op::UpdateCryptoKey,
        ("POST", Some("cryptoKeys"), false, Some(verb), _) => match verb {
            "encrypt" => Op::Encrypt,
            "decrypt" => Op::Decrypt,
            "updatePrimaryVersion" => Op::UpdateCryptoKeyPrimaryVersion,
            _ => return Err(missing()),
        },
        ("POST", Some("cryptoKeyVersions"), true, None, _) => Op::CreateCryptoKeyVersion,
        ("POST", Some("cryptoKeyVersions"), true, Some("import"), _) => Op::ImportCryptoKeyVersion,
        ("GET", Some("cryptoKeyVersions"), true, None, _) => Op::ListCryptoKeyVersions,
        ("GET", Some("cryptoKeyVersions"), false, None, _) => Op::GetCryptoKeyVersion,
        ("PATCH", Some("cryptoKeyVersions"), false, None, _) => Op::UpdateCryptoKeyVersion,
        ("POST", Some("cryptoKeyVersions"), false, Some(verb), _) => match verb {
            // `cryptoKeys/**:encrypt`: a version may be named instead of the primary.
            "encrypt" => Op::Encrypt,
            "destroy" => Op::DestroyCryptoKeyVersion,
            "restore" => Op::RestoreCryptoKeyVersion,
            "asymmetricSign" => Op::AsymmetricSign,
            "asymmetricDecrypt" => Op::AsymmetricDecrypt,
            "macSign" => Op::MacSign,
            "macVerify" => Op::MacVerify,
            _ => return Err(missing()),
        },
        ("POST", Some("importJobs"), true, None, _) => Op::CreateImportJob,
        ("GET", Some("importJobs"), true, None, _) => Op::ListImportJobs,
        ("GET", Some("importJobs"), false, None, _) => Op::GetImportJob,
        ("POST", Some("locations"), false, Some("generateRandomBytes"), _) => {
            Op::GenerateRandomBytes
        }
        _ => return Err(missing()),
    };
    // A collection path names its parent.
    let name = match is_collection {
        true => segments[..segments.len() - 1].join("/"),
        false => name.to_owned(),
    };
    Ok(Route { op, name })
}

/// The query parameters, percent-decoded (`+` is a space).
pub fn query(text: Option<&str>) -> Result<HashMap<String, String>, CloudError> {
    let mut params = HashMap::new();
    for pair in text.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        params.insert(decode(name)?, decode(value)?);
    }
    Ok(params)
}

fn decode(text: &str) -> Result<String, CloudError> {
    let bad = || CloudError::invalid(format!("Invalid percent-encoding in the query: {text:?}."));
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3).ok_or_else(bad)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "projects/p/locations/l/keyRings/r/cryptoKeys/k";

    fn op(method: Method, path: &str) -> Option<(Op, String)> {
        route(&method, path).ok().map(|r| (r.op, r.name))
    }

    #[test]
    fn paths_name_methods_and_resources() {
        let cases = [
            (
                Method::POST,
                "/v1/projects/p/locations/l/keyRings".to_owned(),
                Op::CreateKeyRing,
                "projects/p/locations/l",
            ),
            (Method::GET, format!("/v1/{KEY}"), Op::GetCryptoKey, KEY),
            (Method::POST, format!("/v1/{KEY}:encrypt"), Op::Encrypt, KEY),
            (
                Method::POST,
                format!("/v1/{KEY}/cryptoKeyVersions:import"),
                Op::ImportCryptoKeyVersion,
                KEY,
            ),
            (
                Method::GET,
                format!("/v1/{KEY}/cryptoKeyVersions/1/publicKey"),
                Op::GetPublicKey,
                &format!("{KEY}/cryptoKeyVersions/1"),
            ),
            (
                Method::POST,
                "/v1/projects/p/locations/l:generateRandomBytes".to_owned(),
                Op::GenerateRandomBytes,
                "projects/p/locations/l",
            ),
        ];
        for (method, path, expected, name) in cases {
            assert_eq!(
                op(method, &path),
                Some((expected, name.to_owned())),
                "{path}"
            );
        }
        assert_eq!(op(Method::DELETE, &format!("/v1/{KEY}")), None);
        assert_eq!(op(Method::POST, &format!("/v1/{KEY}:nope")), None);
        assert_eq!(op(Method::GET, "/v2/projects/p"), None);
        assert_eq!(op(Method::GET, "/v1/projects//locations"), None);
    }

    #[test]
    fn queries_are_decoded() {
        let q = query(Some(
            "filter=state%3DENABLED&%24alt=json%3Benum-encoding%3Dint&a+b=c",
        ));
        let q = q.unwrap_or_default();
        assert_eq!(q.get("filter").map(String::as_str), Some("state=ENABLED"));
        assert_eq!(
            q.get("$alt").map(String::as_str),
            Some("json;enum-encoding=int")
        );
        assert_eq!(q.get("a b").map(String::as_str), Some("c"));
        assert!(query(Some("x=%zz")).is_err());
    }
}
