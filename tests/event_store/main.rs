//! The event store conformance suite: every test runs against every adapter this machine can
//! run, SQLite (a temporary file) and MySQL (MariaDB, a database per test).

use futures::future::join_all;
use moviedb_event_store::test_support::{column_charsets, MySqlTestDatabase};
use moviedb_event_store::{
    AppendError, AppendRequest, Credentials, EventStore, IdempotencyRecord, MySqlEventStore,
    NewEvent, SqliteEventStore, StreamGuard, UniqueKey,
};
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use uuid::Uuid;

/// A store under test, with whatever keeps its database alive.
mod appends;
mod grouped;
mod keys;
mod migrations;
use appends::*;
use grouped::*;
use keys::*;

struct Subject {
    store: Arc<dyn EventStore>,
    _keep: Box<dyn std::any::Any + Send>,
}

async fn sqlite() -> Subject {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("events.db").display());
    let store = SqliteEventStore::connect(&url).await.expect("sqlite store");
    Subject {
        store: Arc::new(store),
        _keep: Box::new(dir),
    }
}

async fn mysql() -> Subject {
    let db = MySqlTestDatabase::new();
    // 40 connections so that 32 writers really run at once.
    let store = MySqlEventStore::connect_with(db.url(), 40).await.expect(
        "MariaDB must be running on 127.0.0.1:3306 (see .ci/run) or MOVIEDB_TEST_MYSQL_URL set",
    );
    Subject {
        store: Arc::new(store),
        _keep: Box::new(db),
    }
}

fn event(n: u32) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "MovieUpdated".into(),
        schema_version: 1,
        payload: json!({ "imdb_score": n }),
        metadata: json!({ "actor_id": null, "request_id": format!("r{n}") }),
    }
}

fn append(stream: Uuid, expected: u64, events: Vec<NewEvent>) -> AppendRequest {
    AppendRequest::new("movie", stream, expected, events)
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite_adapter {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() { super::$case(super::sqlite().await).await })*
        }
        mod mysql_adapter {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() { super::$case(super::mysql().await).await })*
        }
    };
}

conformance!(
    rekey_rewrites_old_keys_and_keeps_clashes,
    appends_several_events_atomically_and_reads_them_back,
    a_wrong_expected_version_is_a_conflict_and_writes_nothing,
    a_failing_append_writes_none_of_its_events,
    thirty_two_concurrent_writers_on_one_stream_lose_and_duplicate_nothing,
    read_all_pages_by_position,
    a_unique_key_is_reserved_with_the_events_and_refused_to_another_stream,
    a_released_key_can_be_claimed_again,
    credentials_are_written_with_the_events_and_only_once_per_email,
    an_idempotency_record_is_kept_with_the_append_and_never_overwritten,
    an_empty_append_writes_nothing,
    concurrent_appends_each_get_their_own_answer_when_some_fail,
    concurrent_appends_that_all_succeed_are_stored_whole,
    a_guarded_append_is_written_only_while_the_guarded_stream_stays_put,
    concurrent_guarded_appends_fail_alone_when_their_guard_moved,
    grouped_appends_keep_every_byte_of_their_text,
    every_loser_of_a_race_for_a_key_is_told_the_winner,
);

