//! The event store conformance suite: every test runs against every adapter this machine can
//! run, SQLite (a temporary file) and MySQL (MariaDB, a database per test).

use futures::future::join_all;
use moviedb_event_store::test_support::MySqlTestDatabase;
use moviedb_event_store::{
    AppendError, AppendRequest, Credentials, EventStore, IdempotencyRecord, MySqlEventStore,
    NewEvent, SqliteEventStore, StreamGuard, UniqueKey,
};
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use uuid::Uuid;

/// A store under test, with whatever keeps its database alive.
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
);

async fn appends_several_events_atomically_and_reads_them_back(s: Subject) {
    let stream = Uuid::now_v7();
    let events = vec![event(1), event(2), event(3)];
    let done = s
        .store
        .append(append(stream, 0, events.clone()))
        .await
        .expect("append");
    assert_eq!(done.version, 3);
    assert_eq!(done.positions.len(), 3);
    let more = s
        .store
        .append(append(stream, 3, vec![event(4)]))
        .await
        .expect("second append");
    assert_eq!(more.version, 4);

    let read = s.store.read_stream(stream).await.expect("read");
    assert_eq!(
        read.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    for (stored, sent) in read.iter().zip(&events) {
        assert_eq!(stored.event_id, sent.event_id);
        assert_eq!(stored.payload, sent.payload);
        assert_eq!(stored.metadata, sent.metadata);
        assert_eq!(stored.stream_type, "movie");
        assert_eq!(stored.stream_id, stream);
    }
    assert!(read.windows(2).all(|w| w[0].position < w[1].position));
    assert!(s
        .store
        .read_stream(Uuid::now_v7())
        .await
        .expect("read")
        .is_empty());
}

async fn a_wrong_expected_version_is_a_conflict_and_writes_nothing(s: Subject) {
    let stream = Uuid::now_v7();
    s.store
        .append(append(stream, 0, vec![event(1), event(2)]))
        .await
        .expect("append");
    for expected in [0, 1, 3, 7] {
        let err = s
            .store
            .append(append(stream, expected, vec![event(9)]))
            .await
            .expect_err("conflict");
        assert!(
            matches!(err, AppendError::Conflict { expected_version, .. } if expected_version == expected),
            "{err:?}"
        );
    }
    assert_eq!(s.store.read_stream(stream).await.expect("read").len(), 2);
}

async fn a_failing_append_writes_none_of_its_events(s: Subject) {
    let stream = Uuid::now_v7();
    let key = UniqueKey::new("movie_title", "oz\u{1f}fleming");
    let mut first = append(Uuid::now_v7(), 0, vec![event(1)]);
    first.reserve.push(key.clone());
    s.store.append(first).await.expect("first claims the key");
    // Three events, then the reservation fails: none of the three may remain.
    let mut second = append(stream, 0, vec![event(1), event(2), event(3)]);
    second.reserve.push(key);
    assert!(matches!(
        s.store.append(second).await,
        Err(AppendError::KeyTaken { .. })
    ));
    assert!(s.store.read_stream(stream).await.expect("read").is_empty());
    assert_eq!(s.store.read_all(0, 100).await.expect("read all").len(), 1);
}

async fn thirty_two_concurrent_writers_on_one_stream_lose_and_duplicate_nothing(s: Subject) {
    let stream = Uuid::now_v7();
    s.store
        .append(append(stream, 0, vec![event(0)]))
        .await
        .expect("seed");

    // Round one: all 32 race for version 2 at once; exactly one may win.
    let racers = (0..32).map(|i| {
        let store = s.store.clone();
        tokio::spawn(async move { store.append(append(stream, 1, vec![event(i)])).await })
    });
    let results: Vec<_> = join_all(racers)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let wins = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|r| matches!(r, Err(AppendError::Conflict { .. })))
        .count();
    assert_eq!((wins, conflicts), (1, 31), "{results:?}");

    // Round two: each of 32 writers retries until its own event is in; every version has
    // exactly one winner and every writer's event lands exactly once.
    let writers = (0..32u32).map(|i| {
        let store = s.store.clone();
        tokio::spawn(async move {
            let mine = event(100 + i);
            let mut conflicts = 0u32;
            loop {
                let version = store
                    .read_stream(stream)
                    .await
                    .expect("read")
                    .last()
                    .map_or(0, |e| e.version);
                match store
                    .append(append(stream, version, vec![mine.clone()]))
                    .await
                {
                    Ok(done) => return (mine.event_id, done.version, conflicts),
                    Err(AppendError::Conflict { .. }) => conflicts += 1,
                    Err(other) => panic!("writer {i}: {other}"),
                }
            }
        })
    });
    let outcomes: Vec<_> = join_all(writers)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();
    let won_versions: HashSet<u64> = outcomes.iter().map(|(_, v, _)| *v).collect();
    assert_eq!(won_versions.len(), 32, "each version won exactly once");

    let stored = s.store.read_stream(stream).await.expect("read");
    assert_eq!(stored.len(), 34, "seed + round one winner + 32 writers");
    assert_eq!(
        stored.iter().map(|e| e.version).collect::<Vec<_>>(),
        (1..=34).collect::<Vec<_>>()
    );
    let ids: HashSet<Uuid> = stored.iter().map(|e| e.event_id).collect();
    assert_eq!(ids.len(), 34, "no event duplicated");
    for (id, version, _) in &outcomes {
        let at = stored
            .iter()
            .find(|e| e.event_id == *id)
            .expect("every acknowledged event is stored");
        assert_eq!(at.version, *version);
    }
    let total_conflicts: u32 = outcomes.iter().map(|(_, _, c)| c).sum();
    println!("32 writers: {total_conflicts} conflicts on the way");
}

