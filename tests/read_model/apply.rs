//! Applying events: idempotence, gaps, dead letters, repair from the store, folded loads.

use super::*;

pub(crate) async fn a_clean_pass_builds_movies_users_and_versions(s: Subject) {
    let (h, ids) = catalogue();
    let report = s.read.apply(&h.events, None).await.expect("applied");
    assert_eq!((report.applied, report.skipped), (9, 0));
    let paths = s.read.movie(ids[2]).await.expect("read").expect("present");
    assert_eq!(paths.imdb_score, 8.6);
    assert_eq!(paths.genres, vec!["Drama", "War", "History"]);
    assert_eq!(paths.version, 2);
    assert!(
        s.read.movie(ids[3]).await.expect("read").is_none(),
        "deleted"
    );
    let users = s.read.users(1, 10).await.expect("users");
    assert_eq!(users.total, 1);
    assert_eq!(users.items[0].role, "admin");
    assert_eq!(users.items[0].email, "ann@example.com");
    let versions = s.read.versions(&ids).await.expect("versions");
    assert_eq!(
        versions.get(&ids[3]),
        Some(&2),
        "a deleted movie keeps its version"
    );
}

pub(crate) async fn duplicates_and_cross_stream_disorder_give_the_same_tables(s: Subject) {
    let (h, _) = catalogue();
    let clean = sqlite().await;
    clean.read.apply(&h.events, None).await.expect("clean pass");
    // Every event twice; streams interleaved in reverse order of their first event, each
    // stream still in its own order (what Kafka partitions guarantee), over several batches.
    let mut streams: Vec<Uuid> = Vec::new();
    for e in &h.events {
        if !streams.contains(&e.stream_id) {
            streams.push(e.stream_id);
        }
    }
    streams.reverse();
    let mut delivery: Vec<StoredEvent> = Vec::new();
    for id in &streams {
        delivery.extend(h.events.iter().filter(|e| e.stream_id == *id).cloned());
    }
    let twice: Vec<StoredEvent> = delivery.iter().chain(delivery.iter()).cloned().collect();
    let mut skipped = 0;
    for batch in twice.chunks(3) {
        skipped += s.read.apply(batch, None).await.expect("applied").skipped;
    }
    assert_eq!(
        skipped,
        h.events.len() as u64,
        "the second copy of every event is skipped"
    );
    assert_eq!(
        s.read.dump().await.expect("dump"),
        clean.read.dump().await.expect("dump")
    );
}

pub(crate) async fn a_late_duplicate_never_brings_a_deleted_movie_back(s: Subject) {
    let (h, ids) = catalogue();
    s.read.apply(&h.events, None).await.expect("applied");
    let added = h
        .events
        .iter()
        .find(|e| e.stream_id == ids[3])
        .cloned()
        .expect("added");
    let report = s.read.apply(&[added], None).await.expect("applied");
    assert_eq!((report.applied, report.skipped), (0, 1));
    assert!(s.read.movie(ids[3]).await.expect("read").is_none());
}

pub(crate) async fn a_gap_keeps_nothing_of_the_batch_nor_its_checkpoint(s: Subject) {
    let (h, ids) = catalogue();
    let first = h.events[0].clone();
    let paths_update = h
        .events
        .iter()
        .find(|e| e.stream_id == ids[2] && e.version == 2)
        .cloned()
        .expect("update");
    let checkpoint = Checkpoint {
        name: "test".into(),
        position: 99,
    };
    let outcome = s
        .read
        .apply(&[first, paths_update], Some(&checkpoint))
        .await;
    assert!(
        matches!(
            outcome,
            Err(ReadModelError::Gap {
                have: 0,
                got: 2,
                ..
            })
        ),
        "{outcome:?}"
    );
    assert!(
        s.read.movie(ids[0]).await.expect("read").is_none(),
        "rolled back"
    );
    assert_eq!(s.read.checkpoint("test").await.expect("checkpoint"), None);
    s.read
        .apply(&h.events[..1], Some(&checkpoint))
        .await
        .expect("applied");
    assert_eq!(
        s.read.checkpoint("test").await.expect("checkpoint"),
        Some(99)
    );
}

pub(crate) async fn an_unappliable_event_is_dead_lettered_and_its_stream_goes_on(s: Subject) {
    let store: Arc<dyn EventStore> = Arc::new(NoStore);
    let projector = Projector::new(s.read.clone(), store);
    let id = Uuid::now_v7();
    let mut h = History::default();
    h.push("movie", id, "MovieRenamedBySomeFutureVersion", json!({}));
    h.movie(id, "Late", "Someone", &["Drama"], 5.0, 5.0);
    // Version 2 is an `Added` after a dead event; it applies, since the stream went on.
    projector.handle(&h.events, None).await.expect("handled");
    assert_eq!(s.read.dead_letter_count().await.expect("count"), 1);
    assert_eq!(projector.stats().snapshot().dead_lettered, 1);
    assert_eq!(
        s.read.movie(id).await.expect("read").map(|m| m.version),
        Some(2)
    );
}

