//! Movie search and autocomplete, from the search index.

use crate::consistency::wait_for_index;
use crate::params;
use crate::state::QueryState;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use moviedb_search::SearchSort;
use moviedb_service_kit::ApiError;
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

/// A page of hits with `total`, facets over every hit, and highlights.
async fn search(
    State(state): State<QueryState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let request = params::search_request(raw.as_deref())?;
    wait_for_index(&headers, &state).await?;
    let found = state
        .search
        .search(&request)
        .await
        .map_err(super::search_error)?;
    let mut body = super::page_json(
        found
            .hits
            .into_iter()
            .map(|hit| serde_json::to_value(SearchHit::from(hit)).unwrap_or_default())
            .collect(),
        found.total,
        request.page,
        request.per_page,
    );
    body["q"] = json!(request.q);
    body["sort_by"] = json!(sort_name(request.sort));
    body["facets"] = json!({
        "genre": found.genres,
        "imdb_score": found
            .imdb_score_histogram
            .iter()
            .map(|b| json!({ "from": b.from, "to": b.from + 1.0, "count": b.count }))
            .collect::<Vec<_>>(),
    });
    Ok(Json(body))
}

/// Names that start with the letters typed so far.
async fn suggest(
    State(state): State<QueryState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let (q, limit) = params::suggest(raw.as_deref())?;
    wait_for_index(&headers, &state).await?;
    let items = state
        .search
        .suggest(&q, limit)
        .await
        .map_err(super::search_error)?;
    Ok(Json(json!({ "q": q, "items": items })))
}
