//! The one retry policy of moviedb (backon's exponential backoff): from 100 ms, doubling up to
//! 2.5 s, each wait stretched by a random part of itself (jitter, so that processes failing
//! together do not retry together): at most 5 s. Every
//! loop that waits after a failure (the relay, the Kafka consumer, the feeds, the projector's
//! busy read models, a start before the database answers) takes its waits from here.

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use std::time::Duration;

/// The first wait.
pub const FIRST_WAIT: Duration = Duration::from_millis(100);
/// The longest wait before jitter, which may double it.
pub const LONGEST_WAIT: Duration = Duration::from_millis(2500);

/// The policy, unbounded in attempts; callers bound it by attempts
/// ([`ExponentialBuilder::with_max_times`]) or by time.
pub fn policy() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(FIRST_WAIT)
        .with_max_delay(LONGEST_WAIT)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
}

/// The waits of one run of failures: each longer than the last, up to [`LONGEST_WAIT`], until
/// [`Backoff::reset`] after a success.
#[derive(Debug)]
pub struct Backoff(ExponentialBackoff);

impl Default for Backoff {
    fn default() -> Self {
        Self(policy().build())
    }
}

impl Backoff {
    /// How long to wait after the next failure: at most twice [`LONGEST_WAIT`].
    pub fn next_wait(&mut self) -> Duration {
        self.0.next().unwrap_or(LONGEST_WAIT)
    }

    /// After a success: the next failure waits [`FIRST_WAIT`] again.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_to_the_cap_and_start_again_after_a_success() {
        let mut backoff = Backoff::default();
        let waits: Vec<Duration> = (0..12).map(|_| backoff.next_wait()).collect();
        // Jitter adds up to the wait itself: the n-th wait is in [base, 2 * base].
        assert!(
            waits[0] >= FIRST_WAIT && waits[0] <= 2 * FIRST_WAIT,
            "{waits:?}"
        );
        assert!(waits[3] >= 8 * FIRST_WAIT, "{waits:?}");
        assert!(
            waits.iter().all(|w| *w <= 2 * LONGEST_WAIT),
            "never past the cap and its jitter: {waits:?}"
        );
        assert!(waits[11] >= LONGEST_WAIT, "{waits:?}");
        backoff.reset();
        assert!(backoff.next_wait() <= 2 * FIRST_WAIT);
    }
}
