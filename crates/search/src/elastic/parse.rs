//! Reading Elasticsearch's answers, in its documented format, without a cluster: errors,
//! per-item bulk results, partial shard failures, hits, aggregations and highlights.

use crate::highlight::highlight;
use crate::{
    GenreCount, Hit, IndexReport, MovieDocument, ScoreBucket, SearchError, SearchResponse,
    Suggestion,
};
use serde_json::Value;
use std::collections::HashMap;
use uuid::Uuid;

/// Turns an error answer into a [`SearchError`]: 429 and 5xx may pass (retry), anything else
/// is a fault of the request or the index.
pub fn error(status: u16, body: &Value) -> SearchError {
    let reason = body
        .pointer("/error/root_cause/0/reason")
        .or_else(|| body.pointer("/error/reason"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| body.get("error").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| "no reason given".to_owned());
    let kind = body
        .pointer("/error/type")
        .and_then(Value::as_str)
        .unwrap_or("error");
    let message = format!("Elasticsearch answered {status} ({kind}): {reason}");
    if status == 429 || status >= 500 {
        SearchError::Unavailable(message)
    } else {
        SearchError::Index(message)
    }
}

/// Checks the status; an error answer becomes a [`SearchError`].
pub fn ok(status: u16, body: &Value) -> Result<(), SearchError> {
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(error(status, body))
    }
}

/// A bulk answer: each item applied, or refused as stale (409: a version conflict under
/// `version_type=external`, or an event already recorded). Any other item failure fails the
/// batch, so the projector retries it (applied items are then refused as stale).
pub fn bulk(status: u16, body: &Value) -> Result<IndexReport, SearchError> {
    ok(status, body)?;
    let items = body
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| SearchError::Index("a bulk answer without items".into()))?;
    let mut report = IndexReport::default();
    let mut failures = Vec::new();
    for item in items {
        let result = item
            .as_object()
            .and_then(|o| o.values().next())
            .ok_or_else(|| SearchError::Index(format!("a bulk item without a result: {item}")))?;
        let item_status = result.get("status").and_then(Value::as_u64).unwrap_or(0);
        match item_status {
            200..=299 => report.applied += 1,
            409 => report.stale += 1,
            _ => failures.push((u16::try_from(item_status).unwrap_or(500), result.clone())),
        }
    }
    match failures.first() {
        None => Ok(report),
        Some((status, result)) => {
            let first = error(*status, result);
            let message = format!(
                "{} of {} bulk items failed; first: {first}",
                failures.len(),
                items.len()
            );
            // One item the cluster could not take right now makes the batch worth retrying.
            if failures.iter().any(|(s, _)| *s == 429 || *s >= 500) {
                Err(SearchError::Unavailable(message))
            } else {
                Err(SearchError::Index(message))
            }
        }
    }
}

/// A search that timed out or lost shards answers 200 with part of the hits; its total and
/// facets would be wrong without saying so, so it is an error (retry).
fn complete(body: &Value) -> Result<(), SearchError> {
    if body.get("timed_out").and_then(Value::as_bool) == Some(true) {
        return Err(SearchError::Unavailable("the search timed out".into()));
    }
    let failed = body
        .pointer("/_shards/failed")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if failed > 0 {
        let total = body
            .pointer("/_shards/total")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let reason = body
            .pointer("/_shards/failures/0/reason/reason")
            .and_then(Value::as_str)
            .unwrap_or("no reason given");
        return Err(SearchError::Unavailable(format!(
            "{failed} of {total} shards failed: {reason}"
        )));
    }
    Ok(())
}

fn hits(body: &Value) -> Result<&Vec<Value>, SearchError> {
    body.pointer("/hits/hits")
        .and_then(Value::as_array)
        .ok_or_else(|| SearchError::Index("a search answer without hits".into()))
}