async fn read_all_pages_by_position(s: Subject) {
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    s.store
        .append(append(a, 0, vec![event(1), event(2)]))
        .await
        .expect("a");
    s.store
        .append(append(b, 0, vec![event(3)]))
        .await
        .expect("b");
    s.store
        .append(append(a, 2, vec![event(4)]))
        .await
        .expect("a again");

    let all = s.store.read_all(0, 100).await.expect("all");
    assert_eq!(all.len(), 4);
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));
    let first_two = s.store.read_all(0, 2).await.expect("page 1");
    assert_eq!(first_two.len(), 2);
    let rest = s
        .store
        .read_all(first_two[1].position, 100)
        .await
        .expect("page 2");
    assert_eq!(rest.len(), 2);
    let seen: Vec<Uuid> = first_two.iter().chain(&rest).map(|e| e.event_id).collect();
    assert_eq!(seen, all.iter().map(|e| e.event_id).collect::<Vec<_>>());
    assert!(s
        .store
        .read_all(all[3].position, 10)
        .await
        .expect("tail")
        .is_empty());
}

async fn a_unique_key_is_reserved_with_the_events_and_refused_to_another_stream(s: Subject) {
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    let key = UniqueKey::new("email", "ada@example.com");
    let mut req = append(first, 0, vec![event(1)]);
    req.reserve.push(key.clone());
    s.store.append(req).await.expect("first");
    assert_eq!(s.store.key_owner(&key).await.expect("owner"), Some(first));

    let mut req = append(second, 0, vec![event(1)]);
    req.reserve.push(key.clone());
    match s.store.append(req).await {
        Err(AppendError::KeyTaken { kind, owner }) => {
            assert_eq!((kind.as_str(), owner), ("email", first))
        }
        other => panic!("expected KeyTaken, got {other:?}"),
    }
    assert!(s.store.read_stream(second).await.expect("read").is_empty());
}

