//! The gauges the services put on `/metrics` beside the request metrics: their names and help
//! texts live here, with the services, not in the stores that supply the values.

use std::time::Duration;

/// A value for a gauge of `/metrics`: its name, its help text and the value.
pub type GaugeValue = (&'static str, &'static str, f64);

/// Seconds from `micros` (since the epoch) to now; never negative.
fn age(micros: i64) -> f64 {
    (chrono::Utc::now().timestamp_micros() - micros).max(0) as f64 / 1e6
}

/// How long ago the newest event was stored (`stored`: microseconds since the epoch, from the
/// event store's `newest_recorded_at`).
pub fn newest_stored(stored: i64) -> GaugeValue {
    (
        "moviedb_event_store_newest_event_age_seconds",
        "How long ago the newest event was stored.",
        age(stored),
    )
}

/// How long ago the newest event the read models hold was written (`applied`: the read models'
/// `newest-applied-event` checkpoint; nothing before the first batch that kept it).
pub fn newest_applied(applied: Option<i64>) -> Option<GaugeValue> {
    Some((
        "moviedb_projection_newest_event_age_seconds",
        "How long ago the newest event the read models hold was written.",
        age(applied?),
    ))
}

/// How much older the newest applied event is than the newest stored one.
pub fn behind(stored: i64, applied: i64) -> GaugeValue {
    (
        "moviedb_projection_behind_seconds",
        "How much older the newest applied event is than the newest stored one (alert when above 30 for a minute).",
        (stored - applied).max(0) as f64 / 1e6,
    )
}

/// Dead letters waiting.
pub fn dead_letters(count: u64) -> GaugeValue {
    (
        "moviedb_dead_letters",
        "Events set aside as dead letters, waiting to be replayed or dropped.",
        count as f64,
    )
}

/// The MySQL outbox: the backlog, and how long its oldest event has waited (a relay that
/// stopped shows there).
pub fn outbox(pending: u64, oldest_waited: Duration) -> [GaugeValue; 2] {
    [
        (
            "moviedb_outbox_pending",
            "Events stored but not yet relayed.",
            pending as f64,
        ),
        (
            "moviedb_outbox_oldest_pending_age_seconds",
            "How long the oldest event not yet relayed has waited (alert when above 30).",
            oldest_waited.as_secs_f64(),
        ),
    ]
}