/// The outbox relay: one active per database, rows only gone once removed.
#[tokio::test]
async fn one_relay_per_database_holds_the_outbox_lock() {
    let (a, b) = (MySqlTestDatabase::new(), MySqlTestDatabase::new());
    let first = MySqlEventStore::connect(a.url()).await.expect("store a");
    let other_db = MySqlEventStore::connect(b.url()).await.expect("store b");
    let outbox = first.outbox().expect("MySQL has an outbox");
    let mut held = outbox
        .try_lock()
        .await
        .expect("lock")
        .expect("free at first");
    assert!(held.held().await);
    assert!(
        outbox.try_lock().await.expect("lock").is_none(),
        "a second relay on the same database stands by"
    );
    let elsewhere = other_db
        .outbox()
        .expect("outbox")
        .try_lock()
        .await
        .expect("lock");
    assert!(elsewhere.is_some(), "another database has its own relay");
    drop(held);
    // The lock is released with its connection; a standby takes over.
    let mut took_over = None;
    for _ in 0..50 {
        took_over = outbox.try_lock().await.expect("lock");
        if took_over.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(took_over.is_some(), "the lock was released");

    let stream = Uuid::now_v7();
    first
        .append(append(stream, 0, vec![event(1), event(2)]))
        .await
        .expect("appended");
    let pending = outbox.pending(10).await.expect("pending");
    assert_eq!(
        pending.iter().map(|e| e.version).collect::<Vec<_>>(),
        [1, 2]
    );
    outbox
        .remove(&[pending[0].position])
        .await
        .expect("removed");
    assert_eq!(outbox.pending_count().await.expect("count"), 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite =
        SqliteEventStore::connect(&format!("sqlite://{}", dir.path().join("x.db").display()))
            .await
            .expect("sqlite");
    assert!(
        sqlite.outbox().is_none(),
        "SQLite is tailed, it keeps no outbox"
    );
}

/// `pending` reads the oldest rows still in the outbox, in position order, up to its limit,
/// whichever rows were removed before; `remove` takes only the rows it names, however many.
#[tokio::test]
async fn the_outbox_gives_its_oldest_rows_in_order_and_removes_only_those_named() {
    let db = MySqlTestDatabase::new();
    let store = MySqlEventStore::connect(db.url()).await.expect("store");
    let outbox = store.outbox().expect("MySQL has an outbox");
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    store
        .append(append(a, 0, vec![event(1), event(2)]))
        .await
        .expect("appended");
    store
        .append(append(b, 0, vec![event(3)]))
        .await
        .expect("appended");
    store
        .append(append(a, 2, vec![event(4), event(5)]))
        .await
        .expect("appended");
    let all = outbox.pending(10).await.expect("pending");
    let positions: Vec<i64> = all.iter().map(|e| e.position).collect();
    assert_eq!(positions.len(), 5);
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert_eq!(
        all.iter()
            .map(|e| (e.stream_id, e.version))
            .collect::<Vec<_>>(),
        [(a, 1), (a, 2), (b, 1), (a, 3), (a, 4)]
    );
    // Rows go out of order (the relay removes what it published, and positions commit out
    // of order): what is left is read from the oldest, whole.
    outbox
        .remove(&[positions[1], positions[3]])
        .await
        .expect("removed");
    let left = outbox.pending(10).await.expect("pending");
    assert_eq!(
        left.iter().map(|e| e.position).collect::<Vec<_>>(),
        [positions[0], positions[2], positions[4]]
    );
    assert_eq!(left[1].stream_id, b);
    assert_eq!(left[2].payload, all[4].payload);
    let first_two = outbox.pending(2).await.expect("pending");
    assert_eq!(
        first_two.iter().map(|e| e.position).collect::<Vec<_>>(),
        [positions[0], positions[2]]
    );
    // More positions than one statement takes, most of them not in the outbox.
    let many: Vec<i64> = (positions[4] + 1..positions[4] + 2_500)
        .chain([positions[0], positions[4]])
        .collect();
    outbox.remove(&many).await.expect("removed");
    let last = outbox.pending(10).await.expect("pending");
    assert_eq!(
        last.iter().map(|e| e.position).collect::<Vec<_>>(),
        [positions[2]]
    );
    outbox.remove(&[]).await.expect("nothing to remove");
    assert_eq!(outbox.pending_count().await.expect("count"), 1);
}

/// A sink that holds its deliveries until told, and keeps what it was given.
#[derive(Clone)]
struct Held(Arc<HeldSink>);

struct HeldSink {
    got: std::sync::Mutex<Vec<StoredEventKey>>,
    first: tokio::sync::Semaphore,
    entered: tokio::sync::Notify,
}

type StoredEventKey = (Uuid, u64);

#[async_trait::async_trait]
impl moviedb_event_store::feed::Sink for Held {
    async fn publish(&self, events: &[moviedb_event_store::StoredEvent]) -> anyhow::Result<()> {
        self.0.entered.notify_one();
        let _permit = self.0.first.acquire().await?;
        self.0
            .got
            .lock()
            .expect("sink")
            .extend(events.iter().map(|e| (e.stream_id, e.version)));
        Ok(())
    }
}

/// The relay goes back to waiting after a round that emptied the outbox (pausing first after a
/// busy one); an append committed while that round was publishing still gets relayed at the
/// next round, in order, and everything is removed from the outbox once delivered.
#[tokio::test]
async fn appends_during_a_relay_round_are_relayed_and_removed() {
    let db = MySqlTestDatabase::new();
    let store = MySqlEventStore::connect(db.url()).await.expect("store");
    let outbox = store.outbox().expect("MySQL has an outbox");
    let sink = Arc::new(HeldSink {
        got: std::sync::Mutex::new(Vec::new()),
        first: tokio::sync::Semaphore::new(0),
        entered: tokio::sync::Notify::new(),
    });
    let (tick, wake) = tokio::sync::watch::channel(0_u64);
    let cancel = tokio_util::sync::CancellationToken::new();
    let stream = Uuid::now_v7();
    // Ten events: a busy round, after which the relay pauses before the next one.
    store
        .append(append(stream, 0, (1..=10).map(event).collect()))
        .await
        .expect("appended");
    let relay = tokio::spawn(moviedb_event_store::relay::run(
        outbox.clone(),
        Held(sink.clone()),
        wake,
        cancel.clone(),
    ));
    // The first round is publishing versions 1 to 10: append 11 and 12 now, and say so.
    sink.entered.notified().await;
    store
        .append(append(stream, 10, vec![event(11), event(12)]))
        .await
        .expect("appended");
    tick.send_modify(|n| *n += 1);
    sink.first.add_permits(1_000);
    let mut delivered = Vec::new();
    for _ in 0..500 {
        delivered = sink.got.lock().expect("sink").clone();
        if delivered.len() >= 12 && outbox.pending_count().await.expect("count") == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    cancel.cancel();
    relay.await.expect("relay stopped");
    let want: Vec<(Uuid, u64)> = (1..=12).map(|v| (stream, v)).collect();
    assert_eq!(delivered, want);
    assert_eq!(outbox.pending_count().await.expect("count"), 0);
}

/// The levels of the events logged on this thread while it is installed.
#[derive(Clone, Default)]
struct Levels(Arc<std::sync::Mutex<Vec<tracing::Level>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Levels {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        self.0
            .lock()
            .expect("levels")
            .push(*event.metadata().level());
    }
}

/// A conflict or a taken key is the client's race or mistake: the store does not log it at
/// ERROR (it did, through `#[instrument(err)]`, once per 409).
#[tokio::test(flavor = "current_thread")]
async fn conflicts_and_taken_keys_are_not_logged_as_errors() {
    use tracing_subscriber::layer::SubscriberExt;
    for subject in [sqlite().await, mysql().await] {
        let levels = Levels::default();
        let _guard =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(levels.clone()));
        let stream = Uuid::now_v7();
        let key = UniqueKey::new("email", format!("{stream}@example.com"));
        let mut first = append(stream, 0, vec![event(1)]);
        first.reserve.push(key.clone());
        subject.store.append(first).await.expect("append");
        let conflict = subject
            .store
            .append(append(stream, 0, vec![event(2)]))
            .await;
        assert!(
            matches!(conflict, Err(AppendError::Conflict { .. })),
            "{conflict:?}"
        );
        let mut second = append(Uuid::now_v7(), 0, vec![event(3)]);
        second.reserve.push(key);
        let taken = subject.store.append(second).await;
        assert!(
            matches!(taken, Err(AppendError::KeyTaken { .. })),
            "{taken:?}"
        );
        let logged = levels.0.lock().expect("levels").clone();
        assert!(
            !logged.contains(&tracing::Level::ERROR),
            "logged at {logged:?}"
        );
    }
}
