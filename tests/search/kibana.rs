//! The Kibana saved objects the compose job imports (`deploy/kibana/moviedb.ndjson`): they
//! parse, the dashboard's panels exist, and every field a visualization queries is mapped by
//! the index templates in the repository.

use moviedb_search::elastic::{EVENTS_TEMPLATE, MOVIES_TEMPLATE};
use serde_json::Value;
use std::collections::HashSet;

fn mapped_fields(template: &str) -> HashSet<String> {
    let template: Value = serde_json::from_str(template).expect("template");
    let mut fields = HashSet::new();
    fn walk(prefix: &str, properties: &Value, into: &mut HashSet<String>) {
        for (name, field) in properties.as_object().into_iter().flatten() {
            let path = format!("{prefix}{name}");
            into.insert(path.clone());
            if let Some(inner) = field.get("properties") {
                walk(&format!("{path}."), inner, into);
            }
        }
    }
    walk(
        "",
        &template["template"]["mappings"]["properties"],
        &mut fields,
    );
    fields
}

/// Every `"field": "..."` in a Elasticsearch query body.
fn queried_fields(body: &Value, into: &mut Vec<String>) {
    match body {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("field", Value::String(f)) => into.push(f.clone()),
                    ("term" | "range", Value::Object(inner)) => into.extend(inner.keys().cloned()),
                    _ => queried_fields(value, into),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| queried_fields(v, into)),
        _ => {}
    }
}

#[test]
fn the_saved_objects_are_whole_and_query_only_mapped_fields() {
    let ndjson = include_str!("../../deploy/kibana/moviedb.ndjson");
    let objects: Vec<Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let ids: HashSet<(&str, &str)> = objects
        .iter()
        .map(|o| {
            (
                o["type"].as_str().expect("type"),
                o["id"].as_str().expect("id"),
            )
        })
        .collect();
    let titles: Vec<&str> = objects
        .iter()
        .filter(|o| o["type"] == "index-pattern")
        .map(|o| o["attributes"]["title"].as_str().expect("title"))
        .collect();
    assert_eq!(
        titles,
        ["movies", "movie-events"],
        "a data view for each index"
    );
    let dashboard = objects
        .iter()
        .find(|o| o["type"] == "dashboard")
        .expect("a dashboard");
    let panels: Vec<Value> = serde_json::from_str(
        dashboard["attributes"]["panelsJSON"]
            .as_str()
            .expect("panels"),
    )
    .expect("panelsJSON");
    assert_eq!(panels.len(), 4);
    for reference in dashboard["references"].as_array().expect("references") {
        let target = (
            reference["type"].as_str().expect("type"),
            reference["id"].as_str().expect("id"),
        );
        assert!(
            ids.contains(&target),
            "the dashboard refers to a missing {target:?}"
        );
    }
    let movies = mapped_fields(MOVIES_TEMPLATE);
    let events = mapped_fields(EVENTS_TEMPLATE);
    for vis in objects.iter().filter(|o| o["type"] == "visualization") {
        let state: Value =
            serde_json::from_str(vis["attributes"]["visState"].as_str().expect("visState"))
                .expect("visState JSON");
        assert_eq!(state["type"], "vega");
        let spec: Value = serde_json::from_str(state["params"]["spec"].as_str().expect("spec"))
            .expect("the Vega-Lite spec is JSON");
        let url = &spec["data"]["url"];
        let mapped = match url["index"].as_str() {
            Some("movies") => &movies,
            Some("movie-events") => &events,
            other => panic!("{}: unknown index {other:?}", vis["id"]),
        };
        let mut fields = Vec::new();
        queried_fields(&url["body"], &mut fields);
        if let Some(time) = url["%timefield%"].as_str() {
            fields.push(time.to_owned());
        }
        assert!(!fields.is_empty(), "{}", vis["id"]);
        for field in fields {
            assert!(
                mapped.contains(&field),
                "{}: `{field}` is not mapped",
                vis["id"]
            );
        }
    }
}

/// The Vega specs of the saved objects, by id.
fn vega_specs() -> Vec<(String, Value)> {
    include_str!("../../deploy/kibana/moviedb.ndjson")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON"))
        .filter(|o| o["type"] == "visualization")
        .map(|vis| {
            let state: Value =
                serde_json::from_str(vis["attributes"]["visState"].as_str().expect("visState"))
                    .expect("visState JSON");
            let spec = serde_json::from_str(state["params"]["spec"].as_str().expect("spec"))
                .expect("spec JSON");
            (vis["id"].as_str().expect("id").to_owned(), spec)
        })
        .collect()
}

/// Kibana's rounding of a time span into a histogram interval (its Vega `%autointerval%`:
/// the span over 50 buckets, rounded to a step of this table).
fn round_interval(ms: i64) -> &'static str {
    const STEPS: [(i64, &str); 16] = [
        (500, "100ms"),
        (5_000, "1s"),
        (7_500, "5s"),
        (15_000, "10s"),
        (45_000, "30s"),
        (180_000, "1m"),
        (450_000, "5m"),
        (1_200_000, "10m"),
        (2_700_000, "30m"),
        (7_200_000, "1h"),
        (21_600_000, "3h"),
        (86_400_000, "12h"),
        (604_800_000, "24h"),
        (1_814_400_000, "1w"),
        (3_628_800_000 - 1, "30d"),
        (i64::MAX, "1y"),
    ];
    STEPS
        .iter()
        .find(|(limit, _)| ms <= *limit)
        .map_or("1y", |(_, s)| s)
}

