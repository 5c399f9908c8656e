//! The parameters as clients send them: the forms accepted and the ones refused.

use super::*;
use moviedb_search::{SearchRequest, SearchSort};

fn q(raw: &str) -> Result<MovieQuery, ApiError> {
    movie_query(Some(raw))
}

#[test]
fn comma_means_all_and_pipe_means_any() {
    assert_eq!(
        q("genre=Drama,War").ok().and_then(|q| q.filter.genres),
        Some(GenreFilter::All(vec!["Drama".into(), "War".into()]))
    );
    assert_eq!(
        q("genre=Drama%7CWar").ok().and_then(|q| q.filter.genres),
        Some(GenreFilter::Any(vec!["Drama".into(), "War".into()]))
    );
    assert!(q("genre=Drama,War|Crime").is_err());
}

#[test]
fn per_page_is_capped_and_bad_numbers_are_refused() {
    assert_eq!(
        q("per_page=1000").map(|q| q.per_page).ok(),
        Some(MAX_PER_PAGE)
    );
    for bad in [
        "page=0",
        "page=-1",
        "imdb_score.gte=abc",
        "imdb_score.gte=NaN",
        "imdb_score.lte=11",
        "99popularity.gte=inf",
        "sort_by=price.asc",
        "sort_by=name.up",
        "colour=red",
        "name=",
    ] {
        assert!(q(bad).is_err(), "{bad} was accepted");
    }
}

fn search(raw: &str) -> Result<SearchRequest, ApiError> {
    search_request(Some(raw)).map(|(request, _)| request)
}

#[test]
fn a_search_counts_to_ten_thousand_unless_asked_for_every_hit() {
    let up_to = |raw: &str| search(raw).map(|r| r.total_up_to);
    assert_eq!(up_to("q=x").ok(), Some(Some(10_000)));
    assert_eq!(up_to("q=x&total=exact").ok(), Some(None));
    assert!(up_to("total=all").is_err());
    assert!(up_to("total=").is_err());
    assert!(
        movie_query(Some("total=exact")).is_err(),
        "lists take no total"
    );
}

#[test]
fn facets_are_counted_only_when_asked_and_named_rightly() {
    let facets = |raw: &str| search_request(Some(raw)).map(|(r, f)| (r.facets, f));
    assert_eq!(facets("q=x").ok(), Some((false, Facets::default())));
    assert_eq!(
        facets("facets=genre").ok(),
        Some((
            true,
            Facets {
                genre: true,
                imdb_score: false
            }
        ))
    );
    assert_eq!(
        facets("facets=imdb_score,%20genre").ok(),
        Some((
            true,
            Facets {
                genre: true,
                imdb_score: true
            }
        ))
    );
    assert!(facets("facets=director").is_err());
    assert!(facets("facets=").is_err());
    assert!(
        movie_query(Some("facets=genre")).is_err(),
        "lists have no facets"
    );
}

#[test]
fn search_sorts_by_relevance_only_with_a_query_text() {
    assert_eq!(
        search("q=psycho").map(|r| r.sort).ok(),
        Some(SearchSort::Relevance)
    );
    assert_eq!(
        search("").map(|r| r.sort).ok(),
        Some(SearchSort::Popularity { descending: true })
    );
    assert_eq!(
        search("q=x&sort_by=name.desc").map(|r| r.sort).ok(),
        Some(SearchSort::Name { descending: true })
    );
    for bad in [
        "sort_by=relevance",
        "q=x&sort_by=relevance.asc",
        "q=x&sort_by=created_at.asc",
        "q=",
        "name=psycho",
        "q=x&per_page=0",
    ] {
        assert!(search(bad).is_err(), "{bad} was accepted");
    }
    assert!(suggest(Some("")).is_err());
    assert!(suggest(Some("q=go&limit=21")).is_ok());
    assert!(suggest(Some("q=go&limit=0")).is_err());
    assert!(
        suggest(Some("q=go&q=gone")).is_err(),
        "a repeated parameter"
    );
}

#[test]
fn sort_defaults_to_ascending() {
    let sort = q("sort_by=99popularity").map(|q| q.sort).ok();
    assert_eq!(
        sort,
        Some(Sort {
            field: SortField::Popularity,
            descending: false
        })
    );
}
