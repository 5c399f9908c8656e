//! The same catalogue and the same requests on both engines give the same answers: totals,
//! facet counts, the first page of ids under every sort but relevance (ties broken by id),
//! and autocomplete lists. Relevance scores are the engines' own (BM25 over different index
//! statistics), so a relevance page is compared as a set only when it holds every hit.
//!
//! The catalogue is the sample (`samples/movies.json`) plus generated movies whose names mix
//! punctuation, diacritics, digits and superscripts, from a fixed seed.

use crate::adapters;
use moviedb_search::{
    GenreFilter, IndexOp, MovieFilter, SearchIndex, SearchRequest, SearchResponse, SearchSort,
};
use uuid::Uuid;

mod catalogue;

use catalogue::catalogue;

/// The requests: texts as users type them (typos, prefixes, punctuation, diacritics,
/// superscripts), with and without filters, under each sort, over several pages.
fn requests() -> Vec<SearchRequest> {
    let texts = [
        "godfather",
        "godfahter",
        "the godf",
        "amelie",
        "Amélie",
        "AMÉLIE",
        "alien 3",
        "alien³",
        "alien3",
        "e.t.",
        "e t",
        "schindlers list",
        "Schindler's List",
        "wall-e",
        "wall·e",
        "singin in the rain",
        "dr strangelove",
        "dr.",
        "r2-d2",
        "r2d2",
        "cafe",
        "café",
        "naive",
        "uber",
        "2001",
        "se7en",
        "seven",
        "creme brulee",
        "garcon",
        "senor manana",
        "omega",
        "город",
        "nigth",
        "knigt",
        "dark knight",
        "star wars",
        "kill bill vol. 2",
        "x2",
        "deja vu",
        "l'avventura",
        "obrien",
        "o'brien",
        "rock n roll",
        "oceans eleven",
        "8 1/2",
        "8½",
        "up",
        "it",
        "the",
        "almodovar",
        "inarritu",
        "gonzalez",
        "jeunet",
        "kar-wai",
        "kubrik",
        "hitchcok",
        "ta",
        "mis",
        "miss impos",
        "sp",
        "spa odys",
    ];
    let mut all = Vec::new();
    for q in texts {
        all.push(SearchRequest {
            q: Some(q.into()),
            sort: SearchSort::Relevance,
            per_page: 100,
            facets: true,
            ..SearchRequest::default()
        });
        all.push(SearchRequest {
            q: Some(q.into()),
            sort: SearchSort::Name { descending: false },
            per_page: 10,
            ..SearchRequest::default()
        });
    }
    let sorts = [
        SearchSort::ImdbScore { descending: true },
        SearchSort::ImdbScore { descending: false },
        SearchSort::Popularity { descending: true },
        SearchSort::Popularity { descending: false },
        SearchSort::Name { descending: true },
    ];
    let filters = [
        MovieFilter::default(),
        MovieFilter {
            genres: Some(GenreFilter::All(vec!["Drama".into(), "Crime".into()])),
            ..MovieFilter::default()
        },
        MovieFilter {
            genres: Some(GenreFilter::Any(vec!["sci-fi".into(), "WAR".into()])),
            imdb_score_gte: Some(7.5),
            ..MovieFilter::default()
        },
        MovieFilter {
            popularity_gte: Some(20.0),
            popularity_lte: Some(40.5),
            imdb_score_lte: Some(5.0),
            ..MovieFilter::default()
        },
        MovieFilter {
            director: Some("pedro almodóvar".into()),
            ..MovieFilter::default()
        },
    ];
    for (i, filter) in filters.iter().enumerate() {
        for (j, sort) in sorts.iter().enumerate() {
            for page in [1, 3] {
                let with_facets = SearchRequest {
                    q: (j % 2 == 1).then(|| ["the", "love", "amelie", "2", "knight"][i].into()),
                    filter: filter.clone(),
                    sort: *sort,
                    page,
                    per_page: 7,
                    facets: true,
                    total_up_to: None,
                };
                // The same without facets, its total counted to a bound most answers pass.
                all.push(SearchRequest {
                    facets: false,
                    total_up_to: Some(30),
                    ..with_facets.clone()
                });
                all.push(with_facets);
            }
        }
    }
    all
}

