//! The service's clock: system time, plus (in builds with the `dev-clock` feature only) an
//! offset that a development setup may move, so deletion and rotation schedules can be
//! exercised without waiting.

#[cfg(feature = "dev-clock")]
use std::sync::atomic::{AtomicI64, Ordering};

use super::Millis;
#[cfg(feature = "dev-clock")]
use super::{ErrorKind, KmsError};

const MILLIS_PER_DAY: i64 = 86_400_000;
/// The most one `advance` may move the clock, and the largest start offset: ten years of
/// 365 days.
pub const MAX_ADVANCE_SECONDS: i64 = 10 * 365 * 86_400;

/// Milliseconds in `days` days.
pub fn days(days: i64) -> Millis {
    days.saturating_mul(MILLIS_PER_DAY)
}

/// System time, shifted by an offset that moves only when the clock is controllable.
#[derive(Debug)]
pub struct Clock {
    /// Added to system time, in milliseconds; `None` for the system clock.
    #[cfg(feature = "dev-clock")]
    offset: Option<AtomicI64>,
}

impl Clock {
    /// The system clock; it cannot be moved.
    pub fn system() -> Clock {
        Clock {
            #[cfg(feature = "dev-clock")]
            offset: None,
        }
    }

    /// Milliseconds since the Unix epoch, as this service sees it.
    pub fn now(&self) -> Millis {
        system_millis().saturating_add(self.offset_millis())
    }

    #[cfg(not(feature = "dev-clock"))]
    fn offset_millis(&self) -> Millis {
        0
    }
}

/// System time in milliseconds since the Unix epoch.
fn system_millis() -> Millis {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(feature = "dev-clock")]
impl Clock {
    /// A development clock starting `offset_seconds` ahead of system time, movable with
    /// `advance`.
    pub fn controllable(offset_seconds: i64) -> Clock {
        Clock {
            offset: Some(AtomicI64::new(offset_seconds.saturating_mul(1000))),
        }
    }

    fn offset_millis(&self) -> Millis {
        self.offset.as_ref().map_or(0, |o| o.load(Ordering::SeqCst))
    }

    /// Moves the clock forward by 0 to `MAX_ADVANCE_SECONDS` seconds and returns the new
    /// time; a move that would overflow is refused.
    pub fn advance(&self, seconds: i64) -> Result<Millis, KmsError> {
        let Some(offset) = &self.offset else {
            return Err(KmsError::new(
                ErrorKind::UnsupportedOperation,
                "The clock of this service cannot be moved.",
            ));
        };
        if !(0..=MAX_ADVANCE_SECONDS).contains(&seconds) {
            return Err(KmsError::new(
                ErrorKind::Validation,
                format!("The clock moves forward by 0 to {MAX_ADVANCE_SECONDS} seconds at a time, not {seconds}."),
            ));
        }
        let too_far = || KmsError::new(ErrorKind::Validation, "The clock cannot move that far.");
        let by = seconds.checked_mul(1000).ok_or_else(too_far)?;
        offset
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |o| {
                o.checked_add(by)
                    .filter(|o| system_millis().checked_add(*o).is_some())
            })
            .map_err(|_| too_far())?;
        let now = self.now();
        tracing::warn!(seconds, now_ms = now, "development clock moved forward");
        Ok(now)
    }

    /// Whether this clock can be moved.
    pub fn is_controllable(&self) -> bool {
        self.offset.is_some()
    }
}

#[cfg(all(test, feature = "dev-clock"))]
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
        assert!(clock.advance(0).is_ok());
    }

    #[test]
    fn steps_are_bounded_and_never_overflow() {
        let clock = Clock::controllable(0);
        assert!(clock.advance(MAX_ADVANCE_SECONDS).is_ok());
        let refused = clock.advance(MAX_ADVANCE_SECONDS + 1).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::Validation);
        let near_the_end = Clock::controllable(i64::MAX / 1000 - 1000);
        let before = near_the_end.now();
        let refused = near_the_end.advance(MAX_ADVANCE_SECONDS).unwrap_err();
        assert_eq!(
            (refused.kind, refused.message.as_str()),
            (ErrorKind::Validation, "The clock cannot move that far.")
        );
        assert!(
            near_the_end.now() - before < 1000,
            "a refused move moves nothing"
        );
    }
}
