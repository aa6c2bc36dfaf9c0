//! Request bodies: exactly one JSON object of the operation's members, nothing after it but
//! whitespace, every member known. Nested structures must be objects too.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::error::Category;

use super::ApiError;
use crate::kms::{ErrorKind, KmsError};

/// Parses the body into an operation's request shape, naming the member that failed.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let Object(value) = serde_path_to_error::deserialize(&mut de).map_err(member_error)?;
    de.end().map_err(|e| not_json(&e))?;
    Ok(value)
}

/// A structure that only a JSON object can give (serde would also take an array).
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Fields<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a structure")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Fields(PhantomData)).map(Object)
    }
}

/// For `#[serde(default, deserialize_with = "object")]` on an optional structure member.
pub fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<Object<T>>::deserialize(d).map(|o| o.map(|Object(t)| t))
}

/// For `#[serde(default, deserialize_with = "objects")]` on an optional list of structures.
pub fn objects<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Vec<T>>, D::Error> {
    let list = Option::<Vec<Object<T>>>::deserialize(d)?;
    Ok(list.map(|l| l.into_iter().map(|Object(t)| t).collect()))
}

fn member_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if inner.classify() != Category::Data {
        return not_json(&inner);
    }
    let text = inner.to_string();
    if text.starts_with("unknown field `") {
        return unknown_member(&path).into();
    }
    let at = match path.as_str() {
        "." => "the request body".to_owned(),
        member => format!("member '{member}'"),
    };
    ApiError::serialization(format!("Invalid value for {at}: {}", aws_wording(&text)))
}

fn not_json(e: &serde_json::Error) -> ApiError {
    ApiError::serialization(format!("The request body is not valid JSON: {e}"))
}

/// AWS's words where a structure or list stands in the wrong place.
fn aws_wording(text: &str) -> &str {
    if text.starts_with("invalid type: sequence") {
        "Start of list found where not expected"
    } else if text.starts_with("invalid type: map") {
        "Start of structure or map found where not expected."
    } else {
        text
    }
}

/// A member that the operation does not take: refused, since AWS may act on it.
pub fn unknown_member(member: &str) -> KmsError {
    KmsError::new(
        ErrorKind::Validation,
        format!("The request has a member '{member}' that this operation does not take; it is refused rather than ignored."),
    )
}