/// What Kibana does to a Vega spec's `data.url` before it sends it (its Vega data source, read
/// in Kibana's source): the dashboard context and the time filter become the query (`%context%`,
/// `%timefield%`), and a date histogram's `interval` becomes `fixed_interval` or
/// `calendar_interval`, `%autointerval%` giving one from the time span. Nothing else is
/// replaced: any other `%...%` left is sent as it is, and refused.
fn as_kibana_sends(url: &Value, from: &str, to: &str, span_ms: i64) -> (String, Value) {
    let mut body = url["body"].clone();
    let context = url["%context%"] == Value::Bool(true);
    let timefield = url["%timefield%"].as_str();
    if body.get("query").is_none() && (context || timefield.is_some()) {
        let mut query = serde_json::json!({ "bool": {
            "must": [], "filter": [], "should": [], "must_not": []
        }});
        if let Some(field) = timefield {
            query["bool"]["must"].as_array_mut().expect("must").push(
                serde_json::json!({ "range": { field: {
                    "gte": from, "lte": to, "format": "strict_date_optional_time"
                }}}),
            );
        }
        body["query"] = query;
    }
    fn intervals(value: &mut Value, key: &str, span_ms: i64) {
        match value {
            Value::Object(map) => {
                if key == "date_histogram" {
                    if let Some(interval) = map.remove("interval") {
                        let step = match &interval {
                            Value::String(s) => s.clone(),
                            Value::Object(o) if o.contains_key("%autointerval%") => {
                                round_interval(span_ms / 50).to_owned()
                            }
                            other => panic!("an interval Kibana cannot read: {other}"),
                        };
                        let unit = step.trim_start_matches(|c: char| c.is_ascii_digit());
                        let calendar = step.starts_with("1/")
                            || (step.starts_with('1')
                                && step.len() == 2
                                && ["w", "M", "q", "y"].contains(&unit));
                        let name = if calendar {
                            "calendar_interval"
                        } else {
                            "fixed_interval"
                        };
                        map.insert(name.to_owned(), Value::String(step));
                    }
                }
                for (k, child) in map.iter_mut() {
                    intervals(child, k, span_ms);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| intervals(v, key, span_ms)),
            _ => {}
        }
    }
    if let Some(aggs) = body.get_mut("aggs") {
        intervals(aggs, "aggs", span_ms);
    }
    (url["index"].as_str().expect("index").to_owned(), body)
}

/// Every query of the dashboard, as Kibana would send it, is run against the search server's
/// `movies` and `movie-events` indices and accepted, and gives the data its spec draws.
#[tokio::test]
async fn every_query_of_the_dashboard_is_accepted_by_the_search_server() {
    use moviedb_search::{ElasticIndex, EventDocument, IndexOp, MovieDocument, SearchIndex};
    let Some(url) = crate::search_server::shared_url() else {
        return;
    };
    let prefix = format!("moviedb-test-{}-", uuid::Uuid::now_v7().simple());
    let index = ElasticIndex::connect(&url, &prefix).await.expect("connect");
    let movie = MovieDocument {
        id: uuid::Uuid::now_v7(),
        name: "Psycho".into(),
        director: "Alfred Hitchcock".into(),
        genres: vec!["Horror".into()],
        imdb_score: 8.5,
        popularity: 85.0,
        version: 1,
        poster_path: None,
    };
    index
        .apply(vec![IndexOp::Upsert(movie.clone())])
        .await
        .expect("indexed");
    let now = chrono::Utc::now();
    index
        .record(&[EventDocument {
            event_id: uuid::Uuid::now_v7(),
            event_type: "MovieAdded".into(),
            stream_type: "movie".into(),
            stream_id: movie.id,
            version: 1,
            recorded_at: now - chrono::Duration::hours(1),
            actor_id: None,
            actor_kind: None,
            movie: None,
        }])
        .await
        .expect("recorded");
    let http = reqwest::Client::new();
    // Refreshed once, so the events just recorded are searchable (Kibana reads them later).
    let refreshed = http
        .post(format!("{url}/{prefix}movie-events/_refresh"))
        .send()
        .await
        .expect("refresh");
    assert!(refreshed.status().is_success());
    let (from, to) = (now - chrono::Duration::days(7), now);
    let span_ms = (to - from).num_milliseconds();
    let specs = vega_specs();
    assert_eq!(specs.len(), 4);
    for (id, spec) in specs {
        let (target, body) = as_kibana_sends(
            &spec["data"]["url"],
            &from.to_rfc3339(),
            &to.to_rfc3339(),
            span_ms,
        );
        let answer = http
            .post(format!("{url}/{prefix}{target}/_search"))
            .json(&body)
            .send()
            .await
            .expect("sent");
        let status = answer.status();
        let answer: Value = answer.json().await.expect("JSON");
        assert!(status.is_success(), "{id}: {status} {answer}\nbody: {body}");
        let property = spec["data"]["format"]["property"]
            .as_str()
            .expect("property");
        let data = property.split('.').fold(&answer, |v, key| &v[key]);
        assert!(
            data.as_array().is_some_and(|d| !d.is_empty()),
            "{id}: nothing at {property} in {answer}"
        );
    }
}
