//! The import token: opaque to clients, authenticated by an HMAC computed in the token, and
//! bound to one import job (so one wrapping key), one KMS key and one expiry.
//!
//! ```text
//! offset  size  field
//! 0       1     version = 0x01
//! 1       16    import job id (the wrapping key's CKA_ID)
//! 17      16    key id
//! 33      8     ParametersValidTo, epoch milliseconds, big-endian
//! 41      32    HMAC-SHA256 of bytes 0..41 under the token-resident import-token key
//! ```

use uuid::Uuid;

use super::model::ImportJob;
use super::{KmsError, Millis};
use crate::hsm::{Hsm, HsmError, SystemKey};

const VERSION: u8 = 1;
const BODY_LEN: usize = 41;
const MAC_LEN: usize = 32;

/// The authenticated contents of an import token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportToken {
    /// The import job, whose wrapping key must unwrap the material.
    pub job_id: Uuid,
    /// The only key the material may go into.
    pub key_id: Uuid,
    /// When the token stops being accepted.
    pub valid_to: Millis,
}

impl ImportToken {
    /// The token for `job`.
    pub fn for_job(job: &ImportJob) -> ImportToken {
        ImportToken {
            job_id: job.id,
            key_id: job.key_id,
            valid_to: job.valid_to,
        }
    }

    fn body(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(BODY_LEN + MAC_LEN);
        body.push(VERSION);
        body.extend_from_slice(self.job_id.as_bytes());
        body.extend_from_slice(self.key_id.as_bytes());
        body.extend_from_slice(&self.valid_to.to_be_bytes());
        body
    }

    /// The token's bytes, MAC included.
    pub async fn seal(&self, hsm: &Hsm) -> Result<Vec<u8>, HsmError> {
        let mut bytes = self.body();
        bytes.extend(hsm.mac(SystemKey::ImportToken, bytes.clone()).await?);
        Ok(bytes)
    }

    /// The contents of `bytes` if it is a token we issued, untouched; `None` otherwise.
    pub async fn open(bytes: &[u8], hsm: &Hsm) -> Result<Option<ImportToken>, KmsError> {
        if bytes.len() != BODY_LEN + MAC_LEN || bytes[0] != VERSION {
            return Ok(None);
        }
        let (body, mac) = bytes.split_at(BODY_LEN);
        let genuine = hsm
            .verify_mac(SystemKey::ImportToken, body.to_vec(), mac.to_vec())
            .await
            .map_err(KmsError::internal)?;
        if !genuine {
            return Ok(None);
        }
        let uuid_at = |at: usize| Uuid::from_slice(&body[at..at + 16]).ok();
        let mut valid_to = [0u8; 8];
        valid_to.copy_from_slice(&body[33..41]);
        Ok(uuid_at(1)
            .zip(uuid_at(17))
            .map(|(job_id, key_id)| ImportToken {
                job_id,
                key_id,
                valid_to: i64::from_be_bytes(valid_to),
            }))
    }
}
