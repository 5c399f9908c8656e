//! The search conformance suite: every test runs against tantivy, and against Elasticsearch
//! when `MOVIEDB_TEST_ELASTICSEARCH_URL` is set (each run under its own index prefix; it says
//! so when it skips). Beside it: the Elasticsearch adapter's exact request bodies (`golden`)
//! and its reading of Elasticsearch's answers (`answers`), which need no cluster, and the
//! tantivy generations a rebuild swaps (`generations`).

mod answers;
mod generations;
mod golden;
mod kibana;

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
    match std::env::var("MOVIEDB_TEST_ELASTICSEARCH_URL") {
        Ok(url) if !url.is_empty() => {
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
        _ => eprintln!(
            "SKIPPED: the Elasticsearch half of the search conformance suite \
             (set MOVIEDB_TEST_ELASTICSEARCH_URL to run it)"
        ),
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
        let thriller = index
            .search(&SearchRequest {
                q: Some("alfred".into()),
                per_page: 1,
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
async fn the_same_write_twice_or_an_older_one_later_leaves_the_index_as_it_was() {
    for (adapter, movies) in catalogues().await {
        let index = adapter.index.as_ref();
        eprintln!("adapter: {}", adapter.name);
        let psycho = movies[2].clone();
        let mut renamed = psycho.clone();
        renamed.name = "Psycho (1960)".into();
        renamed.version = 2;
        let report = index
            .apply(vec![
                IndexOp::Upsert(renamed.clone()),
                IndexOp::Upsert(renamed.clone()),
            ])
            .await
            .expect("applied");
        assert_eq!((report.applied, report.stale), (1, 1));
        let late = index
            .apply(vec![IndexOp::Upsert(psycho.clone())])
            .await
            .expect("applied");
        assert_eq!((late.applied, late.stale), (0, 1));
        let found = index
            .search(&SearchRequest {
                q: Some("psycho".into()),
                ..SearchRequest::default()
            })
            .await
            .expect("search");
        assert_eq!(names(&found), ["Psycho (1960)"]);
        index
            .apply(vec![IndexOp::Delete {
                id: psycho.id,
                version: 3,
            }])
            .await
            .expect("deleted");
        let resurrect = index
            .apply(vec![IndexOp::Upsert(renamed)])
            .await
            .expect("applied");
        assert_eq!(
            resurrect.stale, 1,
            "a late write never brings a deleted movie back"
        );
        assert_eq!(
            index
                .search(&SearchRequest {
                    q: Some("psycho".into()),
                    ..SearchRequest::default()
                })
                .await
                .expect("search")
                .total,
            0
        );
        assert_eq!(
            index
                .versions(&[psycho.id])
                .await
                .expect("versions")
                .get(&psycho.id),
            Some(&3)
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

#[tokio::test]
async fn versions_are_reported_for_live_and_deleted_movies_and_absent_for_unknown_ones() {
    for (adapter, movies) in catalogues().await {
        let index = adapter.index.as_ref();
        eprintln!("adapter: {}", adapter.name);
        index
            .apply(vec![IndexOp::Delete {
                id: movies[0].id,
                version: 2,
            }])
            .await
            .expect("deleted");
        let unknown = Uuid::now_v7();
        let versions = index
            .versions(&[movies[0].id, movies[1].id, unknown])
            .await
            .expect("versions");
        assert_eq!(versions.get(&movies[0].id), Some(&2));
        assert_eq!(versions.get(&movies[1].id), Some(&1));
        assert_eq!(versions.get(&unknown), None);
        assert!(index.versions(&[]).await.expect("versions").is_empty());
    }
}

#[tokio::test]
async fn a_rebuild_is_invisible_until_it_is_swapped_in_and_then_replaces_the_old_index() {
    for (adapter, movies) in catalogues().await {
        let index = adapter.index.as_ref();
        eprintln!("adapter: {}", adapter.name);
        let shadow = index.begin_rebuild().await.expect("begin");
        let mut kept = movies[3].clone();
        kept.name = "Vertigo (restored)".into();
        kept.version = 4;
        shadow
            .apply(vec![IndexOp::Upsert(kept.clone())])
            .await
            .expect("applied to the shadow");
        let all = SearchRequest::default();
        assert_eq!(index.search(&all).await.expect("search").total, 6);
        index.finish_rebuild().await.expect("swap");
        let after = index.search(&all).await.expect("search");
        assert_eq!(names(&after), ["Vertigo (restored)"]);
        assert_eq!(
            index
                .versions(&[kept.id])
                .await
                .expect("versions")
                .get(&kept.id),
            Some(&4)
        );
        // Writes go to the new index too.
        let report = index
            .apply(vec![IndexOp::Upsert(movies[0].clone())])
            .await
            .expect("applied after the swap");
        assert_eq!(report.applied, 1);
        assert_eq!(index.search(&all).await.expect("search").total, 2);
        assert!(
            index.finish_rebuild().await.is_err(),
            "nothing left to swap"
        );
    }
}

#[tokio::test]
async fn recording_the_same_events_twice_is_accepted() {
    for adapter in adapters().await {
        eprintln!("adapter: {}", adapter.name);
        let event = EventDocument {
            event_id: Uuid::now_v7(),
            event_type: "MovieAdded".into(),
            stream_type: "movie".into(),
            stream_id: Uuid::now_v7(),
            version: 1,
            recorded_at: chrono::Utc::now(),
            actor_id: Some(Uuid::now_v7()),
            actor_kind: None,
            movie: Some(serde_json::json!({ "name": "Psycho", "genres": ["Horror"] })),
        };
        adapter
            .index
            .record(std::slice::from_ref(&event))
            .await
            .expect("recorded");
        adapter
            .index
            .record(&[event])
            .await
            .expect("recorded again");
        adapter.index.ping().await.expect("ping");
    }
}
