//! When a failed attempt is tried again: exponential backoff with jitter.

use std::time::Duration;

use rand::Rng;

/// `initial * 2^(attempt-1)`, capped at `max`, then a random 50-100% of it ("equal jitter"),
/// so receivers coming back are not hit by every queued retry in the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(3600),
        }
    }
}

impl Backoff {
    /// The ceiling of the delay after the `attempt`-th failure (1-based), before jitter.
    pub fn ceiling(&self, attempt: i32) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        self.initial
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }

    /// The delay after the `attempt`-th failure, jittered.
    pub fn delay(&self, attempt: i32) -> Duration {
        let ceiling = self.ceiling(attempt);
        ceiling.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_jitter_below_the_ceiling() {
        let b = Backoff::default();
        assert_eq!(b.ceiling(1), Duration::from_secs(5));
        assert_eq!(b.ceiling(2), Duration::from_secs(10));
        assert_eq!(b.ceiling(4), Duration::from_secs(40));
        assert_eq!(b.ceiling(11), Duration::from_secs(3600));
        assert_eq!(b.ceiling(1000), Duration::from_secs(3600));
        for attempt in 1..12 {
            let d = b.delay(attempt);
            assert!(
                d <= b.ceiling(attempt) && d >= b.ceiling(attempt) / 2,
                "{attempt}: {d:?}"
            );
        }
    }
}