/// A store with nothing in it, for projector tests that never need a repair.
pub(crate) struct NoStore;

#[async_trait::async_trait]
impl EventStore for NoStore {
    async fn rekey(
        &self,
        _: &str,
        _: for<'k> fn(&'k str) -> String,
    ) -> Result<moviedb_event_store::Rekeyed, moviedb_event_store::StoreError> {
        Ok(moviedb_event_store::Rekeyed::default())
    }
    async fn append(
        &self,
        _: AppendRequest,
    ) -> Result<moviedb_event_store::Appended, moviedb_event_store::AppendError> {
        Err(moviedb_event_store::StoreError::Config("read only".into()).into())
    }
    async fn read_stream(
        &self,
        _: Uuid,
    ) -> Result<Vec<StoredEvent>, moviedb_event_store::StoreError> {
        Ok(Vec::new())
    }
    async fn read_all(
        &self,
        _: i64,
        _: u32,
    ) -> Result<Vec<StoredEvent>, moviedb_event_store::StoreError> {
        Ok(Vec::new())
    }
    async fn head_position(&self) -> Result<i64, moviedb_event_store::StoreError> {
        Ok(0)
    }
    async fn stream_heads(&self) -> Result<Vec<(Uuid, u64)>, moviedb_event_store::StoreError> {
        Ok(Vec::new())
    }
    async fn credentials_by_email(
        &self,
        _: &str,
    ) -> Result<Option<moviedb_event_store::Credentials>, moviedb_event_store::StoreError> {
        Ok(None)
    }
    async fn key_owner(
        &self,
        _: &moviedb_event_store::UniqueKey,
    ) -> Result<Option<Uuid>, moviedb_event_store::StoreError> {
        Ok(None)
    }
    async fn idempotency_record(
        &self,
        _: &str,
        _: &str,
    ) -> Result<Option<moviedb_event_store::IdempotencyRecord>, moviedb_event_store::StoreError>
    {
        Ok(None)
    }
    async fn save_idempotency_record(
        &self,
        _: moviedb_event_store::IdempotencyRecord,
    ) -> Result<(), moviedb_event_store::AppendError> {
        Ok(())
    }
    async fn ping(&self) -> Result<(), moviedb_event_store::StoreError> {
        Ok(())
    }
}

pub(crate) async fn a_gap_in_the_feed_is_repaired_from_the_event_store(s: Subject) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        SqliteEventStore::connect(&format!("sqlite://{}", dir.path().join("e.db").display()))
            .await
            .expect("store");
    let id = Uuid::now_v7();
    let payloads = [
        (
            "MovieAdded",
            json!({ "name": "Rope", "director": "Alfred Hitchcock", "genres": ["Crime"], "imdb_score": 7.9, "popularity": 79.0 }),
        ),
        ("MovieUpdated", json!({ "imdb_score": 8.0 })),
        ("MovieUpdated", json!({ "popularity": 80.0 })),
    ];
    for (n, (event_type, payload)) in payloads.into_iter().enumerate() {
        let event = NewEvent {
            event_id: Uuid::now_v7(),
            event_type: event_type.into(),
            schema_version: 1,
            payload,
            metadata: json!({}),
        };
        store
            .append(AppendRequest::new("movie", id, n as u64, vec![event]))
            .await
            .expect("append");
    }
    let all = store.read_stream(id).await.expect("stream");
    let projector = Projector::new(s.read.clone(), Arc::new(store));
    // The feed lost version 2 and brings 1 and 3 out of order.
    projector
        .handle(&[all[2].clone(), all[0].clone()], None)
        .await
        .expect("handled");
    let movie = s.read.movie(id).await.expect("read").expect("present");
    assert_eq!(
        (movie.version, movie.imdb_score, movie.popularity),
        (3, 8.0, 80.0)
    );
    assert_eq!(projector.stats().snapshot().gaps_repaired, 1);
    assert_eq!(projector.stats().snapshot().applied, 3);

    // An event the feed never brings, with nothing after it: the catch-up after a rebuild
    // compares every stream with the log and finds it.
    let last = NewEvent {
        event_id: Uuid::now_v7(),
        event_type: "MovieUpdated".into(),
        schema_version: 1,
        payload: json!({ "imdb_score": 8.2 }),
        metadata: json!({}),
    };
    projector
        .store()
        .append(AppendRequest::new("movie", id, 3, vec![last]))
        .await
        .expect("append");
    assert_eq!(
        moviedb_projector::rebuild::catch_up(&projector)
            .await
            .expect("caught up"),
        1
    );
    let movie = s.read.movie(id).await.expect("read").expect("present");
    assert_eq!((movie.version, movie.imdb_score), (4, 8.2));
    assert_eq!(
        moviedb_projector::rebuild::catch_up(&projector)
            .await
            .expect("caught up"),
        0
    );
}

