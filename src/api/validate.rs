//! The AWS model's member constraints, reported in AWS's ValidationException wording.
//! Member names are lowerCamelCase, as AWS writes them; blobs are never echoed.

use crate::kms::{ErrorKind, KmsError};

/// `value` is how AWS names the value: `Value`, `Value null` or `Value '<v>'`.
fn failed(value: &str, member: &str, constraint: &str) -> KmsError {
    KmsError::new(
        ErrorKind::Validation,
        format!(
            "1 validation error detected: {value} at '{member}' failed to satisfy constraint: {constraint}"
        ),
    )
}

fn quoted(value: &str) -> String {
    format!("Value '{value}'")
}

/// A required member.
pub fn required<T>(value: Option<T>, member: &str) -> Result<T, KmsError> {
    value.ok_or_else(|| failed("Value null", member, "Member must not be null"))
}

/// A required sensitive member: AWS does not even say `null` for these.
pub fn required_secret<T>(value: Option<T>, member: &str) -> Result<T, KmsError> {
    value.ok_or_else(|| failed("Value", member, "Member must not be null"))
}

/// Length of a blob member, in bytes.
pub fn blob_len(member: &str, blob: &[u8], min: usize, max: usize) -> Result<(), KmsError> {
    length("Value", member, blob.len(), min, max)
}

/// Length of a string member, in characters.
pub fn str_len(member: &str, text: &str, min: usize, max: usize) -> Result<(), KmsError> {
    length(&quoted(text), member, text.chars().count(), min, max)
}

fn length(shown: &str, member: &str, len: usize, min: usize, max: usize) -> Result<(), KmsError> {
    if len < min {
        return Err(failed(
            shown,
            member,
            &format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if len > max {
        return Err(failed(
            shown,
            member,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// A numeric member's range.
pub fn range(member: &str, value: i64, min: i64, max: i64) -> Result<(), KmsError> {
    let shown = quoted(&value.to_string());
    if value < min {
        return Err(failed(
            &shown,
            member,
            &format!("Member must have value greater than or equal to {min}"),
        ));
    }
    if value > max {
        return Err(failed(
            &shown,
            member,
            &format!("Member must have value less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// An enum member: `value` must be one of `names`.
pub fn one_of(member: &str, value: &str, names: &[&str]) -> Result<(), KmsError> {
    if names.contains(&value) {
        return Ok(());
    }
    Err(failed(
        &quoted(value),
        member,
        &format!("Member must satisfy enum value set: [{}]", names.join(", ")),
    ))
}

/// Parses an enum member into one of our types, after checking it against AWS's full set.
pub fn parse_enum<T>(
    member: &str,
    value: &str,
    aws_names: &[&str],
    parse: fn(&str) -> Option<T>,
    unsupported: impl FnOnce() -> KmsError,
) -> Result<T, KmsError> {
    one_of(member, value, aws_names)?;
    parse(value).ok_or_else(unsupported)
}

/// A string member whose every character must be in the character class of the model's
/// regular expression `pattern` (written as AWS prints it); `allowed` tests one character.
pub fn pattern(
    member: &str,
    value: &str,
    pattern: &str,
    allowed: fn(char) -> bool,
) -> Result<(), KmsError> {
    if value.chars().all(allowed) {
        return Ok(());
    }
    Err(failed(
        &quoted(value),
        member,
        &format!("Member must satisfy regular expression pattern: {pattern}"),
    ))
}

/// The `Limit` and `Marker` members of a List operation: `Limit` 1..1000 as the model
/// allows, `default` when absent and at most `max` (the operation's own page size);
/// `Marker` 1..1024 characters of U+0020..U+00FF.
pub fn page_size(
    limit: Option<i64>,
    marker: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, KmsError> {
    if let Some(limit) = limit {
        range("limit", limit, 1, 1000)?;
    }
    if let Some(marker) = marker {
        str_len("marker", marker, 1, 1024)?;
        pattern("marker", marker, "[\\u0020-\\u00FF]*", |c| {
            matches!(c, '\u{20}'..='\u{ff}')
        })?;
    }
    Ok(limit.map_or(default, |l| usize::try_from(l).map_or(max, |l| l.min(max))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_aws_wording() {
        assert_eq!(
            blob_len("plaintext", &[0; 4097], 1, 4096).unwrap_err().message,
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length less than or equal to 4096"
        );
        assert_eq!(
            range("numberOfBytes", 0, 1, 1024).unwrap_err().message,
            "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1"
        );
        assert_eq!(
            required::<u8>(None, "keyId").unwrap_err().message,
            "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
        );
        assert_eq!(
            required_secret::<u8>(None, "plaintext").unwrap_err().message,
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must not be null"
        );
    }
}
