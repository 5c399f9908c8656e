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
