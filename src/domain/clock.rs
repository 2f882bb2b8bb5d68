//! Where the archive's date rules get the current time.
//!
//! Retention, disposal and filing dates all ask the [`Clock`], never the system directly, so a
//! test can move time forward by years without waiting for it.

use std::fmt::Debug;
use std::sync::Mutex;

use chrono::{DateTime, SubsecRound as _, TimeDelta, Utc};

pub trait Clock: Debug + Send + Sync {
    /// Now, to the microsecond (what PostgreSQL keeps).
    fn now(&self) -> DateTime<Utc>;
}

/// The real time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

/// A clock that stands still until moved: for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn starting_at(now: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(now.trunc_subsecs(6)),
        }
    }

    /// Moves the clock forward (or back, with a negative delta).
    pub fn advance(&self, by: TimeDelta) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now = to.trunc_subsecs(6);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let start = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let clock = ManualClock::starting_at(start);
        assert_eq!(clock.now(), start);
        clock.advance(TimeDelta::days(365 * 30));
        assert_eq!(clock.now(), start + TimeDelta::days(365 * 30));
        clock.set(start);
        assert_eq!(clock.now(), start);
    }
}
