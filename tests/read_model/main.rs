//! The read-model conformance suite, against SQLite (a temporary file) and MySQL (MariaDB, a
//! database per test), plus the projector's repair of gaps from a real event store.

use chrono::{Duration as TimeDelta, TimeZone, Utc};
use moviedb_event_store::test_support::MySqlTestDatabase;
use moviedb_event_store::{AppendRequest, EventStore, NewEvent, SqliteEventStore, StoredEvent};
use moviedb_projector::Projector;
use moviedb_read_model::{
    CachedReadModels, Checkpoint, Fold, GenreFilter, MovieFilter, MovieQuery, ReadModelError,
    ReadModels, Sort, SortField, SqlReadModels,
};
use serde_json::{json, Value};
use std::sync::Arc;
use uuid::Uuid;

struct Subject {
    read: Arc<dyn ReadModels>,
    url: String,
    _keep: Box<dyn std::any::Any + Send>,
}

async fn sqlite() -> Subject {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("read.db").display());
    Subject {
        read: Arc::new(
            SqlReadModels::connect(&url)
                .await
                .expect("sqlite read models"),
        ),
        url,
        _keep: Box::new(dir),
    }
}

async fn mysql() -> Subject {
    let db = MySqlTestDatabase::new();
    let read = SqlReadModels::connect(db.url()).await.expect(
        "MariaDB must be running on 127.0.0.1:3306 (see .ci/run) or MOVIEDB_TEST_MYSQL_URL set",
    );
    Subject {
        read: Arc::new(read),
        url: db.url().to_owned(),
        _keep: Box::new(db),
    }
}

/// Builds the events of a few streams, positions in order, as a store would.
#[derive(Default)]
struct History {
    events: Vec<StoredEvent>,
}

impl History {
    fn push(&mut self, stream_type: &str, stream_id: Uuid, event_type: &str, payload: Value) {
        let version = self
            .events
            .iter()
            .filter(|e| e.stream_id == stream_id)
            .count() as u64
            + 1;
        let position = self.events.len() as i64 + 1;
        self.events.push(StoredEvent {
            position,
            event_id: Uuid::now_v7(),
            stream_type: stream_type.into(),
            stream_id,
            version,
            event_type: event_type.into(),
            schema_version: 1,
            payload,
            metadata: json!({}),
            recorded_at: Utc
                .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
                .single()
                .expect("time")
                + TimeDelta::seconds(position),
        });
    }

    fn movie(
        &mut self,
        id: Uuid,
        name: &str,
        director: &str,
        genres: &[&str],
        score: f64,
        pop: f64,
    ) {
        self.push(
            "movie",
            id,
            "MovieAdded",
            json!({ "name": name, "director": director, "genres": genres,
                    "imdb_score": score, "popularity": pop }),
        );
    }
}

fn catalogue() -> (History, [Uuid; 5]) {
    let ids = [(); 5].map(|()| Uuid::now_v7());
    let mut h = History::default();
    h.movie(
        ids[0],
        "The Godfather",
        "Francis Ford Coppola",
        &["Crime", "Drama"],
        9.2,
        92.0,
    );
    h.movie(
        ids[1],
        "Psycho",
        "Alfred Hitchcock",
        &["Horror", "Thriller"],
        8.5,
        85.0,
    );
    h.movie(
        ids[2],
        "Paths of Glory",
        "Stanley Kubrick",
        &["Drama", "War"],
        8.4,
        84.0,
    );
    h.movie(
        ids[3],
        "100% Wolf",
        "Alexs Stadermann",
        &["Animation"],
        5.0,
        50.0,
    );
    h.push(
        "movie",
        ids[2],
        "MovieUpdated",
        json!({ "imdb_score": 8.6, "genres": ["Drama", "War", "History"] }),
    );
    h.movie(
        ids[4],
        "Vertigo",
        "Alfred Hitchcock",
        &["Mystery", "Thriller"],
        8.3,
        83.0,
    );
    h.push("movie", ids[3], "MovieDeleted", json!({}));
    let user = Uuid::now_v7();
    h.push(
        "user",
        user,
        "UserRegistered",
        json!({ "name": "Ann", "email": "ann@example.com", "role": "user",
                "registered_at": "2026-01-01T00:00:00Z" }),
    );
    h.push("user", user, "UserRoleChanged", json!({ "role": "admin" }));
    (h, ids)
}

fn names(page: &moviedb_read_model::Page<moviedb_read_model::MovieView>) -> Vec<&str> {
    page.items.iter().map(|m| m.name.as_str()).collect()
}

