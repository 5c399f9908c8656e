//! The search conformance suite: every test runs against tantivy, and against Elasticsearch
//! on the search server `scripts/test` starts (`MOVIEDB_TEST_ELASTICSEARCH_URL`; each run under
//! its own index prefix; without one it says so, or fails under `MOVIEDB_REQUIRE_ELASTICSEARCH`). Beside it: the Elasticsearch adapter's exact request bodies (`golden`)
//! and its reading of Elasticsearch's answers (`answers`), which need no cluster, and the
//! tantivy generations a rebuild swaps (`generations`).

use moviedb_test_support::search_server;

mod analysis;
mod answers;
mod differential;
mod generations;
mod golden;
mod kibana;
mod ranking;
mod totals;
mod writes;

use moviedb_search::{
    ElasticIndex, EventDocument, GenreFilter, IndexOp, MovieDocument, MovieFilter, SearchIndex,
    SearchRequest, SearchSort, TantivyIndex,
};
use std::sync::Arc;
use uuid::Uuid;

/// An adapter under test, and what must live as long as it.
struct Adapter {
    name: &'static str,
    index: Arc<dyn SearchIndex>,
    _keep: Option<tempfile::TempDir>,
}

/// Every adapter this machine can run.
async fn adapters() -> Vec<Adapter> {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut all = vec![Adapter {
        name: "tantivy",
        index: Arc::new(TantivyIndex::open(dir.path()).expect("index")),
        _keep: Some(dir),
    }];
    if let Some(url) = search_server::shared_url() {
        let prefix = format!("moviedb-test-{}-", Uuid::now_v7().simple());
        let index = ElasticIndex::connect(&url, &prefix)
            .await
            .expect("Elasticsearch at MOVIEDB_TEST_ELASTICSEARCH_URL");
        all.push(Adapter {
            name: "elasticsearch",
            index: Arc::new(index),
            _keep: None,
        });
    }
    all
}

fn doc(name: &str, director: &str, genres: &[&str], score: f64, popularity: f64) -> MovieDocument {
    MovieDocument {
        id: Uuid::now_v7(),
        name: name.into(),
        director: director.into(),
        genres: genres.iter().map(|g| (*g).to_owned()).collect(),
        imdb_score: score,
        popularity,
        version: 1,
        poster_path: None,
    }
}

fn movies() -> Vec<MovieDocument> {
    vec![
        doc(
            "The Godfather",
            "Francis Ford Coppola",
            &["Crime", "Drama"],
            9.2,
            92.0,
        ),
        doc(
            "The Godfather: Part II",
            "Francis Ford Coppola",
            &["Crime", "Drama"],
            9.0,
            90.0,
        ),
        doc(
            "Psycho",
            "Alfred Hitchcock",
            &["Horror", "Thriller"],
            8.5,
            85.0,
        ),
        doc(
            "Vertigo",
            "Alfred Hitchcock",
            &["Mystery", "Thriller"],
            8.3,
            83.0,
        ),
        doc(
            "Paths of Glory",
            "Stanley Kubrick",
            &["Drama", "War"],
            8.4,
            84.0,
        ),
        doc(
            "The Wizard of Oz",
            "Victor Fleming",
            &["Adventure", "Family"],
            8.3,
            83.0,
        ),
    ]
}

/// Each adapter, holding the same six films.
async fn catalogues() -> Vec<(Adapter, Vec<MovieDocument>)> {
    let mut all = Vec::new();
    for adapter in adapters().await {
        let movies = movies();
        let report = adapter
            .index
            .apply(movies.iter().cloned().map(IndexOp::Upsert).collect())
            .await
            .expect("indexed");
        assert_eq!(report.applied, 6, "{}", adapter.name);
        all.push((adapter, movies));
    }
    all
}

fn names(response: &moviedb_search::SearchResponse) -> Vec<&str> {
    response
        .hits
        .iter()
        .map(|h| h.movie.name.as_str())
        .collect()
}

#[tokio::test]
async fn typos_find_the_director_and_the_title() {
    for (adapter, _movies) in catalogues().await {
        let index = adapter.index.as_ref();
        eprintln!("adapter: {}", adapter.name);
        let q = |q: &str| SearchRequest {
            q: Some(q.into()),
            sort: SearchSort::Relevance,
            ..SearchRequest::default()
        };
        let hitchcock = index.search(&q("hitchcok")).await.expect("search");
        let mut found = names(&hitchcock);
        found.sort();
        assert_eq!(found, ["Psycho", "Vertigo"]);
        assert_eq!(
            hitchcock.hits[0].director_highlight.as_deref(),
            Some("Alfred <em>Hitchcock</em>")
        );
        let godfather = index.search(&q("godfater")).await.expect("search");
        assert_eq!(godfather.total, 2);
        assert!(godfather.hits.iter().all(|h| h
            .name_highlight
            .as_deref()
            .is_some_and(|n| n.contains("<em>Godfather</em>"))));
        assert!(names(&godfather)
            .iter()
            .all(|n| n.starts_with("The Godfather")));
        // Prefix-aware: an unfinished last word.
        let prefix = index.search(&q("wiz")).await.expect("search");
        assert_eq!(names(&prefix), ["The Wizard of Oz"]);
        assert_eq!(index.search(&q("zzzzzz")).await.expect("search").total, 0);
    }
}

