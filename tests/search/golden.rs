//! The exact request bodies the Elasticsearch adapter sends, against reviewed snapshots (insta)
//! in `tests/search/golden/`. A change shows as a diff and fails; `INSTA_UPDATE=always` (or
//! `cargo insta review`) rewrites them from the code: review the diff, these files are the
//! contract with Elasticsearch's query DSL.

use moviedb_search::elastic::{body, template, EVENTS_TEMPLATE, MOVIES_TEMPLATE};
use moviedb_search::{
    EventDocument, GenreFilter, IndexOp, MovieDocument, MovieFilter, SearchRequest, SearchSort,
};
use serde_json::Value;
use uuid::Uuid;

fn golden(name: &str, actual: &Value) {
    let pretty = serde_json::to_string_pretty(actual).expect("json");
    insta::with_settings!({
        snapshot_path => "golden",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, pretty);
    });
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + n)
}

fn psycho() -> MovieDocument {
    MovieDocument {
        id: id(1),
        name: "Psycho".into(),
        director: "Alfred Hitchcock ".into(),
        genres: vec!["Horror".into(), "Thriller".into()],
        imdb_score: 8.5,
        popularity: 85.0,
        version: 3,
        poster_path: None,
    }
}

#[test]
fn index_writes_are_external_versions_and_a_delete_is_a_tombstone() {
    let lines = body::index_lines(&[
        IndexOp::Upsert(psycho()),
        IndexOp::Delete {
            id: id(2),
            version: 7,
        },
    ]);
    golden("bulk-index", &Value::Array(lines));
}

#[test]
fn events_are_created_under_their_event_id() {
    let event = EventDocument {
        event_id: id(10),
        event_type: "MovieUpdated".into(),
        stream_type: "movie".into(),
        stream_id: id(1),
        version: 2,
        recorded_at: "2026-11-24T10:00:00.123456Z".parse().expect("time"),
        actor_id: Some(id(20)),
        actor_kind: None,
        movie: Some(serde_json::json!({ "imdb_score": 8.6 })),
    };
    golden("bulk-events", &Value::Array(body::event_lines(&[event])));
}

#[test]
fn a_full_search_has_words_filters_sort_paging_facets_and_highlights() {
    let request = SearchRequest {
        q: Some("Alfred hitchcok psy".into()),
        filter: MovieFilter {
            genres: Some(GenreFilter::All(vec!["Horror".into(), " thriller".into()])),
            imdb_score_gte: Some(8.0),
            imdb_score_lte: None,
            popularity_gte: Some(50.0),
            popularity_lte: Some(99.5),
            director: Some("Alfred Hitchcock".into()),
        },
        sort: SearchSort::Relevance,
        page: 3,
        per_page: 10,
        facets: true,
        total_up_to: Some(10_000),
    };
    golden("search-full", &body::search_body(&request));
}

#[test]
fn a_search_without_text_has_no_highlight_and_sorts_by_its_field() {
    let request = SearchRequest {
        q: None,
        filter: MovieFilter {
            genres: Some(GenreFilter::Any(vec!["War".into(), "Drama".into()])),
            ..MovieFilter::default()
        },
        sort: SearchSort::Name { descending: true },
        page: 1,
        per_page: 20,
        facets: false,
        total_up_to: Some(10_000),
    };
    golden("search-filters-only", &body::search_body(&request));
}

#[test]
fn autocomplete_mget_and_the_alias_swap() {
    golden(
        "suggest",
        &body::suggest_body("The Godf", 5).expect("a body"),
    );
    assert_eq!(body::suggest_body("  ", 5), None);
    golden("mget", &body::mget_body(&[id(1), id(2)]));
    golden("first-index", &body::first_index_body("movies"));
    golden(
        "alias-swap",
        &body::alias_swap_body("movies", "movies-0190abc", "movies-*"),
    );
}

#[test]
fn the_templates_in_the_repository_install_with_the_index_pattern_of_the_prefix() {
    let movies = template(MOVIES_TEMPLATE, "test-movies-*").expect("movies template");
    assert_eq!(
        movies["index_patterns"],
        serde_json::json!(["test-movies-*"])
    );
    // Every field a document carries is mapped (the mapping is strict).
    let mapped = movies["template"]["mappings"]["properties"]
        .as_object()
        .expect("properties");
    let doc = body::movie_source(&psycho());
    for field in doc.as_object().expect("object").keys() {
        assert!(mapped.contains_key(field), "`{field}` is not mapped");
    }
    let events = template(EVENTS_TEMPLATE, "test-movie-events").expect("events template");
    let mapped = events["template"]["mappings"]["properties"]
        .as_object()
        .expect("properties");
    for field in ["event_id", "event_type", "recorded_at", "actor_id", "movie"] {
        assert!(mapped.contains_key(field), "`{field}` is not mapped");
    }
}
