//! Read-your-writes, one port for both sides, and a rebuild while serving.

use crate::on_both_backends;
use crate::reads::{get, names};
use crate::support::*;
use reqwest::Method;
use serde_json::json;
use std::time::Instant;

async fn two_hundred_writes_are_each_read_back_at_once(app: TestApp) {
    let admin = app.admin_token().await;
    let added = seed(&app, &admin, &[movie("Read your writes")]).await;
    let (id, _) = &added[0];
    let mut took = Vec::with_capacity(200);
    for n in 1..=200u32 {
        let score = f64::from(n % 100) / 10.0;
        let started = Instant::now();
        let written = app
            .send(
                Method::PATCH,
                &format!("/v1/movies/{id}"),
                Some(&admin),
                &json!({ "imdb_score": score, "99popularity": f64::from(n % 101) }),
            )
            .await;
        assert_eq!(written.status(), 200, "write {n}");
        let consistency = header(&written, "consistency-token");
        let read = get(&app, &format!("/v1/movies/{id}"), None, Some(&consistency)).await;
        took.push(started.elapsed());
        assert_eq!(read.status(), 200, "read {n}");
        let movie = body(read).await;
        assert_eq!(movie["version"], n + 1, "read {n} saw an older version");
        assert_eq!(movie["imdb_score"], score);
    }
    took.sort();
    // Reported, not asserted: performance is measured by the load harness, not by tests.
    println!(
        "write then consistent read, 200 rounds: median {:?}, worst {:?}",
        took[took.len() / 2],
        took[took.len() - 1]
    );
}

/// Read-your-writes for search: 50 edits, each searched at once with its token, each found at
/// its new version (its new name). Each waits for an index commit (at most one per 100 ms),
/// so 50, not 200: `tests/distributed/gateway/stack.rs` makes 200 through a separate query API.
async fn fifty_writes_are_each_found_by_search_at_once(app: TestApp) {
    let admin = app.admin_token().await;
    let added = seed(&app, &admin, &[movie("Searchable")]).await;
    let (id, _) = &added[0];
    for n in 1..=50u32 {
        let written = app
            .send(
                Method::PATCH,
                &format!("/v1/movies/{id}"),
                Some(&admin),
                &json!({ "name": format!("Renamed Wq{n:03}") }),
            )
            .await;
        assert_eq!(written.status(), 200, "write {n}");
        let consistency = header(&written, "consistency-token");
        let found = get(
            &app,
            &format!("/v1/movies/search?q=wq{n:03}&per_page=100"),
            None,
            Some(&consistency),
        )
        .await;
        assert_eq!(found.status(), 200, "search {n}");
        let found = body(found).await;
        let hit = found["items"]
            .as_array()
            .and_then(|items| items.iter().find(|m| m["id"] == id.as_str()))
            .unwrap_or_else(|| panic!("search {n} missed the write: {found}"));
        assert_eq!(hit["version"], n + 1, "search {n} saw an older version");
    }
}

async fn a_bad_or_unreachable_consistency_token_is_a_clear_error(app: TestApp) {
    problem(
        get(&app, "/v1/movies", None, Some("not a token")).await,
        400,
    )
    .await;
    let future = format!("{}@5", uuid::Uuid::now_v7());
    let response = get(&app, "/v1/movies", None, Some(&future)).await;
    assert_eq!(header(&response, "retry-after"), "1");
    let problem = problem(response, 503).await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("Consistency-Token")),
        "{problem}"
    );
}

async fn one_port_serves_every_route_of_both_sides(app: TestApp) {
    let admin = app.admin_token().await;
    for (method, path) in [
        (Method::GET, "/api/movies_curd/"),
        (Method::GET, "/v1/movies"),
        (Method::GET, "/v1/movies/search?q=oz"),
        (Method::GET, "/v1/movies/suggest?q=o"),
        (Method::GET, "/health/live"),
        (Method::GET, "/health/ready"),
        (Method::GET, "/metrics"),
        (Method::GET, "/api/user_list/"),
        (Method::GET, "/v1/users"),
    ] {
        let response = app
            .request(method.clone(), path, Some(&admin))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "{method} {path}");
    }
    problem(
        app.request(Method::PATCH, "/api/movies_curd/", None)
            .send()
            .await
            .expect("sent"),
        405,
    )
    .await;
    let metrics = app
        .request(Method::GET, "/metrics", None)
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("moviedb_projection_lag_ms"), "{metrics}");
    assert_eq!(
        metrics.contains("moviedb_outbox_pending "),
        app.store.outbox().is_some(),
        "the outbox backlog is reported where there is an outbox: {metrics}"
    );
    // Every request is counted and timed by the route it matched, with its status.
    for series in [
        r#"moviedb_http_requests_total{method="GET",route="/v1/movies/search",status="200"} 1"#,
        r#"moviedb_http_requests_total{method="GET",route="/api/movies_curd",status="200"} 1"#,
        r#"moviedb_http_requests_total{method="PATCH",route="/api/movies_curd",status="405"} 1"#,
        r#"moviedb_http_request_duration_seconds_count{method="GET",route="/v1/users",status="200"} 1"#,
        r#"moviedb_http_request_duration_seconds_bucket{method="GET",route="/health/live",status="200",le="10"} 1"#,
    ] {
        assert!(metrics.contains(series), "no `{series}` in {metrics}");
    }
}

async fn a_rebuild_while_serving_equals_the_live_read_models(app: TestApp) {
    let admin = app.admin_token().await;
    let added = seed(&app, &admin, &[oz(), movie("Second"), movie("Third")]).await;
    let (id, _) = &added[1];
    let deleted = app
        .request(Method::DELETE, &format!("/v1/movies/{id}"), Some(&admin))
        .send()
        .await
        .expect("sent");
    let consistency = header(&deleted, "consistency-token");
    assert_eq!(names(&app, "/v1/movies", &consistency).await.len(), 2);
    let live = app.read.dump().await.expect("dump");
    let progress = std::sync::Mutex::new(Vec::new());
    let rebuilt = moviedb_projector::rebuild::rebuild(
        app.store.clone(),
        app.read.clone(),
        Some(app.search.clone()),
        |done, total| {
            progress.lock().expect("lock").push((done, total));
        },
    )
    .await
    .expect("rebuilt");
    assert_eq!(rebuilt.replayed, 5, "the admin, three movies and a delete");
    assert_eq!(progress.lock().expect("lock").last(), Some(&(5, 5)));
    assert_eq!(app.read.dump().await.expect("dump"), live);
    // The service goes on writing and reading on the swapped-in tables.
    let more = seed(&app, &admin, &[movie("After the rebuild")]).await;
    assert_eq!(
        names(&app, "/v1/movies?sort_by=name.asc", &more[0].1).await,
        ["After the rebuild", "The Wizard of Oz", "Third"]
    );
    // The search index was rebuilt and swapped in too, and follows later writes.
    assert_eq!(
        names(&app, "/v1/movies/search?sort_by=name.asc", &more[0].1).await,
        ["After the rebuild", "The Wizard of Oz", "Third"]
    );
    assert_eq!(rebuilt.reindexed, 0, "nothing was left behind by the swap");
}

crate::on_elasticsearch!(
    two_hundred_writes_are_each_read_back_at_once,
    fifty_writes_are_each_found_by_search_at_once,
);

on_both_backends!(
    two_hundred_writes_are_each_read_back_at_once,
    fifty_writes_are_each_found_by_search_at_once,
    a_bad_or_unreachable_consistency_token_is_a_clear_error,
    one_port_serves_every_route_of_both_sides,
    a_rebuild_while_serving_equals_the_live_read_models,
);
