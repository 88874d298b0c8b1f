//! Token-bucket pacing for a fleet-wide message rate.
//!
//! Sleeping a fixed `1/rate` after every message drifts: each sleep overshoots by the timer's
//! granularity (about 1 ms on Linux) plus the time spent sending, so 10 000 msg/s silently becomes
//! 900. A token bucket instead credits tokens for the time that really passed, so oversleeping is
//! made up by a larger batch on the next wake-up, and the long-run rate is exact. The burst cap
//! stops a stall (broker back-pressure) from turning into an unbounded catch-up flood.

use std::time::{Duration, Instant};

/// How many seconds of traffic the bucket may hold: enough to absorb timer jitter, small enough
/// that a stall is not followed by a visible spike.
const BURST_SECONDS: f64 = 0.05;

/// A token bucket refilled at `rate` tokens per second, holding at most `burst`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A bucket for `rate` messages per second (must be positive and finite), starting with one
    /// token so the first message goes out at once.
    pub fn new(rate: f64, now: Instant) -> Self {
        TokenBucket {
            rate,
            // At least 2, so the fraction a late wake-up earns is kept rather than clipped away.
            burst: (rate * BURST_SECONDS).max(2.0),
            tokens: 1.0,
            last: now,
        }
    }

    /// Takes up to `max` whole tokens. `Ok(n)` with `n >= 1` when any are available, otherwise
    /// `Err(wait)`: how long until the next token.
    pub fn take(&mut self, now: Instant, max: u64) -> Result<u64, Duration> {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        let whole = self.tokens.floor().min(max as f64);
        if whole >= 1.0 {
            self.tokens -= whole;
            Ok(whole as u64)
        } else {
            let missing = 1.0 - self.tokens;
            Err(Duration::from_secs_f64((missing / self.rate).max(1e-6)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives the bucket on a virtual clock whose sleeps overshoot by `oversleep`.
    fn run(rate: f64, seconds: f64, oversleep: Duration, max: u64) -> u64 {
        let start = Instant::now();
        let end = start + Duration::from_secs_f64(seconds);
        let mut now = start;
        let mut bucket = TokenBucket::new(rate, now);
        let mut sent = 0;
        while now < end {
            match bucket.take(now, max) {
                Ok(n) => sent += n,
                Err(wait) => now += wait + oversleep,
            }
        }
        sent
    }

    #[test]
    fn long_run_rate_is_exact_despite_oversleeping() {
        for (rate, oversleep_us) in [(10.0, 1000), (1000.0, 1000), (20_000.0, 1200), (5.5, 0)] {
            let sent = run(rate, 10.0, Duration::from_micros(oversleep_us), 1024);
            let want = rate * 10.0;
            assert!(
                (sent as f64 - want).abs() <= want * 0.01 + 2.0,
                "rate {rate}: sent {sent}, want {want}"
            );
        }
    }

    #[test]
    fn a_stall_is_not_followed_by_a_flood() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(1000.0, t0);
        assert_eq!(bucket.take(t0, 10_000), Ok(1));
        // Ten seconds without taking: only the burst (50 ms worth) is available.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(bucket.take(later, 10_000), Ok(50));
        assert!(bucket.take(later, 10_000).is_err());
    }

    #[test]
    fn wait_says_when_the_next_token_comes() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(4.0, t0);
        assert_eq!(bucket.take(t0, 5), Ok(1));
        let wait = bucket.take(t0, 5).unwrap_err();
        assert!((wait.as_secs_f64() - 0.25).abs() < 1e-3, "{wait:?}");
        assert_eq!(bucket.take(t0 + wait, 5), Ok(1));
        // The caller's cap is respected.
        let mut fast = TokenBucket::new(1e6, t0);
        assert_eq!(fast.take(t0 + Duration::from_secs(1), 7), Ok(7));
    }
}
