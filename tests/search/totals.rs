//! Totals counted to a bound: a search with more hits than its bound says "at least the
//! bound", and its pages are the pages of the search that counts every hit. On tantivy the
//! two take different paths (a bounded search sorted by a field walks each segment in the
//! sort's order), so this compares them over many segments, deleted and replaced documents,
//! tied keys, narrow and wide filters and deep pages.

use crate::adapters;
use moviedb_search::{
    GenreFilter, IndexOp, MovieDocument, MovieFilter, SearchRequest, SearchResponse, SearchSort,
};
use uuid::Uuid;

const GENRES: [&str; 5] = ["Drama", "Crime", "Comedy", "War", "Western"];
const WORDS: [&str; 6] = ["night", "river", "golden", "empire", "shadow", "storm"];

/// 600 movies in six batches (six tantivy segments), with few distinct scores and
/// popularities (many ties), then 40 deleted and 40 replaced.
fn batches() -> Vec<Vec<IndexOp>> {
    let movie = |n: u64| MovieDocument {
        id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + u128::from(n * 7919 % 600)),
        name: format!(
            "{} {} {}",
            WORDS[(n % 6) as usize],
            WORDS[(n / 6 % 6) as usize],
            n % 13
        ),
        director: format!("Director {}", n % 9),
        genres: (0..1 + n % 3)
            .map(|i| GENRES[((n + i * 2) % 5) as usize].to_owned())
            .collect(),
        imdb_score: (n * 37 % 11) as f64,
        popularity: (n * 53 % 17) as f64 * 5.0,
        version: 1,
        poster_path: None,
    };
    let mut batches: Vec<Vec<IndexOp>> = (0..6)
        .map(|b| {
            (b * 100..(b + 1) * 100)
                .map(|n| IndexOp::Upsert(movie(n)))
                .collect()
        })
        .collect();
    batches.push(
        (0..40u64)
            .map(|k| IndexOp::Delete {
                id: movie(k * 15).id,
                version: 2,
            })
            .collect(),
    );
    batches.push(
        (0..40u64)
            .map(|k| {
                let mut m = movie(k * 15 + 7);
                m.version = 2;
                m.popularity = 100.0 - m.popularity;
                m.genres = vec!["Western".into()];
                IndexOp::Upsert(m)
            })
            .collect(),
    );
    batches
}

fn requests() -> Vec<SearchRequest> {
    let sorts = [
        SearchSort::Popularity { descending: true },
        SearchSort::Popularity { descending: false },
        SearchSort::ImdbScore { descending: true },
        SearchSort::ImdbScore { descending: false },
        SearchSort::Name { descending: false },
        SearchSort::Name { descending: true },
    ];
    let filters = [
        MovieFilter::default(),
        MovieFilter {
            genres: Some(GenreFilter::Any(vec!["Drama".into(), "War".into()])),
            ..MovieFilter::default()
        },
        MovieFilter {
            genres: Some(GenreFilter::All(vec!["Crime".into(), "Western".into()])),
            imdb_score_gte: Some(3.0),
            ..MovieFilter::default()
        },
        MovieFilter {
            popularity_gte: Some(20.0),
            popularity_lte: Some(60.0),
            ..MovieFilter::default()
        },
        MovieFilter {
            director: Some("Director 4".into()),
            imdb_score_lte: Some(6.0),
            ..MovieFilter::default()
        },
    ];
    let mut out = Vec::new();
    for (i, sort) in sorts.iter().enumerate() {
        for (j, filter) in filters.iter().enumerate() {
            for (page, per_page) in [(1, 20), (3, 7), (12, 10)] {
                out.push(SearchRequest {
                    q: ((i + j) % 3 == 0).then(|| "golden".to_owned()),
                    filter: filter.clone(),
                    sort: *sort,
                    page,
                    per_page,
                    ..SearchRequest::default()
                });
            }
        }
    }
    out.push(SearchRequest {
        q: Some("storm".into()),
        ..SearchRequest::default()
    });
    out
}

fn page(found: &SearchResponse) -> Vec<(Uuid, u32)> {
    found
        .hits
        .iter()
        .map(|h| (h.movie.id, (h.score * 1000.0).round() as u32))
        .collect()
}

#[tokio::test]
async fn a_bounded_total_says_at_least_and_keeps_the_pages_of_an_exact_one() {
    for adapter in adapters().await {
        for batch in batches() {
            adapter.index.apply(batch).await.expect("indexed");
        }
        adapter.index.refresh().await.expect("refreshed");
        let (mut beyond, mut within) = (0, 0);
        for request in requests() {
            let exact = SearchRequest {
                total_up_to: None,
                ..request.clone()
            };
            let every = adapter.index.search(&exact).await.expect("search");
            assert!(every.total_exact, "{}: {exact:?}", adapter.name);
            for bound in [5, 40, 1_000] {
                let bounded = SearchRequest {
                    total_up_to: Some(bound),
                    ..request.clone()
                };
                let found = adapter.index.search(&bounded).await.expect("search");
                let label = format!("{}: {bounded:?}", adapter.name);
                assert_eq!(found.total, every.total.min(bound), "{label}");
                assert_eq!(found.total_exact, every.total <= bound, "{label}");
                if found.total_exact {
                    within += 1;
                } else {
                    beyond += 1;
                }
                // Relevance scores are compared too: a field-sorted page shows them.
                assert_eq!(page(&found), page(&every), "{label}");
            }
        }
        // Not vacuous: both kinds of answer happen, and pages hold hits.
        assert!(
            beyond > 50 && within > 50,
            "{}: {beyond} {within}",
            adapter.name
        );
        let facets = SearchRequest {
            facets: true,
            total_up_to: Some(5),
            ..SearchRequest::default()
        };
        let found = adapter.index.search(&facets).await.expect("search");
        assert!(
            found.total_exact && found.total == 560,
            "{}: {}",
            adapter.name,
            found.total
        );
    }
}

#[tokio::test]
async fn a_typo_in_the_first_letter_is_not_tolerated() {
    for adapter in adapters().await {
        let movie = MovieDocument {
            id: Uuid::now_v7(),
            name: "Vertigo".into(),
            director: "Alfred Hitchcock".into(),
            genres: vec!["Thriller".into()],
            imdb_score: 8.3,
            popularity: 80.0,
            version: 1,
            poster_path: None,
        };
        adapter
            .index
            .apply(vec![IndexOp::Upsert(movie)])
            .await
            .expect("indexed");
        adapter.index.refresh().await.expect("refreshed");
        let total = |q: &str| {
            let index = adapter.index.clone();
            let request = SearchRequest {
                q: Some(q.to_owned()),
                ..SearchRequest::default()
            };
            async move { index.search(&request).await.expect("search").total }
        };
        for (q, found) in [
            ("hitchcok", 1),
            ("hitchcokc", 1),
            ("vertgo", 1),
            ("gitchcock", 0),
            ("ertigo", 0),
            ("bertigo", 0),
        ] {
            assert_eq!(total(q).await, found, "{}: {q}", adapter.name);
        }
    }
}
