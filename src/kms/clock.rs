//! The service's clock: system time plus an offset that only a development setup may move,
//! so deletion and rotation schedules can be exercised without waiting.

use std::sync::atomic::{AtomicI64, Ordering};

use super::{ErrorKind, KmsError, Millis};

const MILLIS_PER_DAY: i64 = 86_400_000;

/// Milliseconds in `days` days.
pub fn days(days: i64) -> Millis {
    days.saturating_mul(MILLIS_PER_DAY)
}

/// System time, shifted by an offset that moves only when the clock is controllable.
#[derive(Debug)]
pub struct Clock {
    /// Added to system time, in milliseconds.
    offset: AtomicI64,
    /// Whether `advance` is allowed (development settings only).
    controllable: bool,
}

impl Clock {
    /// The system clock; it cannot be moved.
    pub fn system() -> Clock {
        Clock {
            offset: AtomicI64::new(0),
            controllable: false,
        }
    }

    /// A development clock starting `offset_seconds` ahead of system time, movable with
    /// `advance`.
    pub fn controllable(offset_seconds: i64) -> Clock {
        Clock {
            offset: AtomicI64::new(offset_seconds.saturating_mul(1000)),
            controllable: true,
        }
    }

    /// Milliseconds since the Unix epoch, as this service sees it.
    pub fn now(&self) -> Millis {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let system = i64::try_from(since.as_millis()).unwrap_or(i64::MAX);
        system.saturating_add(self.offset.load(Ordering::SeqCst))
    }

    /// Moves the clock forward by `seconds` and returns the new time.
    pub fn advance(&self, seconds: i64) -> Result<Millis, KmsError> {
        if !self.controllable {
            return Err(KmsError::new(
                ErrorKind::UnsupportedOperation,
                "The clock of this service cannot be moved.",
            ));
        }
        if seconds < 0 {
            return Err(KmsError::new(
                ErrorKind::Validation,
                "The clock only moves forward.",
            ));
        }
        self.offset
            .fetch_add(seconds.saturating_mul(1000), Ordering::SeqCst);
        let now = self.now();
        tracing::warn!(seconds, now_ms = now, "development clock moved forward");
        Ok(now)
    }

    /// Whether this clock can be moved.
    pub fn is_controllable(&self) -> bool {
        self.controllable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_controllable_clock_moves_and_only_forward() {
        assert!(Clock::system().advance(1).is_err());
        let clock = Clock::controllable(0);
        let before = clock.now();
        let after = clock.advance(86_400).unwrap();
        assert!(after - before >= days(1));
        assert!(clock.advance(-1).is_err());
    }
}