#[tokio::test]
async fn filters_sorts_pages_and_facets() {
    for (adapter, _movies) in catalogues().await {
        let index = adapter.index.as_ref();
        eprintln!("adapter: {}", adapter.name);
        let all_of = index
            .search(&SearchRequest {
                filter: MovieFilter {
                    genres: Some(GenreFilter::All(vec!["drama".into(), "CRIME".into()])),
                    ..MovieFilter::default()
                },
                sort: SearchSort::ImdbScore { descending: true },
                ..SearchRequest::default()
            })
            .await
            .expect("search");
        assert_eq!(names(&all_of), ["The Godfather", "The Godfather: Part II"]);
        let any_of = index
            .search(&SearchRequest {
                filter: MovieFilter {
                    genres: Some(GenreFilter::Any(vec!["War".into(), "Horror".into()])),
                    ..MovieFilter::default()
                },
                sort: SearchSort::Name { descending: false },
                ..SearchRequest::default()
            })
            .await
            .expect("search");
        assert_eq!(names(&any_of), ["Paths of Glory", "Psycho"]);
        let ranged = index
            .search(&SearchRequest {
                filter: MovieFilter {
                    imdb_score_gte: Some(8.3),
                    imdb_score_lte: Some(8.4),
                    popularity_gte: Some(83.5),
                    ..MovieFilter::default()
                },
                sort: SearchSort::Popularity { descending: true },
                ..SearchRequest::default()
            })
            .await
            .expect("search");
        assert_eq!(names(&ranged), ["Paths of Glory"]);
        let director = index
            .search(&SearchRequest {
                filter: MovieFilter {
                    director: Some("alfred hitchcock".into()),
                    ..MovieFilter::default()
                },
                sort: SearchSort::Name { descending: true },
                ..SearchRequest::default()
            })
            .await
            .expect("search");
        assert_eq!(names(&director), ["Vertigo", "Psycho"]);
        // Equal scores (Vertigo, Oz at 8.3) are ordered by id, and pages do not overlap.
        let mut seen = Vec::new();
        for page in 1..=3 {
            let response = index
                .search(&SearchRequest {
                    sort: SearchSort::ImdbScore { descending: false },
                    page,
                    per_page: 2,
                    ..SearchRequest::default()
                })
                .await
                .expect("search");
            assert_eq!(response.total, 6);
            seen.extend(response.hits.into_iter().map(|h| h.movie.name));
        }
        assert_eq!(seen.len(), 6);
        seen.dedup();
        assert_eq!(seen.len(), 6);
        // Facets count every hit of the query, not only the page.
        let plain = index
            .search(&SearchRequest {
                q: Some("alfred".into()),
                per_page: 1,
                ..SearchRequest::default()
            })
            .await
            .expect("search");
        assert!(
            plain.genres.is_empty() && plain.imdb_score_histogram.is_empty(),
            "no facets unless asked: {plain:?}"
        );
        let thriller = index
            .search(&SearchRequest {
                q: Some("alfred".into()),
                per_page: 1,
                facets: true,
                ..SearchRequest::default()
            })
            .await
            .expect("search");
        assert_eq!(thriller.hits.len(), 1);
        let thrillers = thriller
            .genres
            .iter()
            .find(|g| g.genre == "thriller")
            .map(|g| g.count);
        assert_eq!(thrillers, Some(2));
        assert_eq!(thriller.imdb_score_histogram[8].count, 2);
        assert_eq!(
            thriller
                .imdb_score_histogram
                .iter()
                .map(|b| b.count)
                .sum::<u64>(),
            2
        );
    }
}

#[tokio::test]
async fn suggest_completes_names_from_their_first_letters() {
    for (adapter, _movies) in catalogues().await {
        let index = adapter.index.as_ref();
        eprintln!("adapter: {}", adapter.name);
        let names_of =
            |s: Vec<moviedb_search::Suggestion>| s.into_iter().map(|s| s.name).collect::<Vec<_>>();
        assert_eq!(
            names_of(index.suggest("the godf", 10).await.expect("suggest")),
            ["The Godfather", "The Godfather: Part II"]
        );
        assert_eq!(
            names_of(index.suggest("Ver", 10).await.expect("suggest")),
            ["Vertigo"]
        );
        assert_eq!(index.suggest("   ", 10).await.expect("suggest").len(), 0);
        assert_eq!(index.suggest("the", 1).await.expect("suggest").len(), 1);
    }
}