async fn a_released_key_can_be_claimed_again(s: Subject) {
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    let key = UniqueKey::new("movie_title", "oz\u{1f}fleming");
    let mut req = append(first, 0, vec![event(1)]);
    req.reserve.push(key.clone());
    s.store.append(req).await.expect("claim");
    let mut req = append(first, 1, vec![event(2)]);
    req.release.push(key.clone());
    s.store.append(req).await.expect("release");
    assert_eq!(s.store.key_owner(&key).await.expect("owner"), None);
    let mut req = append(second, 0, vec![event(1)]);
    req.reserve.push(key.clone());
    s.store.append(req).await.expect("claim again");
    assert_eq!(s.store.key_owner(&key).await.expect("owner"), Some(second));
}

async fn credentials_are_written_with_the_events_and_only_once_per_email(s: Subject) {
    let user = Uuid::now_v7();
    let credentials = Credentials {
        user_id: user,
        email: "ada@example.com".into(),
        password_hash: "$argon2id$stub".into(),
    };
    let mut req = AppendRequest::new("user", user, 0, vec![event(1)]);
    req.credentials = Some(credentials.clone());
    s.store.append(req).await.expect("register");
    assert_eq!(
        s.store
            .credentials_by_email("ada@example.com")
            .await
            .expect("lookup"),
        Some(credentials.clone())
    );
    assert_eq!(
        s.store
            .credentials_by_email("bob@example.com")
            .await
            .expect("lookup"),
        None
    );

    // Same e-mail again, without a reservation: the credentials table itself refuses it,
    // and the events of that append are rolled back with it.
    let other = Uuid::now_v7();
    let mut req = AppendRequest::new("user", other, 0, vec![event(1)]);
    req.credentials = Some(Credentials {
        user_id: other,
        ..credentials
    });
    assert!(matches!(
        s.store.append(req).await,
        Err(AppendError::KeyTaken { .. })
    ));
    assert!(s.store.read_stream(other).await.expect("read").is_empty());
}

async fn an_idempotency_record_is_kept_with_the_append_and_never_overwritten(s: Subject) {
    let record = IdempotencyRecord {
        scope: "user-1".into(),
        key: "key-1".into(),
        request_hash: "a".repeat(64),
        response: json!({"status": 201, "body": {"id": "x"}}),
    };
    let stream = Uuid::now_v7();
    let mut req = append(stream, 0, vec![event(1)]);
    req.idempotency = Some(record.clone());
    s.store.append(req).await.expect("first");
    assert_eq!(
        s.store
            .idempotency_record("user-1", "key-1")
            .await
            .expect("get"),
        Some(record.clone())
    );
    assert_eq!(
        s.store
            .idempotency_record("user-2", "key-1")
            .await
            .expect("get"),
        None
    );

    let mut again = append(Uuid::now_v7(), 0, vec![event(2)]);
    again.idempotency = Some(IdempotencyRecord {
        response: json!({"status": 500}),
        ..record.clone()
    });
    assert!(matches!(
        s.store.append(again).await,
        Err(AppendError::IdempotencyKeyUsed)
    ));
    assert!(matches!(
        s.store.save_idempotency_record(record.clone()).await,
        Err(AppendError::IdempotencyKeyUsed)
    ));
    assert_eq!(
        s.store.read_all(0, 10).await.expect("all").len(),
        1,
        "the refused append wrote nothing"
    );
    assert_eq!(
        s.store
            .idempotency_record("user-1", "key-1")
            .await
            .expect("get"),
        Some(record)
    );
}