/// A search answer: the page of hits, the total, and the facets; each hit's highlights are
/// made from its text and the query's `words`, as the tantivy adapter makes them.
pub fn search(status: u16, body: &Value, words: &[String]) -> Result<SearchResponse, SearchError> {
    ok(status, body)?;
    complete(body)?;
    let total = body
        .pointer("/hits/total/value")
        .and_then(Value::as_u64)
        .ok_or_else(|| SearchError::Index("a search answer without hits.total.value".into()))?;
    // "gte" when the search counted to its `track_total_hits` bound and stopped there.
    let total_exact = body.pointer("/hits/total/relation").and_then(Value::as_str) != Some("gte");
    let hits = hits(body)?
        .iter()
        .map(|hit| {
            let source = hit
                .get("_source")
                .cloned()
                .ok_or_else(|| SearchError::Index("a hit without _source".into()))?;
            let movie: MovieDocument = serde_json::from_value(source)
                .map_err(|e| SearchError::Index(format!("a hit's _source: {e}")))?;
            Ok(Hit {
                score: hit.get("_score").and_then(Value::as_f64).unwrap_or(0.0) as f32,
                name_highlight: highlight(&movie.name, words),
                director_highlight: highlight(&movie.director, words),
                movie,
            })
        })
        .collect::<Result<Vec<_>, SearchError>>()?;
    let buckets = |name: &str| {
        body.pointer(&format!("/aggregations/{name}/buckets"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let genres = buckets("genres")
        .iter()
        .filter_map(|b| {
            Some(GenreCount {
                genre: b.get("key")?.as_str()?.to_owned(),
                count: b.get("doc_count")?.as_u64()?,
            })
        })
        .collect();
    let imdb_score_histogram = buckets("imdb_score_histogram")
        .iter()
        .filter_map(|b| {
            Some(ScoreBucket {
                from: b.get("from")?.as_f64()?,
                count: b.get("doc_count")?.as_u64()?,
            })
        })
        .collect();
    Ok(SearchResponse {
        hits,
        total,
        total_exact,
        genres,
        imdb_score_histogram,
    })
}

/// An autocomplete answer.
pub fn suggest(status: u16, body: &Value) -> Result<Vec<Suggestion>, SearchError> {
    ok(status, body)?;
    complete(body)?;
    hits(body)?
        .iter()
        .map(|hit| {
            let field = |name: &str| {
                hit.pointer(&format!("/_source/{name}"))
                    .and_then(Value::as_str)
            };
            let id = field("id")
                .and_then(|id| id.parse().ok())
                .ok_or_else(|| SearchError::Index("a suggestion without an id".into()))?;
            let name = field("name")
                .ok_or_else(|| SearchError::Index("a suggestion without a name".into()))?;
            Ok(Suggestion {
                id,
                name: name.to_owned(),
            })
        })
        .collect()
}

/// An `_mget` answer: the version of each document found.
pub fn versions(status: u16, body: &Value) -> Result<HashMap<Uuid, u64>, SearchError> {
    ok(status, body)?;
    let docs = body
        .get("docs")
        .and_then(Value::as_array)
        .ok_or_else(|| SearchError::Index("an mget answer without docs".into()))?;
    let mut found = HashMap::new();
    for doc in docs {
        if let Some(e) = doc.get("error") {
            return Err(error(500, &serde_json::json!({ "error": e })));
        }
        if doc.get("found").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let id = doc
            .get("_id")
            .and_then(Value::as_str)
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| SearchError::Index(format!("an mget doc without an id: {doc}")))?;
        let version = doc
            .get("_version")
            .and_then(Value::as_u64)
            .ok_or_else(|| SearchError::Index(format!("an mget doc without a version: {doc}")))?;
        found.insert(id, version);
    }
    Ok(found)
}

/// The concrete indices an alias points at (`GET _alias/<name>`), sorted.
pub fn alias_targets(status: u16, body: &Value) -> Result<Vec<String>, SearchError> {
    if status == 404 {
        return Ok(Vec::new());
    }
    ok(status, body)?;
    let mut indices: Vec<String> = body
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    indices.sort();
    Ok(indices)
}

/// The analysis each index of a `GET <index>/_mapping` answer was made with
/// (`mappings._meta.analysis`; `None` for an index made before it was recorded).
pub fn analyses(body: &Value) -> Vec<Option<String>> {
    body.as_object()
        .into_iter()
        .flat_map(|o| o.values())
        .map(|index| {
            index
                .pointer("/mappings/_meta/analysis")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}
