//! Searches at once, and the order of suggestions and pages across segments and deletes.

use super::*;

/// Far more searches and suggestions at once than the index has threads for them: each waits
/// its turn and gets its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_searches_at_once_each_get_their_own_answer() {
    for (adapter, _movies) in catalogues().await {
        eprintln!("adapter: {}", adapter.name);
        let asked = [
            ("hitchcok", vec!["Psycho", "Vertigo"]),
            ("godfater", vec!["The Godfather", "The Godfather: Part II"]),
            ("kubrik", vec!["Paths of Glory"]),
            ("wiz", vec!["The Wizard of Oz"]),
            ("zzzzzz", vec![]),
        ];
        let mut searches = tokio::task::JoinSet::new();
        for round in 0..100 {
            let (q, expected) = asked[round % asked.len()].clone();
            let index = adapter.index.clone();
            searches.spawn(async move {
                if round % 4 == 3 {
                    let suggested = index.suggest("the godf", 10).await.expect("suggest");
                    let names: Vec<String> = suggested.into_iter().map(|s| s.name).collect();
                    assert_eq!(names, ["The Godfather", "The Godfather: Part II"]);
                    return;
                }
                let request = SearchRequest {
                    q: Some(q.into()),
                    sort: SearchSort::Relevance,
                    ..SearchRequest::default()
                };
                let found = index.search(&request).await.expect("search");
                let mut found: Vec<String> = found.hits.into_iter().map(|h| h.movie.name).collect();
                found.sort();
                assert_eq!(found, expected, "q={q}");
            });
        }
        let mut answered = 0;
        while let Some(done) = searches.join_next().await {
            done.expect("a search answered as expected");
            answered += 1;
        }
        assert_eq!(answered, 100);
    }
}

/// Indexes `movies` in commits of `per_commit`, so the index holds them in several segments.
async fn index_in_commits(index: &dyn SearchIndex, movies: &[MovieDocument], per_commit: usize) {
    for batch in movies.chunks(per_commit) {
        index
            .apply(batch.iter().cloned().map(IndexOp::Upsert).collect())
            .await
            .expect("indexed");
    }
}

/// Deletes `gone` (each at version 2, after its first indexing), in one commit.
async fn delete_all(index: &dyn SearchIndex, gone: &[MovieDocument]) {
    let deletes = gone
        .iter()
        .map(|m| IndexOp::Delete {
            id: m.id,
            version: 2,
        })
        .collect();
    index.apply(deletes).await.expect("deleted");
}

/// What a suggestion must answer, worked out the slow way: names with the prefix's words in a
/// row (the last one only begun), those whose whole name starts with the prefix first, then by
/// popularity (descending), name and id; the first `limit`.
fn suggested(all: &[MovieDocument], prefix: &str, limit: usize) -> Vec<Uuid> {
    let wanted: Vec<String> = prefix.split_whitespace().map(str::to_lowercase).collect();
    let Some((last, before)) = wanted.split_last() else {
        return Vec::new();
    };
    let mut found: Vec<(bool, f64, String, Uuid)> = all
        .iter()
        .filter_map(|m| {
            let words: Vec<String> = m.name.split(' ').map(str::to_lowercase).collect();
            let hit = words.windows(wanted.len()).any(|w| {
                w[..before.len()] == *before && w[before.len()].starts_with(last.as_str())
            });
            let name = words.join(" ");
            hit.then(|| {
                (
                    name.starts_with(&wanted.join(" ")),
                    m.popularity,
                    name,
                    m.id,
                )
            })
        })
        .collect();
    found.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| b.1.total_cmp(&a.1))
            .then_with(|| a.2.cmp(&b.2))
            .then_with(|| a.3.cmp(&b.3))
    });
    found.into_iter().take(limit).map(|f| f.3).collect()
}

/// Suggestions over a catalogue full of equal popularities and equal names, written in several
/// commits (so several segments), with some movies deleted: each answer is the reference's, so
/// the cut at the limit takes the right movies whichever segment holds them.
#[tokio::test]
async fn suggestions_rank_names_by_prefix_popularity_name_and_id_across_segments() {
    const WORDS: [&str; 8] = [
        "Star", "Stars", "Stone", "Storm", "Dark", "Night", "River", "Sun",
    ];
    for adapter in adapters().await {
        let index = adapter.index.as_ref();
        eprintln!("adapter: {}", adapter.name);
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize
        };
        let mut all: Vec<MovieDocument> = (0..240)
            .map(|_| {
                let words = 1 + next() % 3;
                let name: Vec<&str> = (0..words).map(|_| WORDS[next() % WORDS.len()]).collect();
                let popularity = (next() % 4) as f64 * 10.0;
                doc(&name.join(" "), "Jane Campion", &["Drama"], 7.0, popularity)
            })
            .collect();
        index_in_commits(index, &all, 50).await;
        let gone: Vec<MovieDocument> = (0..12).map(|i| all.remove(i * 17)).collect();
        delete_all(index, &gone).await;
        for prefix in [
            "s", "st", "star", "Sto", "stars", "dark n", "night ri", "star st", "z",
        ] {
            for limit in [1, 3, 10, 40] {
                let got: Vec<Uuid> = index
                    .suggest(prefix, limit)
                    .await
                    .expect("suggest")
                    .iter()
                    .map(|s| s.id)
                    .collect();
                let expected = suggested(&all, prefix, limit);
                assert_eq!(got, expected, "{prefix:?}, limit {limit}");
            }
        }
        assert!(
            suggested(&all, "st", 40).len() == 40,
            "the catalogue gives the cut something to choose from"
        );
    }
}

/// Many hits with the same sort key, in several segments, cut by pages: the id decides, so
/// the pages together are every hit once, in id order. A deleted movie (a tombstone in the
/// tantivy index) is left out whether the search has text, filters, or neither.
#[tokio::test]
async fn equal_keys_are_paged_in_id_order_and_deleted_movies_never_show() {
    for adapter in adapters().await {
        let index = adapter.index.as_ref();
        eprintln!("adapter: {}", adapter.name);
        let mut all: Vec<MovieDocument> = (0..23)
            .map(|_| doc("Echo Road", "Jane Campion", &["Drama"], 7.0, 50.0))
            .collect();
        // Three commits, so the hits come from more than one segment.
        index_in_commits(index, &all, 8).await;
        let gone = all.remove(11);
        delete_all(index, &[gone]).await;
        let mut expected: Vec<Uuid> = all.iter().map(|m| m.id).collect();
        expected.sort_unstable();
        let searches = [
            SearchRequest {
                q: Some("echo".into()),
                ..SearchRequest::default()
            },
            SearchRequest {
                filter: MovieFilter {
                    genres: Some(GenreFilter::All(vec!["Drama".into()])),
                    ..MovieFilter::default()
                },
                sort: SearchSort::ImdbScore { descending: true },
                ..SearchRequest::default()
            },
            SearchRequest {
                filter: MovieFilter {
                    director: Some("Jane Campion".into()),
                    ..MovieFilter::default()
                },
                sort: SearchSort::Popularity { descending: false },
                ..SearchRequest::default()
            },
            SearchRequest::default(),
        ];
        for search in searches {
            let mut seen = Vec::new();
            for page in 1..=4 {
                let response = index
                    .search(&SearchRequest {
                        page,
                        per_page: 7,
                        ..search.clone()
                    })
                    .await
                    .expect("search");
                assert_eq!(response.total, 22, "{search:?}");
                seen.extend(response.hits.iter().map(|h| h.movie.id));
            }
            assert_eq!(seen, expected, "{search:?}: every hit once, in id order");
        }
    }
}