/// Many appends at once (committed together on SQLite): the ones that conflict or take a key
/// already taken are refused and leave nothing behind, the others are all stored, and each
/// caller is told its own outcome.
async fn concurrent_appends_each_get_their_own_answer_when_some_fail(s: Subject) {
    let taken = Uuid::now_v7();
    let mut first = append(taken, 0, vec![event(0)]);
    first.reserve.push(UniqueKey::new("movie_title", "taken"));
    s.store.append(first).await.expect("the key's owner");
    let existing = Uuid::now_v7();
    s.store
        .append(append(existing, 0, vec![event(0), event(1)]))
        .await
        .expect("a stream at version 2");

    // Every fifth append conflicts, every seventh claims the taken key; the rest are good.
    let requests: Vec<(usize, AppendRequest)> = (0..60)
        .map(|n| {
            let request = if n % 5 == 0 {
                append(existing, 1, vec![event(n as u32)])
            } else {
                let mut r = append(Uuid::now_v7(), 0, vec![event(n as u32), event(n as u32)]);
                let key = if n % 7 == 0 {
                    "taken".to_owned()
                } else {
                    format!("key-{n}")
                };
                r.reserve.push(UniqueKey::new("movie_title", key));
                r
            };
            (n, request)
        })
        .collect();
    let streams: Vec<Uuid> = requests.iter().map(|(_, r)| r.stream_id).collect();
    let outcomes = join_all(requests.into_iter().map(|(n, r)| {
        let store = s.store.clone();
        async move { (n, store.append(r).await) }
    }))
    .await;
    for ((n, outcome), stream) in outcomes.into_iter().zip(streams) {
        let stored = s.store.read_stream(stream).await.expect("read");
        if n % 5 == 0 {
            assert!(
                matches!(outcome, Err(AppendError::Conflict { .. })),
                "append {n}: {outcome:?}"
            );
            assert_eq!(stored.len(), 2, "append {n} added nothing to the stream");
        } else if n % 7 == 0 {
            assert!(
                matches!(outcome, Err(AppendError::KeyTaken { owner, .. }) if owner == taken),
                "append {n}: {outcome:?}"
            );
            assert!(stored.is_empty(), "append {n} left no event behind");
        } else {
            let appended = outcome.unwrap_or_else(|e| panic!("append {n}: {e}"));
            assert_eq!((appended.version, appended.positions.len()), (2, 2));
            assert_eq!(stored.len(), 2, "append {n} is stored whole");
            assert_eq!(
                s.store
                    .key_owner(&UniqueKey::new("movie_title", format!("key-{n}")))
                    .await
                    .expect("key"),
                Some(stream)
            );
        }
    }
    assert_eq!(
        s.store
            .key_owner(&UniqueKey::new("movie_title", "taken"))
            .await
            .expect("key"),
        Some(taken),
        "a refused claim did not move the key"
    );
}

