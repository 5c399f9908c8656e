//! Movie search and autocomplete, from the search index.

use crate::consistency::FreshIndex;
use crate::params;
use crate::state::QueryState;
use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use moviedb_search::SearchSort;
use moviedb_service_kit::ApiError;
use moviedb_wire::schema::{Facets, GenreCount, Page, ScoreBucket, SearchPage};
use moviedb_wire::SearchHit;
use serde_json::{json, Value};

pub(super) fn router() -> Router<QueryState> {
    Router::new()
        .route("/v1/movies/search", get(search))
        .route("/v1/movies/suggest", get(suggest))
}

fn sort_name(sort: SearchSort) -> String {
    let way = |descending: bool| if descending { "desc" } else { "asc" };
    match sort {
        SearchSort::Relevance => "relevance".into(),
        SearchSort::ImdbScore { descending } => format!("imdb_score.{}", way(descending)),
        SearchSort::Popularity { descending } => format!("99popularity.{}", way(descending)),
        SearchSort::Name { descending } => format!("name.{}", way(descending)),
    }
}

/// A page of hits with `total` (counted to 10 000 unless `total=exact`), highlights, and the
/// facets asked for over every hit.
#[utoipa::path(get, path = "/v1/movies/search", tag = "search", operation_id = "searchMovies",
    summary = "Search: typo-tolerant text, filters, facets, highlights",
    params(crate::params::MovieParams, crate::consistency::ConsistencyHeader),
    description = "`total` counts hits up to 10 000: a search with more answers 10 000 with `total_relation: gte` (Elasticsearch's default `track_total_hits`, Meilisearch's estimated totals), unless `total=exact` or facets are asked for. Pages reach the first 10 000 hits (`page` × `per_page` ≤ 10 000, Elasticsearch's `index.max_result_window`), on either search engine; a deeper page is a 400 problem. Walk the whole catalogue with `GET /v1/movies`.",
    responses((status = 200, description = "A page of hits", body = SearchPage),
        (status = 400, description = "A bad parameter, or a page beyond the first 10 000 hits", body = moviedb_wire::schema::Problem, content_type = "application/problem+json")),
    security(()))]
async fn search(
    State(state): State<QueryState>,
    RawQuery(raw): RawQuery,
    _seen: FreshIndex,
) -> Result<Json<SearchPage>, ApiError> {
    let (request, facets) = params::search_request(raw.as_deref())?;
    let found = state
        .search
        .search(&request)
        .await
        .map_err(super::search_error)?;
    let per_page = request.per_page.clamp(1, moviedb_read_model::MAX_PER_PAGE);
    let facets = facets.any().then(|| Facets {
        genre: facets.genre.then(|| {
            found
                .genres
                .iter()
                .map(|g| GenreCount {
                    genre: g.genre.clone(),
                    count: g.count,
                })
                .collect()
        }),
        imdb_score: facets.imdb_score.then(|| {
            found
                .imdb_score_histogram
                .iter()
                .map(|b| ScoreBucket {
                    from: b.from,
                    to: b.from + 1.0,
                    count: b.count,
                })
                .collect()
        }),
    });
    Ok(Json(SearchPage {
        page: Page::new(
            found.hits.into_iter().map(SearchHit::from).collect(),
            request.page,
            per_page,
            found.total,
            found.total_exact,
        ),
        q: request.q.clone(),
        sort_by: sort_name(request.sort),
        facets,
    }))
}

/// Names that start with the letters typed so far.
#[utoipa::path(get, path = "/v1/movies/suggest", tag = "search", operation_id = "suggestNames",
    summary = "Names starting with the letters typed (search as you type)",
    params(crate::params::SuggestParams, crate::consistency::ConsistencyHeader),
    responses((status = 200, description = "Matching names", body = moviedb_wire::schema::Suggestions)),
    security(()))]
async fn suggest(
    State(state): State<QueryState>,
    RawQuery(raw): RawQuery,
    _seen: FreshIndex,
) -> Result<Json<Value>, ApiError> {
    let (q, limit) = params::suggest(raw.as_deref())?;
    let items = state
        .search
        .suggest(&q, limit)
        .await
        .map_err(super::search_error)?;
    Ok(Json(json!({ "q": q, "items": items })))
}
