//! Reading Elasticsearch's answers, in the format its documentation gives: hits, totals,
//! aggregations, highlights, per-item bulk results, errors and partial shard failures.

use moviedb_search::elastic::parse;
use moviedb_search::SearchError;
use serde_json::json;

const PSYCHO: &str = "01900000-0000-7000-8000-000000000001";

#[test]
fn a_search_answer_gives_hits_the_total_and_the_facets_and_its_words_the_highlights() {
    let answer = json!({
        "took": 3, "timed_out": false,
        "_shards": { "total": 1, "successful": 1, "skipped": 0, "failed": 0 },
        "hits": {
            "total": { "value": 42, "relation": "eq" },
            "max_score": 7.1,
            "hits": [{
                "_index": "movies-1", "_id": PSYCHO, "_score": 7.1,
                "_source": {
                    "id": PSYCHO, "deleted": false, "name": "Psycho", "name_key": "psycho",
                    "director": "Alfred Hitchcock", "director_key": "alfred hitchcock",
                    "genres": ["Horror"], "genre": ["horror"],
                    "imdb_score": 8.5, "popularity": 85.0, "version": 3
                },
                "sort": [7.1, PSYCHO]
            }]
        },
        "aggregations": {
            "genres": { "doc_count_error_upper_bound": 0, "sum_other_doc_count": 0,
                "buckets": [{ "key": "horror", "doc_count": 30 }, { "key": "drama", "doc_count": 12 }] },
            "imdb_score_histogram": { "buckets": [
                { "key": "0", "from": 0.0, "to": 1.0, "doc_count": 0 },
                { "key": "9", "from": 9.0, "doc_count": 2 }
            ]}
        }
    });
    // Highlights come from the search analysis over the hit's text, as on tantivy.
    let found = parse::search(200, &answer, &["hitchcok".to_owned()]).expect("parsed");
    assert_eq!(found.total, 42);
    assert_eq!(found.hits.len(), 1);
    let hit = &found.hits[0];
    assert_eq!(hit.movie.name, "Psycho");
    assert_eq!(hit.movie.version, 3);
    assert_eq!(hit.name_highlight, None);
    assert_eq!(
        hit.director_highlight.as_deref(),
        Some("Alfred <em>Hitchcock</em>")
    );
    assert!((hit.score - 7.1).abs() < 1e-6);
    assert_eq!(found.genres[0].genre, "horror");
    assert_eq!(found.genres[1].count, 12);
    assert_eq!(found.imdb_score_histogram[1].from, 9.0);
    assert_eq!(found.imdb_score_histogram[1].count, 2);
    assert!(found.total_exact);
    // A search counted to its `track_total_hits` bound says so with "gte".
    let mut bounded = answer.clone();
    bounded["hits"]["total"] = json!({ "value": 10000, "relation": "gte" });
    let found = parse::search(200, &bounded, &[]).expect("parsed");
    assert_eq!((found.total, found.total_exact), (10_000, false));
}

