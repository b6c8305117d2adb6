//! Points in time. The core has no clock: the driver passes `now` in, read from the browser's
//! wall clock (`Date.now()`), and deadlines come out as [`Time`]s it sleeps until. A distinct
//! type keeps instants apart from durations, which stay plain milliseconds (`_ms` names), and
//! "no deadline" is `Option<Time>`, never a `NaN` or infinite sentinel.

use core::ops::{Add, Sub};

/// A point in time: milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Time(f64);

impl Time {
    pub const fn from_ms(epoch_ms: f64) -> Time {
        Time(epoch_ms)
    }

    /// Milliseconds since the Unix epoch (for JavaScript and storage).
    pub const fn ms(self) -> f64 {
        self.0
    }

    pub fn max(self, other: Time) -> Time {
        Time(self.0.max(other.0))
    }
}

/// `time + ms`: later by a duration.
impl Add<f64> for Time {
    type Output = Time;
    fn add(self, ms: f64) -> Time {
        Time(self.0 + ms)
    }
}

/// `time - ms`: earlier by a duration.
impl Sub<f64> for Time {
    type Output = Time;
    fn sub(self, ms: f64) -> Time {
        Time(self.0 - ms)
    }
}

/// `later - earlier`: the duration between, in ms.
impl Sub<Time> for Time {
    type Output = f64;
    fn sub(self, earlier: Time) -> f64 {
        self.0 - earlier.0
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::Time;

    #[test]
    fn instants_and_durations_combine_as_expected() {
        let t = Time::from_ms(1_000.0);
        assert_eq!((t + 500.0).ms(), 1_500.0);
        assert_eq!((t - 250.0).ms(), 750.0);
        assert_eq!((t + 500.0) - t, 500.0);
        assert!(t < t + 1.0);
        assert_eq!(t.max(t + 1.0), t + 1.0);
    }
}
