//! The group writer against MariaDB, and its statements without one.

use super::connection::Held;
use super::replies::Positions;
use super::statements::{statements, Answer, BATCH_BYTES, STATEMENT_BYTES};
use super::{write_group, GroupOutcome};
use crate::{AppendRequest, IdempotencyRecord, NewEvent, StreamGuard, UniqueKey};
use sqlx::mysql::MySqlPool;
use uuid::Uuid;

fn request(n: usize, payload_bytes: usize) -> AppendRequest {
    let event = NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "MovieAdded".into(),
        schema_version: 1,
        payload: serde_json::json!({ "name": "é".repeat(payload_bytes / 2) }),
        metadata: serde_json::json!({}),
    };
    let mut request = AppendRequest::new("movie", Uuid::now_v7(), 1, vec![event]);
    request.guard = Some(StreamGuard {
        stream_id: Uuid::nil(),
        version: 3,
    });
    request
        .reserve
        .push(UniqueKey::new("movie_title", format!("k{n}")));
    request.idempotency = Some(IdempotencyRecord {
        scope: "s".into(),
        key: format!("i{n}"),
        request_hash: "0".repeat(64),
        response: serde_json::json!({}),
    });
    request
}

#[test]
fn a_small_group_is_one_batch_checked_first_and_answered_last() {
    let requests: Vec<_> = (0..3).map(|n| request(n, 100)).collect();
    let refs: Vec<&AppendRequest> = requests.iter().collect();
    let batches = statements(&refs, Positions::ReadBack).expect("these appends fit");
    assert_eq!(batches.len(), 1);
    assert_eq!(
        batches[0].answers,
        [
            Answer::Begin,
            Answer::Begin,
            // Three expected versions and one guard, counted together.
            Answer::Check,
            Answer::Written("an event's version is taken"),
            Answer::Written("an outbox row"),
            Answer::Written("a key is taken"),
            Answer::Written("an idempotency key is used"),
            Answer::Positions,
            Answer::Commit,
        ]
    );
    let sql = batches[0].sql.as_str();
    assert_eq!(sql.matches(";\n").count(), 8);
    assert!(sql.contains(") <> 4)"), "{sql}");

    // Where the server numbers a statement's rows consecutively, nothing is read back.
    let batches = statements(&refs, Positions::Consecutive).expect("these appends fit");
    let ids = requests
        .iter()
        .map(|r| r.events[0].event_id.to_string())
        .collect();
    assert_eq!(
        batches[0].answers[3..6],
        [
            Answer::EventsAt(ids),
            Answer::Written("an outbox row"),
            Answer::Written("a key is taken"),
        ]
    );
    assert!(!batches[0].answers.contains(&Answer::Positions));
    let sql = batches[0].sql.as_str();
    assert!(sql.contains("VALUES (LAST_INSERT_ID() + 0, "), "{sql}");
    assert!(sql.contains(", (LAST_INSERT_ID() + 2, "), "{sql}");
}

#[test]
fn a_large_group_is_split_into_statements_and_batches_under_the_packet_limit() {
    // 48 appends of about 120 KB of text each: 11 MB of SQL once in hexadecimal.
    let requests: Vec<_> = (0..48).map(|n| request(n, 120_000)).collect();
    let refs: Vec<&AppendRequest> = requests.iter().collect();
    let batches = statements(&refs, Positions::ReadBack).expect("these appends fit");
    assert!(batches.len() >= 3, "{} batches", batches.len());
    for batch in &batches {
        assert!(batch.sql.len() < BATCH_BYTES + 2 * STATEMENT_BYTES);
    }
    let answers: Vec<Answer> = batches.iter().flat_map(|b| b.answers.clone()).collect();
    let inserts = answers
        .iter()
        .filter(|a| **a == Answer::Written("an event's version is taken"))
        .count();
    assert!(inserts >= 5, "{inserts} event statements");
    assert_eq!(
        answers.iter().filter(|a| **a == Answer::Positions).count(),
        inserts
    );
    // One transaction over all the batches: opened by the first, committed by the last.
    assert_eq!(answers[..3], [Answer::Begin, Answer::Begin, Answer::Check]);
    assert!(batches[0].sql.as_str().contains(") <> 49)"));
    assert_eq!(answers.last(), Some(&Answer::Commit));
    assert_eq!(answers.iter().filter(|a| **a == Answer::Commit).count(), 1);
    let last = &batches[batches.len() - 1].answers;
    assert_eq!(last.last(), Some(&Answer::Commit));
}