/// Many appends at once that all succeed (committed together on both adapters): each is
/// stored whole, with its own versions, positions, keys, released key, idempotency record and,
/// on MySQL, one outbox row per event.
async fn concurrent_appends_that_all_succeed_are_stored_whole(s: Subject) {
    // Streams at version 2 holding a key each, to be renamed (release one key, take another).
    let mut renamed = Vec::new();
    for n in 0..16 {
        let stream = Uuid::now_v7();
        let mut first = append(stream, 0, vec![event(0), event(1)]);
        first
            .reserve
            .push(UniqueKey::new("movie_title", format!("old-{n}")));
        s.store.append(first).await.expect("a stream at version 2");
        renamed.push(stream);
    }
    let before = s.store.head_position().await.expect("head");
    let outbox_before = match s.store.outbox() {
        Some(outbox) => outbox.pending_count().await.expect("outbox"),
        None => 0,
    };

    let mut requests = Vec::new();
    for n in 0..48u32 {
        let mut r = append(Uuid::now_v7(), 0, vec![event(n), event(n + 100)]);
        r.reserve
            .push(UniqueKey::new("movie_title", format!("new-{n}")));
        r.idempotency = Some(IdempotencyRecord {
            scope: "bulk".into(),
            key: format!("k-{n}"),
            request_hash: format!("{n:064}"),
            response: json!({ "n": n }),
        });
        requests.push(r);
    }
    for (n, stream) in renamed.iter().enumerate() {
        let mut r = append(*stream, 2, vec![event(7)]);
        r.release
            .push(UniqueKey::new("movie_title", format!("old-{n}")));
        r.reserve
            .push(UniqueKey::new("movie_title", format!("renamed-{n}")));
        requests.push(r);
    }
    let expected: Vec<(Uuid, u64, usize)> = requests
        .iter()
        .map(|r| {
            let len = r.events.len();
            (r.stream_id, r.expected_version + len as u64, len)
        })
        .collect();
    let outcomes = join_all(requests.into_iter().map(|r| {
        let store = s.store.clone();
        async move { store.append(r).await }
    }))
    .await;

    let mut positions = HashSet::new();
    for ((stream, version, len), outcome) in expected.iter().zip(outcomes) {
        let appended = outcome.unwrap_or_else(|e| panic!("append to {stream}: {e}"));
        assert_eq!((appended.stream_id, appended.version), (*stream, *version));
        assert_eq!(appended.positions.len(), *len);
        let stored = s.store.read_stream(*stream).await.expect("read");
        assert_eq!(stored.len() as u64, *version, "stream {stream} is whole");
        let mine: Vec<i64> = stored
            .iter()
            .filter(|e| e.position > before)
            .map(|e| e.position)
            .collect();
        assert_eq!(
            mine, appended.positions,
            "the positions told are the stored ones, in version order"
        );
        positions.extend(mine);
    }
    assert_eq!(
        positions.len(),
        48 * 2 + 16,
        "every event has a position of its own"
    );
    for n in 0..48u32 {
        let record = s
            .store
            .idempotency_record("bulk", &format!("k-{n}"))
            .await
            .expect("record")
            .expect("the record is stored with its append");
        assert_eq!(record.response, json!({ "n": n }));
        assert_eq!(
            s.store
                .key_owner(&UniqueKey::new("movie_title", format!("new-{n}")))
                .await
                .expect("key"),
            Some(expected[n as usize].0)
        );
    }
    for (n, stream) in renamed.iter().enumerate() {
        let key = |name: &str| UniqueKey::new("movie_title", format!("{name}-{n}"));
        assert_eq!(s.store.key_owner(&key("old")).await.expect("key"), None);
        assert_eq!(
            s.store.key_owner(&key("renamed")).await.expect("key"),
            Some(*stream)
        );
    }
    if let Some(outbox) = s.store.outbox() {
        assert_eq!(
            outbox.pending_count().await.expect("outbox") - outbox_before,
            48 * 2 + 16,
            "one outbox row per event"
        );
    }
}

async fn an_empty_append_writes_nothing(s: Subject) {
    let stream = Uuid::now_v7();
    let done = s
        .store
        .append(append(stream, 0, vec![]))
        .await
        .expect("no-op");
    assert_eq!(done.version, 0);
    assert!(s.store.read_all(0, 10).await.expect("all").is_empty());
    s.store.ping().await.expect("ping");
}

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

/// Keys stored under an older rule are re-derived in place; one whose new form is already
/// held stays as it was, and running it again changes nothing.
async fn rekey_rewrites_old_keys_and_keeps_clashes(s: Subject) {
    let reserve = |key: &str| {
        let mut request = append(Uuid::now_v7(), 0, vec![event(1)]);
        request.reserve.push(UniqueKey::new("movie_title", key));
        request
    };
    let (plain, hidden, wide) = (
        reserve("inception\u{1f}nolan"),
        reserve("incep\u{200b}tion\u{1f}nolan"),
        reserve("ｍｅｍｅｎｔｏ\u{1f}nolan"),
    );
    let (plain_id, hidden_id, wide_id) = (plain.stream_id, hidden.stream_id, wide.stream_id);
    for request in [plain, hidden, wide] {
        s.store.append(request).await.expect("append");
    }
    let done = s
        .store
        .rekey("movie_title", moviedb_domain::text::text_key)
        .await
        .expect("rekey");
    assert_eq!((done.changed, done.clashes), (1, 1));
    let owner = |key: &'static str| {
        let store = s.store.clone();
        async move {
            store
                .key_owner(&UniqueKey::new("movie_title", key))
                .await
                .expect("owner")
        }
    };
    assert_eq!(owner("memento\u{1f}nolan").await, Some(wide_id));
    assert_eq!(owner("inception\u{1f}nolan").await, Some(plain_id));
    assert_eq!(owner("incep\u{200b}tion\u{1f}nolan").await, Some(hidden_id));
    let again = s
        .store
        .rekey("movie_title", moviedb_domain::text::text_key)
        .await
        .expect("rekey");
    assert_eq!((again.changed, again.clashes), (0, 1));
}

