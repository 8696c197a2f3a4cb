//! The one retry policy of the client: full-jitter exponential backoff, bounded by the caller's
//! deadline (in Lambda, the invocation's remaining time).

use std::time::Duration;

use rand::RngExt;

/// Delays grow as `base * 2^(attempt-1)` up to `cap`; each actual delay is uniform in
/// `[0, that]` ("full jitter"), which spreads out clients retrying together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
    /// Upper bound of one attempt (also bounded by the remaining time to the deadline).
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(8),
            attempt_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The ceiling of the delay after failed attempt number `attempt` (1-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1).min(20))
            .unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// A random delay in `[0, ceiling(attempt)]`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        ceiling.mul_f64(rand::rng().random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        let ceilings: Vec<u64> = (1..=7).map(|a| p.ceiling(a).as_millis() as u64).collect();
        assert_eq!(ceilings, [500, 1000, 2000, 4000, 8000, 8000, 8000]);
        assert_eq!(p.ceiling(1000), p.cap);
    }

    #[test]
    fn delays_stay_within_the_ceiling() {
        let p = RetryPolicy::default();
        for attempt in 1..10 {
            for _ in 0..100 {
                assert!(p.delay(attempt) <= p.ceiling(attempt));
            }
        }
    }
}