/// A group written both ways (the server's numbering, and reading back): every append is
/// told the positions its events were stored at, each event has its outbox row, and a group
/// refused by a key writes nothing. 1 200 events, so more than one INSERT of events, each
/// numbering its rows from its own first value.
#[cfg(feature = "test-support")]
#[tokio::test]
async fn both_ways_of_learning_positions_answer_the_stored_ones() {
    let database = crate::test_support::MySqlTestDatabase::new();
    let store = crate::MySqlEventStore::connect(database.url())
        .await
        .expect("the test server");
    let pool = store.pool().clone();
    let modes = if Positions::of(&pool).await == Positions::Consecutive {
        vec![Positions::Consecutive, Positions::ReadBack]
    } else {
        eprintln!(
            "skipped the server's numbering: this server numbers concurrent inserts apart \
             (innodb_autoinc_lock_mode 2); only reading back is tried"
        );
        vec![Positions::ReadBack]
    };
    for mode in modes {
        let requests: Vec<AppendRequest> = (0..400)
            .map(|n| {
                let events = (0..3)
                    .map(|e| NewEvent {
                        event_id: Uuid::now_v7(),
                        event_type: "MovieAdded".into(),
                        schema_version: 1,
                        payload: serde_json::json!({ "n": n, "e": e }),
                        metadata: serde_json::json!({}),
                    })
                    .collect();
                AppendRequest::new("movie", Uuid::now_v7(), 0, events)
            })
            .collect();
        let refs: Vec<&AppendRequest> = requests.iter().collect();
        let GroupOutcome::Committed(done) =
            write_group(&pool, &mut Held::default(), &refs, mode).await
        else {
            panic!("{mode:?}: the group was not committed");
        };
        for (request, appended) in requests.iter().zip(&done) {
            assert_eq!(appended.positions.len(), 3);
            for (event, position) in request.events.iter().zip(&appended.positions) {
                let stored: i64 =
                    sqlx::query_scalar("SELECT position FROM events WHERE event_id = ?")
                        .bind(event.event_id.to_string())
                        .fetch_one(&pool)
                        .await
                        .expect("the event is stored");
                assert_eq!(stored, *position, "{mode:?}");
            }
        }
        let outbox: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox o JOIN events e ON e.position = o.position",
        )
        .fetch_one(&pool)
        .await
        .expect("count");
        assert_eq!(outbox, 1200, "{mode:?}: one outbox row per event");
        sqlx::query("DELETE FROM outbox")
            .execute(&pool)
            .await
            .expect("emptied");

        // The second append takes the first's key: the whole group is refused, nothing of
        // it stored, and the connection it used is clean for the next group.
        let mut taken: Vec<AppendRequest> = (0..2).map(|n| request(n, 10)).collect();
        for r in &mut taken {
            r.expected_version = 0;
            r.guard = None;
            r.reserve = vec![UniqueKey::new("movie_title", "the same")];
        }
        let refs: Vec<&AppendRequest> = taken.iter().collect();
        assert!(matches!(
            write_group(&pool, &mut Held::default(), &refs, mode).await,
            GroupOutcome::NotWritten(_)
        ));
        let left: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM events WHERE stream_id IN (?, ?)) \
             + (SELECT COUNT(*) FROM unique_keys WHERE `key` = 'the same') \
             + (SELECT COUNT(*) FROM outbox)",
        )
        .bind(taken[0].stream_id.to_string())
        .bind(taken[1].stream_id.to_string())
        .fetch_one(&pool)
        .await
        .expect("count");
        assert_eq!(left, 0, "{mode:?}: a refused group left rows behind");
    }
}

/// The writer keeps one connection between groups (no ping per group). A kept connection
/// the server has closed is not used again: found by the ping when it has been idle, or
/// given up after the group it failed (a group's outcome unknown to this side, answered as
/// such), and the next group is written on a fresh connection.
#[cfg(feature = "test-support")]
#[tokio::test]
async fn the_writer_keeps_its_connection_and_replaces_one_the_server_closed() {
    let database = crate::test_support::MySqlTestDatabase::new();
    let store = crate::MySqlEventStore::connect(database.url())
        .await
        .expect("the test server");
    let pool = store.pool().clone();
    let mode = Positions::of(&pool).await;
    let add = || AppendRequest::new("movie", Uuid::now_v7(), 0, request(1, 8).events);
    let mut held = Held::default();
    async fn written(
        pool: &MySqlPool,
        held: &mut Held,
        mode: Positions,
        request: AppendRequest,
    ) -> bool {
        matches!(
            write_group(pool, held, &[&request], mode).await,
            GroupOutcome::Committed(_)
        )
    }
    async fn kill(pool: &MySqlPool, id: u64) {
        sqlx::query(&format!("KILL CONNECTION {id}"))
            .execute(pool)
            .await
            .expect("kill the kept connection");
    }
    async fn kept_id(held: &mut Held) -> u64 {
        let (connection, _) = held.connection.as_mut().expect("a kept connection");
        sqlx::query_scalar("SELECT CONNECTION_ID()")
            .fetch_one(&mut **connection)
            .await
            .expect("the kept connection answers")
    }

    assert!(written(&pool, &mut held, mode, add()).await);
    let first = kept_id(&mut held).await;
    assert!(written(&pool, &mut held, mode, add()).await);
    assert_eq!(kept_id(&mut held).await, first, "the same connection again");

    // Closed and idle for longer than the ping threshold: the ping finds it.
    kill(&pool, first).await;
    tokio::time::sleep(
        moviedb_sql_kit::pool::PING_AFTER_IDLE + std::time::Duration::from_millis(200),
    )
    .await;
    assert!(written(&pool, &mut held, mode, add()).await);
    let second = kept_id(&mut held).await;
    assert_ne!(second, first, "a fresh connection replaced the closed one");

    // Closed just after use: the group fails, its connection is given up.
    kill(&pool, second).await;
    assert!(!written(&pool, &mut held, mode, add()).await);
    assert!(
        held.connection.is_none(),
        "a connection that failed is not kept"
    );
    assert!(written(&pool, &mut held, mode, add()).await);
    let third = kept_id(&mut held).await;
    assert!(third != first && third != second);
}
