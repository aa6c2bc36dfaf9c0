//! Parsing the `KeyId` member: a key id, key ARN, alias name or alias ARN.

use uuid::Uuid;

use super::error::{ErrorKind, KmsError};

/// Where this daemon's ARNs point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Region in ARNs.
    pub region: String,
    /// Account in ARNs.
    pub account: String,
}

impl Identity {
    /// `arn:aws:kms:<region>:<account>:key/<id>`.
    pub fn key_arn(&self, id: Uuid) -> String {
        format!("arn:aws:kms:{}:{}:key/{id}", self.region, self.account)
    }

    /// `arn:aws:kms:<region>:<account>:alias/<name>` for a full alias name `alias/<name>`.
    pub fn alias_arn(&self, alias_name: &str) -> String {
        format!("arn:aws:kms:{}:{}:{alias_name}", self.region, self.account)
    }

    /// Parses a `KeyId` member as AWS does.
    pub fn parse_key_ref(&self, text: &str) -> Result<KeyRef, KmsError> {
        let resource = match text.strip_prefix("arn:") {
            Some(_) => self.resource_of(text)?,
            None => text,
        };
        if resource.starts_with("alias/") {
            return Ok(KeyRef::Alias(resource.to_owned()));
        }
        let id = resource.strip_prefix("key/").unwrap_or(resource);
        match Uuid::try_parse(id) {
            Ok(uuid) if id.len() == 36 => Ok(KeyRef::Id(uuid)),
            _ => Err(invalid_key_id(text)),
        }
    }

    /// The `key/...` or `alias/...` part of one of our ARNs.
    fn resource_of<'a>(&self, arn: &'a str) -> Result<&'a str, KmsError> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        match parts.as_slice() {
            ["arn", "aws", "kms", region, account, resource]
                if *region == self.region && *account == self.account =>
            {
                Ok(resource)
            }
            ["arn", "aws", "kms", region, _, _] if *region != self.region => Err(KmsError::new(
                ErrorKind::NotFound,
                format!("Invalid arn {region}"),
            )),
            _ => Err(invalid_key_id(arn)),
        }
    }
}

/// What a `KeyId` member names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// A key by id (from a bare id or a key ARN).
    Id(Uuid),
    /// An alias by full name, `alias/...`.
    Alias(String),
}

fn invalid_key_id(text: &str) -> KmsError {
    KmsError::new(ErrorKind::NotFound, format!("Invalid keyId '{text}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            region: "us-east-1".into(),
            account: "111122223333".into(),
        }
    }

    const ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn accepts_every_aws_form() {
        let id = Uuid::parse_str(ID).ok().map(KeyRef::Id);
        let me = identity();
        assert_eq!(me.parse_key_ref(ID).ok(), id);
        assert_eq!(
            me.parse_key_ref(&me.key_arn(Uuid::parse_str(ID).unwrap()))
                .ok(),
            id
        );
        let alias = Some(KeyRef::Alias("alias/app".into()));
        assert_eq!(me.parse_key_ref("alias/app").ok(), alias);
        assert_eq!(me.parse_key_ref(&me.alias_arn("alias/app")).ok(), alias);
    }

    #[test]
    fn rejects_malformed_and_foreign_ids() {
        let me = identity();
        for bad in [
            "nope",
            "1234abcd",
            "arn:aws:kms:us-east-1:111122223333:thing/x",
        ] {
            let e = me.parse_key_ref(bad).unwrap_err();
            assert_eq!(e.message, format!("Invalid keyId '{bad}'"));
        }
        let foreign = format!("arn:aws:kms:eu-west-1:111122223333:key/{ID}");
        assert_eq!(
            me.parse_key_ref(&foreign).unwrap_err().message,
            "Invalid arn eu-west-1"
        );
    }
}
