//! Grouped appends and guards: each caller its own answer.

use super::*;

/// Many appends at once (committed together on SQLite): the ones that conflict or take a key
/// already taken are refused and leave nothing behind, the others are all stored, and each
/// caller is told its own outcome.
pub(crate) async fn concurrent_appends_each_get_their_own_answer_when_some_fail(s: Subject) {
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
pub(crate) async fn concurrent_appends_that_all_succeed_are_stored_whole(s: Subject) {
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

pub(crate) fn guarded(stream: Uuid, guard: Uuid, version: u64) -> AppendRequest {
    let mut request = append(stream, 0, vec![event(1)]);
    request.guard = Some(StreamGuard {
        stream_id: guard,
        version,
    });
    request
}

pub(crate) async fn a_guarded_append_is_written_only_while_the_guarded_stream_stays_put(
    s: Subject,
) {
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

pub(crate) async fn concurrent_guarded_appends_fail_alone_when_their_guard_moved(s: Subject) {
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

/// Text of every kind, in groups large enough to be sent in several statements and batches
/// (the MySQL writer writes values into its SQL as literals): every event, key and
/// idempotency record reads back byte for byte, and keys stay exact (no case or accent folded).
pub(crate) async fn grouped_appends_keep_every_byte_of_their_text(s: Subject) {
    const AWKWARD: [&str; 9] = [
        "Plain-Text_1.2:3",
        "it's \"quoted\"",
        "back\\slash \\' \\\" end\\",
        "'); DROP TABLE events; --",
        "_utf8mb4 X'41' 0x41",
        "Émile ÉMILE emile",
        "家族 🎬 \u{1F600}",
        "nul \u{0} tab \t newline \n cr \r",
        "",
    ];
    // Two appends of each text with about 60 KB of payload each: some 3 MB of rows, more than
    // one statement and one batch on MySQL.
    let bulk = "x'\\\"é🎬".repeat(6_000);
    let requests: Vec<AppendRequest> = (0..48)
        .map(|n| {
            let text = AWKWARD[n % AWKWARD.len()];
            let mut event = event(n as u32);
            event.payload = json!({ "name": text, "n": n, "bulk": bulk });
            event.metadata = json!({ "request_id": format!("{text}-{n}") });
            let mut request = append(Uuid::now_v7(), 0, vec![event]);
            request
                .reserve
                .push(UniqueKey::new("movie_title", format!("{text}|{n}")));
            request.idempotency = Some(IdempotencyRecord {
                scope: "bytes".into(),
                key: format!("{text}#{n}"),
                request_hash: format!("{n:064}"),
                response: json!({ "text": text }),
            });
            request
        })
        .collect();
    let outcomes = join_all(requests.iter().cloned().map(|r| {
        let store = s.store.clone();
        async move { store.append(r).await }
    }))
    .await;
    for (n, (request, outcome)) in requests.iter().zip(outcomes).enumerate() {
        let text = AWKWARD[n % AWKWARD.len()];
        let appended = outcome.unwrap_or_else(|e| panic!("append {n}: {e}"));
        let stored = s.store.read_stream(request.stream_id).await.expect("read");
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].position, appended.positions[0]);
        assert_eq!(stored[0].payload, request.events[0].payload, "append {n}");
        assert_eq!(stored[0].metadata, request.events[0].metadata, "append {n}");
        let key = UniqueKey::new("movie_title", format!("{text}|{n}"));
        assert_eq!(
            s.store.key_owner(&key).await.expect("key"),
            Some(request.stream_id),
            "key {n}"
        );
        let folded = UniqueKey::new("movie_title", format!("{}|{n}", text.to_lowercase()));
        if folded.key != key.key {
            assert_eq!(s.store.key_owner(&folded).await.expect("key"), None);
        }
        let record = s
            .store
            .idempotency_record("bytes", &format!("{text}#{n}"))
            .await
            .expect("record")
            .expect("stored");
        assert_eq!(record.response, json!({ "text": text }));
    }
    // A key of only letters, digits and `-_.:` (written into MySQL's SQL quoted, not as
    // hexadecimal) is kept exact too.
    let plain = UniqueKey::new("movie_title", AWKWARD[0]);
    let mut request = append(Uuid::now_v7(), 0, vec![event(0)]);
    request.reserve.push(plain.clone());
    s.store.append(request.clone()).await.expect("a plain key");
    assert_eq!(
        s.store.key_owner(&plain).await.expect("key"),
        Some(request.stream_id)
    );
    let folded = UniqueKey::new("movie_title", AWKWARD[0].to_lowercase());
    assert_eq!(s.store.key_owner(&folded).await.expect("key"), None);
}
