//! The read-model conformance suite, against SQLite (a temporary file) and MySQL (MariaDB, a
//! database per test), plus the projector's repair of gaps from a real event store.

use chrono::{Duration as TimeDelta, TimeZone, Utc};
use moviedb_event_store::test_support::{column_charsets, MySqlTestDatabase};
use moviedb_event_store::{AppendRequest, EventStore, NewEvent, SqliteEventStore, StoredEvent};
use moviedb_projector::Projector;
use moviedb_read_model::{
    CachedReadModels, Checkpoint, Fold, GenreFilter, MovieFilter, MovieQuery, ReadModelError,
    ReadModelWriter, ReadModels, Sort, SortField, SqlReadModels,
};
use serde_json::{json, Value};
use std::sync::Arc;
use uuid::Uuid;

mod apply;
mod cache;
mod history;
mod posters;
mod queries;
use apply::*;
use cache::*;
use history::*;
use posters::*;
use queries::*;

struct Subject {
    read: Arc<dyn ReadModelWriter>,
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
    a_poster_path_follows_its_events_and_a_rebuild_restores_it,
    a_movies_table_made_before_posters_gains_the_column,
    duplicates_and_cross_stream_disorder_give_the_same_tables,
    a_late_duplicate_never_brings_a_deleted_movie_back,
    a_gap_keeps_nothing_of_the_batch_nor_its_checkpoint,
    filters_sort_and_pages_as_documented,
    equal_sort_keys_are_broken_by_id_so_pages_never_overlap,
    a_rebuild_swaps_in_tables_equal_to_the_live_ones,
    an_unappliable_event_is_dead_lettered_and_its_stream_goes_on,
    a_gap_in_the_feed_is_repaired_from_the_event_store,
    a_folded_load_gives_the_tables_applying_gives,
    an_edit_or_delete_leaves_no_genre_row_behind,
    the_cache_follows_writes_through_it_and_a_rebuild_made_elsewhere,
    an_edit_drops_only_the_cached_list_pages_it_can_change,
    movies_written_through_the_cache_are_read_from_memory_at_once,
    a_tokens_streams_are_reached_from_memory_or_the_database,
    a_movies_history_holds_each_event_once_through_duplicates_and_rebuilds,
    the_query_side_reads_a_users_role_as_projected,
    histories_a_rebuilt_read_database_lacks_are_filled_from_the_event_store,
    a_large_batch_of_new_movies_is_written_whole,
    histories_larger_than_a_packet_are_written_whole_and_exact,
    the_catalogues_total_is_kept_exact_through_every_way_of_writing,
    a_filtered_total_past_the_bound_is_a_lower_bound_and_pages_stay_right,
);

/// On MySQL the read models' ids are ASCII (compared without the Unicode collation), in the
/// tables made at start and in those a rebuild makes, and reading by id still works.
#[tokio::test]
async fn mysql_read_model_ids_are_ascii_live_and_after_a_rebuild() {
    let subject = mysql().await;
    let columns = [
        ("rm_movie_genres", "movie_id"),
        ("rm_movie_history", "movie_id"),
        ("rm_movies", "movie_id"),
        ("rm_stream_versions", "stream_id"),
        ("rm_users", "user_id"),
    ];
    let expected = vec![Some("ascii".to_owned()); columns.len()];
    assert_eq!(column_charsets(&subject.url, &columns).await, expected);
    let (history, ids) = catalogue();
    subject
        .read
        .apply(&history.events, None)
        .await
        .expect("applied");
    let shadow = subject.read.begin_rebuild().await.expect("shadow");
    shadow.apply(&history.events, None).await.expect("rebuilt");
    subject.read.finish_rebuild().await.expect("swapped");
    assert_eq!(column_charsets(&subject.url, &columns).await, expected);
    let movie = subject.read.movie(ids[0]).await.expect("read");
    assert!(movie.is_some(), "a movie is found by its id");
}

/// The secondary indexes of the movies, genres and users on SQLite.
async fn sqlite_indexes(url: &str) -> Vec<(String, String)> {
    let pool = sqlx::SqlitePool::connect(url).await.expect("opened");
    let mut indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT tbl_name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
    )
    .fetch_all(&pool)
    .await
    .expect("read");
    pool.close().await;
    // The generation tag in each name differs between the live tables and a rebuild's, and a
    // rename quotes the table's name.
    for (_, sql) in &mut indexes {
        *sql = sql
            .split_once(" ON ")
            .map_or(sql.clone(), |(_, on)| on.replace('"', ""));
    }
    indexes.sort();
    indexes
}

/// On SQLite a rebuild loads its tables without their secondary indexes and builds them from
/// the rows before the swap: the swapped-in tables have every index the first tables had,
/// once, and the queries that use them answer as before.
#[tokio::test]
async fn sqlite_rebuild_builds_the_indexes_after_the_load_and_swaps_them_in() {
    let subject = sqlite().await;
    let before = sqlite_indexes(&subject.url).await;
    assert!(
        before
            .iter()
            .filter(|(table, _)| table == "rm_movies")
            .count()
            >= 6,
        "{before:?}"
    );
    let (history, _) = catalogue();
    subject
        .read
        .apply(&history.events, None)
        .await
        .expect("applied");
    let query = MovieQuery {
        sort: Sort {
            field: SortField::ImdbScore,
            descending: true,
        },
        ..MovieQuery::default()
    };
    let live_page = subject.read.movies(&query).await.expect("page");

    let shadow = subject.read.begin_rebuild().await.expect("shadow");
    let during = sqlite_indexes(&subject.url).await;
    assert!(
        !during.iter().any(|(table, _)| table.ends_with("_next")),
        "the shadow tables are loaded without secondary indexes: {during:?}"
    );
    let folded = {
        let mut fold = Fold::default();
        for event in &history.events {
            fold.add(event);
        }
        fold.finish().0
    };
    shadow.load(&folded).await.expect("loaded");
    subject.read.finish_rebuild().await.expect("swapped");

    assert_eq!(
        sqlite_indexes(&subject.url).await,
        before,
        "every index, once"
    );
    let rebuilt_page = subject.read.movies(&query).await.expect("page");
    assert_eq!(rebuilt_page.items, live_page.items);
    assert_eq!(rebuilt_page.total, live_page.total);
}
