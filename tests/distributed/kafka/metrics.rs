//! What `/metrics` shows of a stalled projection.

use super::*;

/// A gauge from `text` (Prometheus exposition), if present.
fn gauge(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// A dead projector cannot hide behind healthy services: the query API's `/metrics` says how
/// old the newest applied event is (from the checkpoint every applying batch keeps), the
/// command API's how old the newest stored one is, and the gap between the two grows while
/// the projector is dead. A live projector reports the gap itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_metrics_show_a_stalled_projection() {
    let Some(tansu) = tansu() else { return };
    let mut stack = Stack::start(tansu, 1, 1, 1);
    let admin = stack.token(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let metrics = |base: &str| {
        let url = format!("{base}/metrics");
        let client = stack.client.clone();
        async move {
            let response = client.get(url).send().await.expect("metrics");
            assert_eq!(response.status(), 200);
            response.text().await.expect("text")
        }
    };
    let add = |name: &str| json!({ "name": name, "director": "Stall", "genre": ["Drama"], "imdb_score": 5.0, "99popularity": 50 });

    let response = stack
        .send(
            reqwest::Method::POST,
            format!("{}/v1/movies", stack.command(0)),
            Some(&admin),
            Some(add("Applied")),
            None,
        )
        .await;
    assert_eq!(response.status(), 201);
    let (status, _) = stack
        .read(
            0,
            "/v1/movies?director=Stall",
            None,
            &consistency(&response),
        )
        .await;
    assert_eq!(status, 200);
    let text = metrics(stack.projectors[0].1.as_str()).await;
    assert_eq!(
        gauge(&text, "moviedb_projection_behind_seconds"),
        Some(0.0),
        "{text}"
    );
    // Each service counts its own requests by route: the projector its scrapes.
    let text = metrics(stack.projectors[0].1.as_str()).await;
    assert!(
        text.contains(r#"moviedb_http_requests_total{method="GET",route="/metrics",status="200"}"#),
        "{text}"
    );
    let text = metrics(stack.query(0)).await;
    assert!(
        gauge(&text, "moviedb_projection_newest_event_age_seconds").is_some(),
        "{text}"
    );
    assert!(
        text.contains(
            r#"moviedb_http_requests_total{method="GET",route="/v1/movies",status="200"}"#
        ),
        "{text}"
    );
    assert!(!text.contains(r#"method="POST""#), "{text}");
    // The command API's own: the newest event and the relay's backlog (empty once the relay
    // has removed what it published).
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = metrics(stack.command(0)).await;
        if gauge(&text, "moviedb_outbox_pending") == Some(0.0) || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        gauge(&text, "moviedb_event_store_newest_event_age_seconds").is_some(),
        "{text}"
    );
    assert_eq!(gauge(&text, "moviedb_outbox_pending"), Some(0.0), "{text}");
    assert!(
        text.contains(
            r#"moviedb_http_requests_total{method="POST",route="/v1/movies",status="201"} 1"#
        ),
        "{text}"
    );
    assert_eq!(
        gauge(&text, "moviedb_outbox_oldest_pending_age_seconds"),
        Some(0.0),
        "{text}"
    );

    // The projector dies; a write comes 1.5 s after the last one applied.
    let (mut projector, _) = stack.projectors.remove(0);
    projector.child.kill().expect("SIGKILL");
    projector.child.wait().expect("reaped");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let response = stack
        .send(
            reqwest::Method::POST,
            format!("{}/v1/movies", stack.command(0)),
            Some(&admin),
            Some(add("Never applied")),
            None,
        )
        .await;
    assert_eq!(response.status(), 201);
    let stored = metrics(stack.command(0)).await;
    let applied = metrics(stack.query(0)).await;
    let stored_age =
        gauge(&stored, "moviedb_event_store_newest_event_age_seconds").expect("stored");
    let applied_age =
        gauge(&applied, "moviedb_projection_newest_event_age_seconds").expect("applied");
    assert!(
        applied_age - stored_age >= 1.5,
        "command API: {stored}\nquery API: {applied}"
    );
}