/// The rebuild's fast path: the log folded in memory (with duplicates, as a feed may bring
/// them) and loaded in bulk gives the same tables as applying it event by event.
pub(crate) async fn a_folded_load_gives_the_tables_applying_gives(s: Subject) {
    let (h, _) = catalogue();
    s.read.apply(&h.events, None).await.expect("applied");
    let live = s.read.dump().await.expect("dump");
    let mut fold = Fold::default();
    for event in h.events.iter().chain(&h.events[..3]) {
        fold.add(event);
    }
    let (streams, rejected) = fold.finish();
    assert!(rejected.is_empty(), "{rejected:?}");
    let shadow = s.read.begin_rebuild().await.expect("shadow");
    shadow.load(&streams).await.expect("loaded");
    s.read.finish_rebuild().await.expect("swap");
    assert_eq!(s.read.dump().await.expect("dump"), live);
}

/// Batches of new movies of a size split into several multi-row statements on SQLite (45:
/// 32, 8, 4 and 1) and of one larger than a split (203), and their histories: every row of
/// every table is written, once.
pub(crate) async fn a_large_batch_of_new_movies_is_written_whole(s: Subject) {
    let mut total = 0u64;
    let mut war = 0u64;
    for size in [45usize, 203] {
        let ids: Vec<Uuid> = (0..size).map(|_| Uuid::now_v7()).collect();
        let mut h = History::default();
        for (n, id) in ids.iter().enumerate() {
            let genres: &[&str] = if n % 3 == 0 {
                &["Drama", "War"]
            } else {
                &["Comedy"]
            };
            h.movie(
                *id,
                &format!("Movie {size}-{n}"),
                "Someone",
                genres,
                (n % 10) as f64,
                n as f64 / 10.0,
            );
        }
        let report = s.read.apply(&h.events, None).await.expect("applied");
        assert_eq!((report.applied, report.skipped), (size as u64, 0));
        total += size as u64;
        war += ids.iter().step_by(3).count() as u64;
        let versions = s.read.versions(&ids).await.expect("versions");
        assert_eq!(versions.len(), size);
        assert!(versions.values().all(|v| *v == 1));
        let count = |genres: Option<GenreFilter>| {
            let mut q = MovieQuery::default();
            q.filter.genres = genres;
            q.per_page = 1;
            let read = s.read.clone();
            async move { read.movies(&q).await.expect("page").total }
        };
        assert_eq!(count(None).await, total);
        assert_eq!(count(Some(GenreFilter::All(vec!["War".into()]))).await, war);
        assert_eq!(
            count(Some(GenreFilter::Any(vec!["Comedy".into()]))).await,
            total - war
        );
        for n in [
            0, 31, 32, 39, 40, 43, 44, 63, 64, 127, 191, 192, 199, 200, 202,
        ] {
            let Some(id) = ids.get(n) else { continue };
            let movie = s.read.movie(*id).await.expect("read").expect("present");
            assert_eq!(movie.name, format!("Movie {size}-{n}"));
        }
        let all: Vec<&StoredEvent> = h.events.iter().collect();
        s.read.record_history(&all).await.expect("histories");
        for n in [0, 32, 44, 64, 128, 192, 200, 202] {
            let Some(id) = ids.get(n) else { continue };
            let history = s.read.movie_history(*id).await.expect("history");
            assert_eq!(history.len(), 1, "movie {size}-{n}");
        }
    }
}

/// A movie's genre rows follow its genres: an edit that drops some and adds others, and then
/// a delete, leave no row behind (the tables equal a folded load of the same events).
pub(crate) async fn an_edit_or_delete_leaves_no_genre_row_behind(s: Subject) {
    let (kept, gone) = (Uuid::now_v7(), Uuid::now_v7());
    let mut h = History::default();
    h.movie(kept, "Kept", "Someone", &["Drama", "War"], 7.0, 70.0);
    h.movie(gone, "Gone", "Someone", &["War", "Crime"], 6.0, 60.0);
    h.push(
        "movie",
        kept,
        "MovieUpdated",
        json!({ "genres": ["drama", "Comedy"] }),
    );
    h.push("movie", gone, "MovieDeleted", json!({}));
    // Applied one at a time, so each goes through the path that edits rows.
    for event in &h.events {
        s.read
            .apply(std::slice::from_ref(event), None)
            .await
            .expect("applied");
    }
    let count = |genre: &str| {
        let mut q = MovieQuery::default();
        q.filter.genres = Some(GenreFilter::Any(vec![genre.into()]));
        q.per_page = 1;
        let read = s.read.clone();
        async move { read.movies(&q).await.expect("page").total }
    };
    assert_eq!(
        [
            count("War").await,
            count("Crime").await,
            count("Drama").await,
            count("Comedy").await
        ],
        [0, 0, 1, 1]
    );
    let dump = s.read.dump().await.expect("dump");
    assert_eq!(
        dump["genres"],
        json!([[kept.to_string(), "comedy"], [kept.to_string(), "drama"]]),
        "{dump}"
    );
}
