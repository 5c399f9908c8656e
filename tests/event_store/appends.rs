//! Appends and reads: atomicity, expected versions, concurrency, paging by position.

use super::*;

pub(crate) async fn appends_several_events_atomically_and_reads_them_back(s: Subject) {
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

pub(crate) async fn a_wrong_expected_version_is_a_conflict_and_writes_nothing(s: Subject) {
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

pub(crate) async fn a_failing_append_writes_none_of_its_events(s: Subject) {
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

pub(crate) async fn thirty_two_concurrent_writers_on_one_stream_lose_and_duplicate_nothing(
    s: Subject,
) {
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

pub(crate) async fn read_all_pages_by_position(s: Subject) {
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

pub(crate) async fn an_empty_append_writes_nothing(s: Subject) {
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