#[test]
fn a_search_with_failed_shards_or_a_timeout_is_an_error_to_retry_not_a_short_answer() {
    let partial = json!({
        "took": 5, "timed_out": false,
        "_shards": { "total": 3, "successful": 2, "skipped": 0, "failed": 1,
            "failures": [{ "shard": 2, "index": "movies-1", "node": "n1",
                "reason": { "type": "node_disconnected_exception", "reason": "node left" } }] },
        "hits": { "total": { "value": 2, "relation": "eq" }, "hits": [] }
    });
    match parse::search(200, &partial, &[]) {
        Err(SearchError::Unavailable(message)) => {
            assert!(message.contains("1 of 3 shards failed"), "{message}");
            assert!(message.contains("node left"), "{message}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let timed_out = json!({ "timed_out": true, "_shards": { "total": 1, "failed": 0 },
        "hits": { "total": { "value": 0 }, "hits": [] } });
    assert!(matches!(
        parse::search(200, &timed_out, &[]),
        Err(SearchError::Unavailable(_))
    ));
}

#[test]
fn error_answers_are_told_apart_by_status() {
    let missing = json!({
        "error": {
            "root_cause": [{ "type": "index_not_found_exception", "reason": "no such index [movies]" }],
            "type": "index_not_found_exception", "reason": "no such index [movies]"
        },
        "status": 404
    });
    match parse::search(404, &missing, &[]) {
        Err(SearchError::Index(message)) => {
            assert!(message.contains("404"), "{message}");
            assert!(message.contains("no such index [movies]"), "{message}");
        }
        other => panic!("expected Index, got {other:?}"),
    }
    let overloaded = json!({ "error": { "type": "es_rejected_execution_exception",
        "reason": "rejected execution" }, "status": 429 });
    assert!(matches!(
        parse::search(429, &overloaded, &[]),
        Err(SearchError::Unavailable(_))
    ));
    let down = json!({ "error": { "type": "cluster_block_exception", "reason": "blocked" }, "status": 503 });
    assert!(parse::search(503, &down, &[]).is_err_and(|e| e.is_transient()));
    assert!(
        parse::search(200, &json!({}), &[]).is_err(),
        "no hits at all"
    );
}

#[test]
fn bulk_items_count_version_conflicts_as_stale_and_fail_on_anything_else() {
    let answer = json!({
        "took": 30, "errors": true,
        "items": [
            { "index": { "_index": "movies-1", "_id": "a", "_version": 3, "result": "created", "status": 201 } },
            { "index": { "_index": "movies-1", "_id": "b", "_version": 2, "result": "updated", "status": 200 } },
            { "index": { "_index": "movies-1", "_id": "c", "status": 409,
                "error": { "type": "version_conflict_engine_exception",
                    "reason": "[c]: version conflict, current version [4] is higher or equal to the one provided [2]" } } },
            { "create": { "_index": "movie-events", "_id": "d", "status": 409,
                "error": { "type": "version_conflict_engine_exception", "reason": "document already exists" } } }
        ]
    });
    let report = parse::bulk(200, &answer).expect("parsed");
    assert_eq!((report.applied, report.stale), (2, 2));

    let mapping = json!({ "errors": true, "items": [
        { "index": { "_id": "a", "status": 201 } },
        { "index": { "_id": "b", "status": 400,
            "error": { "type": "document_parsing_exception", "reason": "failed to parse field [imdb_score]" } } }
    ]});
    match parse::bulk(200, &mapping) {
        Err(SearchError::Index(message)) => {
            assert!(message.contains("1 of 2 bulk items failed"), "{message}");
            assert!(message.contains("imdb_score"), "{message}");
        }
        other => panic!("expected Index, got {other:?}"),
    }
    let busy = json!({ "errors": true, "items": [
        { "index": { "_id": "a", "status": 429,
            "error": { "type": "es_rejected_execution_exception", "reason": "queue full" } } }
    ]});
    assert!(parse::bulk(200, &busy).is_err_and(|e| e.is_transient()));
    assert!(parse::bulk(413, &json!({ "error": "request too large" })).is_err());
}

#[test]
fn mget_gives_the_versions_of_documents_found() {
    let answer = json!({ "docs": [
        { "_index": "movies-1", "_id": PSYCHO, "_version": 5, "_seq_no": 9, "_primary_term": 1, "found": true },
        { "_index": "movies-1", "_id": "01900000-0000-7000-8000-000000000002", "found": false }
    ]});
    let versions = parse::versions(200, &answer).expect("parsed");
    assert_eq!(versions.len(), 1);
    assert_eq!(versions.get(&PSYCHO.parse().expect("uuid")), Some(&5));
}

#[test]
fn suggestions_and_alias_lookups() {
    let answer = json!({ "timed_out": false, "_shards": { "total": 1, "failed": 0 },
    "hits": { "total": { "value": 1 }, "hits": [
        { "_id": PSYCHO, "_score": 1.0, "_source": { "id": PSYCHO, "name": "Psycho" } }
    ]}});
    let suggestions = parse::suggest(200, &answer).expect("parsed");
    assert_eq!(suggestions[0].name, "Psycho");
    assert_eq!(
        parse::alias_targets(
            200,
            &json!({ "movies-b": { "aliases": { "movies": {} } },
            "movies-a": { "aliases": { "movies": {} } } })
        )
        .expect("parsed"),
        ["movies-a", "movies-b"]
    );
    assert!(parse::alias_targets(
        404,
        &json!({ "error": "alias [movies] missing", "status": 404 })
    )
    .expect("parsed")
    .is_empty());
}