fn guarded(stream: Uuid, guard: Uuid, version: u64) -> AppendRequest {
    let mut request = append(stream, 0, vec![event(1)]);
    request.guard = Some(StreamGuard {
        stream_id: guard,
        version,
    });
    request
}

async fn a_guarded_append_is_written_only_while_the_guarded_stream_stays_put(s: Subject) {
    // The guarded stream (an admin's) at version 2.
    let admin = Uuid::now_v7();
    s.store
        .append(AppendRequest::new(
            "user",
            admin,
            0,
            vec![event(1), event(2)],
        ))
        .await
        .expect("the guarded stream");
    let written = Uuid::now_v7();
    s.store
        .append(guarded(written, admin, 2))
        .await
        .expect("guard at the stream's version");
    for stale in [0, 1, 3] {
        let stream = Uuid::now_v7();
        let err = s
            .store
            .append(guarded(stream, admin, stale))
            .await
            .expect_err("a guard off the stream's version");
        assert!(
            matches!(err, AppendError::GuardMoved { stream_id, version } if stream_id == admin && version == stale),
            "{err:?}"
        );
        assert!(s.store.read_stream(stream).await.expect("read").is_empty());
    }
    // A guard on a stream that does not exist never holds.
    let err = s
        .store
        .append(guarded(Uuid::now_v7(), Uuid::now_v7(), 1))
        .await
        .expect_err("no such guarded stream");
    assert!(matches!(err, AppendError::GuardMoved { .. }), "{err:?}");
    // The guarded stream moves on: the old guard fails, the new one holds.
    s.store
        .append(AppendRequest::new("user", admin, 2, vec![event(3)]))
        .await
        .expect("the guarded stream moves");
    assert!(matches!(
        s.store.append(guarded(Uuid::now_v7(), admin, 2)).await,
        Err(AppendError::GuardMoved { .. })
    ));
    s.store
        .append(guarded(Uuid::now_v7(), admin, 3))
        .await
        .expect("guard at the new version");
    assert_eq!(s.store.read_stream(written).await.expect("read").len(), 1);
}

async fn concurrent_guarded_appends_fail_alone_when_their_guard_moved(s: Subject) {
    let (current, moved) = (Uuid::now_v7(), Uuid::now_v7());
    for admin in [current, moved] {
        s.store
            .append(AppendRequest::new(
                "user",
                admin,
                0,
                vec![event(1), event(2)],
            ))
            .await
            .expect("an admin stream");
    }
    // 64 appends at once, so the MySQL writer groups them: every fourth is guarded on a
    // version its stream has left, the rest on current ones (many on the same guard).
    let requests: Vec<(Uuid, bool, AppendRequest)> = (0..64)
        .map(|n| {
            let stream = Uuid::now_v7();
            let stale = n % 4 == 0;
            let request = if stale {
                guarded(stream, moved, 1)
            } else {
                guarded(stream, current, 2)
            };
            (stream, stale, request)
        })
        .collect();
    let answers = join_all(requests.iter().map(|(_, _, request)| {
        let store = s.store.clone();
        let request = request.clone();
        async move { store.append(request).await }
    }))
    .await;
    for ((stream, stale, _), answer) in requests.iter().zip(answers) {
        let stored = s.store.read_stream(*stream).await.expect("read").len();
        if *stale {
            assert!(
                matches!(answer, Err(AppendError::GuardMoved { stream_id, version: 1 }) if stream_id == moved),
                "{answer:?}"
            );
            assert_eq!(stored, 0, "a refused append wrote nothing");
        } else {
            assert_eq!(answer.expect("a current guard").version, 1);
            assert_eq!(stored, 1);
        }
    }
}
