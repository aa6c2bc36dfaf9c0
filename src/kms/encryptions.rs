//! The AES-GCM encryption budget of each material version. With random 96-bit IVs, NIST
//! SP 800-38D allows at most 2^32 encryptions under one key; past that an IV collision,
//! which reveals the authentication key, becomes too likely. Each encryption takes one
//! unit; units are reserved durably in blocks, and a restart assumes the whole last block
//! was used. A material whose budget is spent refuses to encrypt until the key is rotated;
//! it still decrypts.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use uuid::Uuid;

use super::model::Key;
use super::{ErrorKind, Kms, KmsError};

/// The most encryptions one material may do: 2^32.
pub const MAX_ENCRYPTIONS: u64 = 1 << 32;

/// Encryptions used and reserved, per material.
pub(super) struct Budget {
    limit: u64,
    block: u64,
    counts: Mutex<HashMap<Uuid, Count>>,
    /// One reservation write at a time, so two callers never both extend one block.
    reserving: tokio::sync::Mutex<()>,
}

#[derive(Default, Clone, Copy)]
struct Count {
    used: u64,
    reserved: u64,
}

enum Take {
    Taken,
    Reserve(u64),
    Spent,
}

impl Budget {
    /// A budget of `limit` encryptions per material, reserved `block` at a time.
    pub(super) fn new(limit: u64, block: u64) -> Budget {
        Budget {
            limit: limit.min(MAX_ENCRYPTIONS),
            block: block.max(1),
            counts: Mutex::new(HashMap::new()),
            reserving: tokio::sync::Mutex::new(()),
        }
    }

    /// Resumes from the reservations in the sidecar, counting them as used.
    pub(super) fn resume(&self, reservations: Vec<(Uuid, u64)>) {
        let mut counts = self.counts();
        for (id, reserved) in reservations {
            counts.insert(
                id,
                Count {
                    used: reserved,
                    reserved,
                },
            );
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Count>> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self, id: Uuid) -> Take {
        let mut counts = self.counts();
        let count = counts.entry(id).or_default();
        if count.used < count.reserved {
            count.used += 1;
            return Take::Taken;
        }
        match count.reserved >= self.limit {
            true => Take::Spent,
            false => Take::Reserve(count.reserved.saturating_add(self.block).min(self.limit)),
        }
    }

    fn reserved(&self, id: Uuid) -> u64 {
        self.counts().get(&id).map_or(0, |c| c.reserved)
    }

    fn set_reserved(&self, id: Uuid, reserved: u64) {
        let mut counts = self.counts();
        let count = counts.entry(id).or_default();
        count.reserved = count.reserved.max(reserved);
    }
}

impl Kms {
    /// Takes one encryption from the budget of `material` of `key`, reserving a block
    /// durably first when the last one is used up.
    pub(super) async fn spend_encryption(&self, key: &Key, material: Uuid) -> Result<(), KmsError> {
        loop {
            let next = match self.budget.take(material) {
                Take::Taken => return Ok(()),
                Take::Spent => return Err(self.budget_spent(key)),
                Take::Reserve(next) => next,
            };
            let _one_writer = self.budget.reserving.lock().await;
            if self.budget.reserved(material) >= next {
                continue;
            }
            self.blocking(move |store| store.reserve_encryptions(material, next))
                .await?;
            self.budget.set_reserved(material, next);
        }
    }

    fn budget_spent(&self, key: &Key) -> KmsError {
        tracing::warn!(key_id = %key.id, "the current key material has reached its AES-GCM encryption limit");
        KmsError::new(
            ErrorKind::InvalidState,
            format!(
                "{}'s current key material has done the {} encryptions AES-GCM allows one key; \
                 rotate the key (RotateKeyOnDemand) to encrypt again.",
                self.arn(key),
                self.budget.limit
            ),
        )
    }
}