const PREFIXES: &[&str] = &[
    "the",
    "the g",
    "the godf",
    "god",
    "ame",
    "amé",
    "alien",
    "alien 3",
    "alien³",
    "e.t",
    "e t",
    "wall",
    "wall·e",
    "wall-e",
    "schindler's l",
    "singin'",
    "dr. s",
    "r2",
    "r2-d",
    "café",
    "cafe",
    "über",
    "ub",
    "2001",
    "se7",
    "8½",
    "8 1",
    "om",
    "гор",
    "x",
    "kill bill vol",
];

/// What two engines must agree on for a request.
fn comparable(request: &SearchRequest, found: &SearchResponse) -> String {
    let ids: Vec<Uuid> = found.hits.iter().map(|h| h.movie.id).collect();
    let page = if request.sort == SearchSort::Relevance {
        if found.total as usize <= ids.len() {
            let mut set = ids;
            set.sort();
            format!("every hit {set:?}")
        } else {
            "scores differ: page not compared".to_owned()
        }
    } else {
        format!("{ids:?}")
    };
    format!(
        "total {} ({}), genres {:?}, scores {:?}, page {page}",
        found.total,
        if found.total_exact { "eq" } else { "gte" },
        found.genres,
        found.imdb_score_histogram
    )
}

#[tokio::test]
async fn both_engines_answer_the_same_requests_alike() {
    let adapters = adapters().await;
    if adapters.len() < 2 {
        eprintln!("SKIPPED: the differential test needs both engines");
        return;
    }
    let movies = catalogue();
    let requests = requests();
    assert!(requests.len() >= 100, "{} requests", requests.len());
    let mut answers: Vec<Vec<String>> = Vec::new();
    for adapter in &adapters {
        let index: &dyn SearchIndex = adapter.index.as_ref();
        for chunk in movies.chunks(1_000) {
            index
                .apply(chunk.iter().cloned().map(IndexOp::Upsert).collect())
                .await
                .expect("indexed");
        }
        index.refresh().await.expect("refreshed");
        let mut mine = Vec::new();
        for request in &requests {
            let found = index
                .search(request)
                .await
                .unwrap_or_else(|e| panic!("{}: {request:?}: {e}", adapter.name));
            mine.push(comparable(request, &found));
        }
        for prefix in PREFIXES {
            let names: Vec<String> = index
                .suggest(prefix, 10)
                .await
                .expect("suggest")
                .into_iter()
                .map(|s| format!("{} {}", s.id, s.name))
                .collect();
            mine.push(format!("{names:?}"));
        }
        answers.push(mine);
    }
    let labels: Vec<String> = requests
        .iter()
        .map(|r| format!("{r:?}"))
        .chain(PREFIXES.iter().map(|p| format!("suggest {p:?}")))
        .collect();
    let differ: Vec<String> = labels
        .iter()
        .zip(answers[0].iter().zip(&answers[1]))
        .filter(|(_, (a, b))| a != b)
        .map(|(label, (a, b))| format!("{label}\n  tantivy:       {a}\n  elasticsearch: {b}"))
        .collect();
    let found = answers[0]
        .iter()
        .filter(|a| !a.starts_with("total 0 ") && !a.starts_with("[]"))
        .count();
    let whole = answers[0]
        .iter()
        .filter(|a| a.contains("every hit"))
        .count();
    eprintln!(
        "differential: {} movies, {} requests + {} autocompletes, {} with answers, {} relevance \
         pages compared whole, {} differ",
        movies.len(),
        requests.len(),
        PREFIXES.len(),
        found,
        whole,
        differ.len()
    );
    assert!(
        differ.is_empty(),
        "{} answers differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
    // Not a vacuous agreement: the requests find things.
    let empty = answers[0]
        .iter()
        .filter(|a| a.starts_with("total 0 "))
        .count();
    assert!(empty < requests.len() / 4, "{empty} requests found nothing");
}