async fn a_clean_pass_builds_movies_users_and_versions(s: Subject) {
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

async fn duplicates_and_cross_stream_disorder_give_the_same_tables(s: Subject) {
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

async fn a_late_duplicate_never_brings_a_deleted_movie_back(s: Subject) {
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

async fn a_gap_keeps_nothing_of_the_batch_nor_its_checkpoint(s: Subject) {
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

async fn filters_sort_and_pages_as_documented(s: Subject) {
    let (h, _) = catalogue();
    s.read.apply(&h.events, None).await.expect("applied");
    let q = |f: fn(&mut MovieQuery)| {
        let mut query = MovieQuery::default();
        f(&mut query);
        query
    };
    let all_of = s
        .read
        .movies(&q(|q| {
            q.filter.genres = Some(GenreFilter::All(vec!["drama".into(), " WAR".into()]))
        }))
        .await
        .expect("q");
    assert_eq!(names(&all_of), vec!["Paths of Glory"]);
    let any_of = s
        .read
        .movies(&q(|q| {
            q.filter.genres = Some(GenreFilter::Any(vec!["War".into(), "Horror".into()]));
            q.sort = Sort {
                field: SortField::Name,
                descending: false,
            };
        }))
        .await
        .expect("q");
    assert_eq!(names(&any_of), vec!["Paths of Glory", "Psycho"]);
    let scores = s
        .read
        .movies(&q(|q| {
            q.filter.imdb_score_gte = Some(8.4);
            q.filter.imdb_score_lte = Some(8.6);
            q.sort = Sort {
                field: SortField::ImdbScore,
                descending: true,
            };
        }))
        .await
        .expect("q");
    assert_eq!(names(&scores), vec!["Paths of Glory", "Psycho"]);
    let popular = s
        .read
        .movies(&q(|q| {
            q.filter.popularity_gte = Some(84.0);
            q.filter.popularity_lte = Some(90.0);
        }))
        .await
        .expect("q");
    assert_eq!(names(&popular), vec!["Psycho", "Paths of Glory"]);
    let director = s
        .read
        .movies(&q(|q| q.filter.director = Some("alfred HITCHCOCK".into())))
        .await
        .expect("q");
    assert_eq!(names(&director), vec!["Psycho", "Vertigo"]);
    let contains = s
        .read
        .movies(&q(|q| q.name_contains = Some("GOD".into())))
        .await
        .expect("q");
    assert_eq!(names(&contains), vec!["The Godfather"]);
    // `%` is a character here, not a wildcard; the movie with it was deleted.
    let percent = s
        .read
        .movies(&q(|q| q.name_contains = Some("%".into())))
        .await
        .expect("q");
    assert_eq!(percent.total, 0);
    let page = s
        .read
        .movies(&q(|q| {
            q.sort = Sort {
                field: SortField::Name,
                descending: true,
            };
            q.per_page = 3;
            q.page = 2;
        }))
        .await
        .expect("q");
    assert_eq!(page.total, 4);
    assert_eq!(names(&page), vec!["Paths of Glory"]);
}

async fn equal_sort_keys_are_broken_by_id_so_pages_never_overlap(s: Subject) {
    let mut h = History::default();
    let ids: Vec<Uuid> = (0..7).map(|_| Uuid::now_v7()).collect();
    for (n, id) in ids.iter().enumerate() {
        h.movie(
            *id,
            &format!("Same {n}"),
            "Same Director",
            &["Drama"],
            7.0,
            70.0,
        );
    }
    s.read.apply(&h.events, None).await.expect("applied");
    let mut seen = Vec::new();
    for page in 1..=3 {
        let query = MovieQuery {
            sort: Sort {
                field: SortField::ImdbScore,
                descending: true,
            },
            per_page: 3,
            page,
            ..MovieQuery::default()
        };
        seen.extend(
            s.read
                .movies(&query)
                .await
                .expect("q")
                .items
                .into_iter()
                .map(|m| m.id),
        );
    }
    assert_eq!(seen, ids, "ties come in id order, each exactly once");
}

async fn a_rebuild_swaps_in_tables_equal_to_the_live_ones(s: Subject) {
    let (h, ids) = catalogue();
    s.read.apply(&h.events, None).await.expect("applied");
    let live = s.read.dump().await.expect("dump");
    let shadow = s.read.begin_rebuild().await.expect("shadow");
    shadow.apply(&h.events[..4], None).await.expect("partial");
    // Readers still see the live tables while the shadow fills.
    assert!(s.read.movie(ids[4]).await.expect("read").is_some());
    shadow.apply(&h.events, None).await.expect("rest");
    s.read.finish_rebuild().await.expect("swap");
    assert_eq!(s.read.dump().await.expect("dump"), live);
    // And again: a second rebuild works on the tables the first one swapped in.
    let shadow = s.read.begin_rebuild().await.expect("shadow");
    shadow.apply(&h.events, None).await.expect("all");
    s.read.finish_rebuild().await.expect("swap");
    assert_eq!(s.read.dump().await.expect("dump"), live);
    let more = s
        .read
        .movies(&MovieQuery {
            filter: MovieFilter {
                director: Some("Alfred Hitchcock".into()),
                ..MovieFilter::default()
            },
            ..MovieQuery::default()
        })
        .await
        .expect("q");
    assert_eq!(more.total, 2);
}

async fn an_unappliable_event_is_dead_lettered_and_its_stream_goes_on(s: Subject) {
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
struct NoStore;

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

async fn a_gap_in_the_feed_is_repaired_from_the_event_store(s: Subject) {
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

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite_adapter {
            $(#[tokio::test]
            async fn $case() { super::$case(super::sqlite().await).await })*
        }
        mod mysql_adapter {
            $(#[tokio::test]
            async fn $case() { super::$case(super::mysql().await).await })*
        }
    };
}

conformance!(
    a_clean_pass_builds_movies_users_and_versions,
    duplicates_and_cross_stream_disorder_give_the_same_tables,
    a_late_duplicate_never_brings_a_deleted_movie_back,
    a_gap_keeps_nothing_of_the_batch_nor_its_checkpoint,
    filters_sort_and_pages_as_documented,
    equal_sort_keys_are_broken_by_id_so_pages_never_overlap,
    a_rebuild_swaps_in_tables_equal_to_the_live_ones,
    an_unappliable_event_is_dead_lettered_and_its_stream_goes_on,
    a_gap_in_the_feed_is_repaired_from_the_event_store,
    a_folded_load_gives_the_tables_applying_gives,
    the_cache_follows_writes_through_it_and_a_rebuild_made_elsewhere,
    an_edit_drops_only_the_cached_list_pages_it_can_change,
    a_movies_history_holds_each_event_once_through_duplicates_and_rebuilds,
    the_query_side_reads_a_users_role_as_projected,
    histories_a_rebuilt_read_database_lacks_are_filled_from_the_event_store,
);

/// A read database that a rebuild filled (it loads the read models, not the histories) gets
/// its movies' histories from the event store when a projector starts; what is already there
/// is not written twice, and a user's stream is no movie's history.
async fn histories_a_rebuilt_read_database_lacks_are_filled_from_the_event_store(s: Subject) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store =
        SqliteEventStore::connect(&format!("sqlite://{}", dir.path().join("e.db").display()))
            .await
            .expect("store");
    let (h, ids) = catalogue();
    let mut by_stream: Vec<Vec<&StoredEvent>> = Vec::new();
    for event in &h.events {
        match by_stream
            .iter_mut()
            .find(|s| s[0].stream_id == event.stream_id)
        {
            Some(stream) => stream.push(event),
            None => by_stream.push(vec![event]),
        }
    }
    for stream in by_stream {
        for event in stream {
            let new = NewEvent {
                event_id: event.event_id,
                event_type: event.event_type.clone(),
                schema_version: 1,
                payload: event.payload.clone(),
                metadata: json!({}),
            };
            store
                .append(AppendRequest::new(
                    &event.stream_type,
                    event.stream_id,
                    event.version - 1,
                    vec![new],
                ))
                .await
                .expect("append");
        }
    }
    // The read models as a rebuild leaves them: loaded from the fold, histories empty.
    let mut fold = Fold::default();
    for event in &h.events {
        fold.add(event);
    }
    let (streams, _) = fold.finish();
    s.read.load(&streams).await.expect("loaded");
    assert!(s
        .read
        .movie_history(ids[2])
        .await
        .expect("history")
        .is_empty());

    let projector = Projector::new(s.read.clone(), Arc::new(store));
    let behind = moviedb_projector::history::backfill(&projector)
        .await
        .expect("backfilled");
    assert_eq!(behind, 5, "every movie, the deleted one too");
    for id in ids {
        let versions: Vec<u64> = s
            .read
            .movie_history(id)
            .await
            .expect("history")
            .iter()
            .map(|e| e.version)
            .collect();
        let want: Vec<u64> = h
            .events
            .iter()
            .filter(|e| e.stream_id == id)
            .map(|e| e.version)
            .collect();
        assert_eq!(versions, want);
    }
    assert_eq!(
        moviedb_projector::history::backfill(&projector)
            .await
            .expect("again"),
        0,
        "nothing is behind any more"
    );
}

/// The history the query side serves: every event of a movie's stream, in version order,
/// deleted movies too, never doubled by a duplicate delivery; a rebuild leaves it whole, and
/// writing it again from the log (what a rebuild does for rows a lost database lacks) adds
/// nothing twice.
async fn a_movies_history_holds_each_event_once_through_duplicates_and_rebuilds(s: Subject) {
    let (h, ids) = catalogue();
    s.read.apply(&h.events, None).await.expect("applied");
    s.read.apply(&h.events, None).await.expect("duplicates");
    let of = |id: Uuid| -> Vec<(u64, String, Value)> {
        h.events
            .iter()
            .filter(|e| e.stream_id == id)
            .map(|e| (e.version, e.event_type.clone(), e.payload.clone()))
            .collect()
    };
    let read = |history: Vec<moviedb_read_model::HistoryEntry>| -> Vec<(u64, String, Value)> {
        history
            .into_iter()
            .map(|e| (e.version, e.event_type, e.payload))
            .collect()
    };
    let before = read(s.read.movie_history(ids[2]).await.expect("history"));
    assert_eq!(before, of(ids[2]));
    assert_eq!(before.len(), 2, "added, then updated");
    let deleted = read(s.read.movie_history(ids[3]).await.expect("history"));
    assert_eq!(deleted, of(ids[3]), "a deleted movie keeps its history");
    let user = h.events.last().expect("events").stream_id;
    assert!(
        s.read
            .movie_history(user)
            .await
            .expect("history")
            .is_empty(),
        "a user's stream is no movie's history"
    );
    let heads = s.read.history_heads().await.expect("heads");
    assert_eq!(
        (heads.get(&ids[2]), heads.get(&ids[3])),
        (Some(&2), Some(&2))
    );
    assert_eq!(heads.get(&user), None);

    let shadow = s.read.begin_rebuild().await.expect("shadow");
    shadow.apply(&h.events, None).await.expect("all");
    s.read.finish_rebuild().await.expect("swap");
    let all: Vec<&StoredEvent> = h.events.iter().collect();
    s.read.record_history(&all).await.expect("again");
    for id in ids {
        assert_eq!(
            read(s.read.movie_history(id).await.expect("history")),
            of(id)
        );
    }
}

/// Admin checks on the query side read the users projection: the role a change made, once
/// applied; nothing for a stream that is not a user.
async fn the_query_side_reads_a_users_role_as_projected(s: Subject) {
    let (h, ids) = catalogue();
    let user = h.events.last().expect("events").stream_id;
    // Registered as a user, then made an admin.
    let registered = h.events.len() - 1;
    s.read
        .apply(&h.events[..registered], None)
        .await
        .expect("registered");
    assert_eq!(
        s.read.user_role(user).await.expect("role"),
        Some(moviedb_domain::Role::User)
    );
    s.read.apply(&h.events, None).await.expect("promoted");
    assert_eq!(
        s.read.user_role(user).await.expect("role"),
        Some(moviedb_domain::Role::Admin)
    );
    assert_eq!(s.read.user_role(ids[0]).await.expect("role"), None);
    assert_eq!(s.read.user_role(Uuid::now_v7()).await.expect("role"), None);
}

/// The rebuild's fast path: the log folded in memory (with duplicates, as a feed may bring
/// them) and loaded in bulk gives the same tables as applying it event by event.
async fn a_folded_load_gives_the_tables_applying_gives(s: Subject) {
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

/// An edit through the cache drops the list pages that filter or sort on a field it changed;
/// a page that only shows the edited movie stays, with the movie as edited; the others stay
/// as they were. Movies added behind the cache's back (no writer of the serving process does
/// that) show which pages were kept.
async fn an_edit_drops_only_the_cached_list_pages_it_can_change(s: Subject) {
    let (h, ids) = catalogue();
    let cached = CachedReadModels::spawn(s.read.clone());
    // The Godfather (popularity 92), Psycho (85), Paths of Glory (84).
    cached.apply(&h.events[..3], None).await.expect("added");
    let by_popularity = MovieQuery {
        sort: Sort {
            field: SortField::Popularity,
            descending: true,
        },
        ..MovieQuery::default()
    };
    let hitchcock = MovieQuery {
        filter: MovieFilter {
            director: Some("Alfred Hitchcock".into()),
            ..MovieFilter::default()
        },
        ..MovieQuery::default()
    };
    let first_by_name = MovieQuery {
        sort: Sort {
            field: SortField::Name,
            descending: false,
        },
        per_page: 1,
        ..MovieQuery::default()
    };
    for (query, total) in [(&by_popularity, 3), (&hitchcock, 1), (&first_by_name, 3)] {
        assert_eq!(cached.movies(query).await.expect("list").total, total);
    }
    for added in [&h.events[3], &h.events[5]] {
        s.read
            .apply(std::slice::from_ref(added), None)
            .await
            .expect("100% Wolf and Vertigo, behind the cache");
    }
    let edit = |stream: Uuid, version: u64, payload: Value| {
        let mut event = h.events[0].clone();
        event.stream_id = stream;
        event.version = version;
        event.event_id = Uuid::now_v7();
        event.event_type = "MovieUpdated".into();
        event.payload = payload;
        event
    };

    // Psycho's popularity: lists sorted by popularity are read again; lists showing Psycho
    // show it as edited.
    cached
        .apply(&[edit(ids[1], 2, json!({ "popularity": 99.0 }))], None)
        .await
        .expect("edited");
    let list = cached.movies(&by_popularity).await.expect("list");
    assert_eq!(
        (list.total, list.items[0].id, list.items[0].popularity),
        (5, ids[1], 99.0),
        "a list sorted by the edited field is read again"
    );
    let list = cached.movies(&hitchcock).await.expect("list");
    assert_eq!(
        (list.total, list.items[0].popularity, list.items[0].version),
        (1, 99.0, 2),
        "a list showing the edited movie stayed in memory, with the movie as edited"
    );
    let list = cached.movies(&first_by_name).await.expect("list");
    assert_eq!(
        (list.total, list.items[0].id),
        (3, ids[2]),
        "a list by name not showing Psycho stayed in memory"
    );

    // A rename: lists sorted by name change.
    cached
        .apply(&[edit(ids[2], 2, json!({ "name": "A Path" }))], None)
        .await
        .expect("renamed");
    let list = cached.movies(&first_by_name).await.expect("list");
    assert_eq!(
        (list.total, list.items[0].id),
        (5, ids[3]),
        "a list sorted by name is read again after a rename"
    );
}

/// Reads from memory stay exact: a write through the cache is seen at once, and a rebuild
/// swapped in by another handle on the same database (as `moviedb rebuild` run beside the
/// service) is seen within a second.
async fn the_cache_follows_writes_through_it_and_a_rebuild_made_elsewhere(s: Subject) {
    let (h, ids) = catalogue();
    let cached = CachedReadModels::spawn(s.read.clone());
    cached.apply(&h.events[..1], None).await.expect("added");
    let godfather = |read: Arc<dyn ReadModels>| async move {
        read.movie(ids[0]).await.expect("read").expect("present")
    };
    assert_eq!(godfather(cached.clone()).await.imdb_score, 9.2);
    let list = cached.movies(&MovieQuery::default()).await.expect("list");
    assert_eq!(list.items[0].imdb_score, 9.2);

    let mut edit = h.events[0].clone();
    edit.version = 2;
    edit.event_id = Uuid::now_v7();
    edit.event_type = "MovieUpdated".into();
    edit.payload = json!({ "imdb_score": 9.9 });
    cached.apply(&[edit], None).await.expect("edited");
    assert_eq!(godfather(cached.clone()).await.imdb_score, 9.9);
    let list = cached.movies(&MovieQuery::default()).await.expect("list");
    assert_eq!((list.total, list.items[0].imdb_score), (1, 9.9));

    let elsewhere = SqlReadModels::connect(&s.url)
        .await
        .expect("a second handle");
    let shadow = elsewhere.begin_rebuild().await.expect("shadow");
    shadow.apply(&h.events, None).await.expect("replayed");
    elsewhere.finish_rebuild().await.expect("swap");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while godfather(cached.clone()).await.imdb_score != 9.2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the cache never noticed the rebuild"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let list = cached.movies(&MovieQuery::default()).await.expect("list");
    assert_eq!(list.total, 4, "the list is the rebuilt one too");
}
