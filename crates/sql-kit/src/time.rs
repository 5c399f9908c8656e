//! Times as both stores keep them: UTC, to the microsecond.

use chrono::{DateTime, SubsecRound, Utc};

/// Now, truncated to microseconds (what MySQL's `DATETIME(6)` keeps), so a time stored reads
/// back equal.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Microseconds since the epoch, now.
pub fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

/// `at` as microseconds since the epoch.
pub fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// The time `micros` (since the epoch) names; `None` out of chrono's range.
pub fn from_micros(micros: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_goes_to_micros_and_back_unchanged() {
        let at = now();
        assert_eq!(from_micros(micros(at)), Some(at));
        assert_eq!(from_micros(i64::MAX), None);
    }
}
