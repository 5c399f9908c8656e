use crate::on_both_backends;
use crate::support::*;
use reqwest::Method;
use serde_json::json;

on_both_backends!(
    an_admin_adds_a_movie_on_both_routes_and_a_movie_added_event_is_stored,
    a_bulk_add_reports_each_movies_outcome_and_stores_the_good_ones,
    the_same_name_and_director_is_409_naming_the_existing_movie,
    invalid_movie_fields_are_422_with_field_details_and_write_nothing,
    put_replaces_and_patch_changes_only_the_fields_sent,
    a_stale_if_match_is_412_and_writes_nothing,
    concurrent_edits_without_if_match_both_land_and_with_it_one_gets_412,
    a_deleted_movie_is_gone_and_its_name_is_free_again,
    renaming_a_movie_moves_its_uniqueness_key,
);

async fn an_admin_adds_a_movie_on_both_routes_and_a_movie_added_event_is_stored(app: TestApp) {
    let admin = app.admin_token().await;
    let response = app.post("/api/movies_curd/", Some(&admin), &oz()).await;
    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, "etag"), "\"1\"");
    let created = body(response).await;
    assert_eq!(
        created["genre"],
        json!(["Adventure", "Family", "Fantasy", "Musical"])
    );
    assert_eq!(created["99popularity"], 83.0);
    let id = created["id"].as_str().expect("id");

    let response = app.add_movie(&admin, &movie("Casablanca")).await;
    assert_eq!(response.status(), 201);
    assert!(header(&response, "location").starts_with("/v1/movies/"));

    let events = app.events().await;
    let added = events
        .iter()
        .find(|e| e.stream_id.to_string() == id)
        .expect("stored");
    assert_eq!(
        (
            added.event_type.as_str(),
            added.version,
            added.stream_type.as_str()
        ),
        ("MovieAdded", 1, "movie")
    );
    assert_eq!(
        added.payload["genres"],
        json!(["Adventure", "Family", "Fantasy", "Musical"])
    );
    assert!(added.metadata["actor_id"].is_string());
}

async fn a_bulk_add_reports_each_movies_outcome_and_stores_the_good_ones(app: TestApp) {
    let admin = app.admin_token().await;
    let batch =
        json!([oz(), movie("Casablanca"), { "name": "No director" }, oz(), movie("Metropolis")]);
    let response = app.post("/api/movies_curd/", Some(&admin), &batch).await;
    assert_eq!(response.status(), 207);
    let token = header(&response, "consistency-token");
    let report = body(response).await;
    assert_eq!(
        (report["created"].as_u64(), report["failed"].as_u64()),
        (Some(3), Some(2))
    );
    let statuses: Vec<u64> = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|r| r["status"].as_u64())
        .collect();
    assert_eq!(statuses, vec![201, 201, 422, 409, 201]);
    assert_eq!(
        report["results"][2]["problem"]["errors"][0]["field"],
        "director"
    );
    // The three stored movies, in the compact form a bulk add's token takes.
    let streams: moviedb_domain::ConsistencyToken = token.parse().expect("a token");
    assert_eq!(streams.0.len(), 3, "{token}");
    let added = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.event_type == "MovieAdded")
        .count();
    assert_eq!(added, 3);
    problem(app.post("/v1/movies", Some(&admin), &json!([])).await, 422).await;
}

async fn the_same_name_and_director_is_409_naming_the_existing_movie(app: TestApp) {
    let admin = app.admin_token().await;
    let first = body(app.add_movie(&admin, &oz()).await).await;
    let mut shouting = oz();
    shouting["name"] = json!("  THE WIZARD OF OZ ");
    shouting["director"] = json!("victor fleming");
    let problem = problem(app.add_movie(&admin, &shouting).await, 409).await;
    assert_eq!(problem["existing"]["id"], first["id"]);
    assert_eq!(problem["existing"]["name"], "The Wizard of Oz");
    // Same name, another director: a different movie.
    let mut remake = oz();
    remake["director"] = json!("Sam Raimi");
    assert_eq!(app.add_movie(&admin, &remake).await.status(), 201);
}

async fn invalid_movie_fields_are_422_with_field_details_and_write_nothing(app: TestApp) {
    let admin = app.admin_token().await;
    let before = app.events().await.len();
    let bad = json!({ "name": "x".repeat(201), "director": " ", "genre": [], "imdb_score": 10.5, "99popularity": -1 });
    let problem = problem(app.add_movie(&admin, &bad).await, 422).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        vec!["name", "director", "genre", "imdb_score", "99popularity"]
    );
    let wrong_type = json!({ "name": "A", "director": "B", "genre": ["C"], "imdb_score": "high", "99popularity": 1 });
    crate::support::problem(app.add_movie(&admin, &wrong_type).await, 422).await;
    assert_eq!(app.events().await.len(), before);
}

async fn put_replaces_and_patch_changes_only_the_fields_sent(app: TestApp) {
    let admin = app.admin_token().await;
    let id = body(app.add_movie(&admin, &oz()).await).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut replaced = oz();
    replaced["imdb_score"] = json!(9.1);
    let response = app
        .send(
            Method::PUT,
            &format!("/single_movies/{id}"),
            Some(&admin),
            &replaced,
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "etag"), "\"2\"");
    assert_eq!(header(&response, "consistency-token"), format!("{id}@2"));
    assert_eq!(body(response).await["imdb_score"], 9.1);

    let response = app
        .send(
            Method::PATCH,
            &format!("/v1/movies/{id}"),
            Some(&admin),
            &json!({ "99popularity": 99 }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let patched = body(response).await;
    assert_eq!(
        (
            patched["version"].as_u64(),
            patched["99popularity"].as_f64(),
            patched["imdb_score"].as_f64()
        ),
        (Some(3), Some(99.0), Some(9.1))
    );

    // A PUT without every field is refused; an unchanged PUT records nothing.
    problem(
        app.send(
            Method::PUT,
            &format!("/v1/movies/{id}"),
            Some(&admin),
            &json!({ "name": "Only" }),
        )
        .await,
        422,
    )
    .await;
    problem(
        app.send(
            Method::PATCH,
            &format!("/v1/movies/{id}"),
            Some(&admin),
            &json!({}),
        )
        .await,
        422,
    )
    .await;
    let mut same = replaced.clone();
    same["99popularity"] = json!(99.0);
    let response = app
        .send(
            Method::PUT,
            &format!("/v1/movies/{id}"),
            Some(&admin),
            &same,
        )
        .await;
    assert_eq!(body(response).await["version"], 3);

    let updates: Vec<_> = app
        .events()
        .await
        .into_iter()
        .filter(|e| e.event_type == "MovieUpdated")
        .collect();
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[0].payload, json!({ "imdb_score": 9.1 }));
    assert_eq!(updates[1].payload, json!({ "popularity": 99.0 }));
}

async fn a_stale_if_match_is_412_and_writes_nothing(app: TestApp) {
    let admin = app.admin_token().await;
    let id = body(app.add_movie(&admin, &oz()).await).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/v1/movies/{id}");
    let patch = |tag: &'static str| {
        app.request(Method::PATCH, &path, Some(&admin))
            .header("if-match", tag)
            .json(&json!({ "imdb_score": 1.0 }))
    };
    assert_eq!(
        problem(patch("\"5\"").send().await.expect("sent"), 412).await["current_version"],
        1
    );
    problem(
        app.request(Method::DELETE, &path, Some(&admin))
            .header("if-match", "\"0\"")
            .send()
            .await
            .expect("sent"),
        412,
    )
    .await;
    problem(patch("garbage").send().await.expect("sent"), 400).await;
    assert_eq!(
        app.events()
            .await
            .iter()
            .filter(|e| e.stream_id.to_string() == id)
            .count(),
        1
    );
    assert_eq!(patch("W/\"1\"").send().await.expect("sent").status(), 200);
}

async fn a_deleted_movie_is_gone_and_its_name_is_free_again(app: TestApp) {
    let admin = app.admin_token().await;
    let id = body(app.add_movie(&admin, &oz()).await).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let response = app
        .request(
            Method::DELETE,
            &format!("/single_movies/{id}"),
            Some(&admin),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "etag"), "\"2\"");
    problem(
        app.request(Method::DELETE, &format!("/v1/movies/{id}"), Some(&admin))
            .send()
            .await
            .expect("sent"),
        404,
    )
    .await;
    problem(
        app.send(
            Method::PUT,
            &format!("/v1/movies/{id}"),
            Some(&admin),
            &oz(),
        )
        .await,
        404,
    )
    .await;
    assert_eq!(app.add_movie(&admin, &oz()).await.status(), 201);
    assert_eq!(
        app.events()
            .await
            .iter()
            .filter(|e| e.event_type == "MovieDeleted")
            .count(),
        1
    );
}

async fn renaming_a_movie_moves_its_uniqueness_key(app: TestApp) {
    let admin = app.admin_token().await;
    let id = body(app.add_movie(&admin, &movie("Old Name")).await).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(
        app.send(
            Method::PATCH,
            &format!("/v1/movies/{id}"),
            Some(&admin),
            &json!({ "name": "New Name" })
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        app.add_movie(&admin, &movie("Old Name")).await.status(),
        201
    );
    problem(app.add_movie(&admin, &movie("new name")).await, 409).await;
    let other = body(app.add_movie(&admin, &movie("Third")).await).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    problem(
        app.send(
            Method::PATCH,
            &format!("/v1/movies/{other}"),
            Some(&admin),
            &json!({ "name": "NEW NAME" }),
        )
        .await,
        409,
    )
    .await;
}

/// Two PATCHes of different fields of one movie sent at once without `If-Match`: the one that
/// loses the version race is decided again on the winner's result, so both changes land in
/// every round. Sent with the same `If-Match`, one wins and the other is 412, never 409.
async fn concurrent_edits_without_if_match_both_land_and_with_it_one_gets_412(app: TestApp) {
    let admin = app.admin_token().await;
    for round in 0..20 {
        let id = body(
            app.add_movie(&admin, &movie(&format!("Race {round}")))
                .await,
        )
        .await["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let path = format!("/v1/movies/{id}");
        let patch = |field: &str, value: f64, tag: Option<&str>| {
            let mut request = app
                .request(Method::PATCH, &path, Some(&admin))
                .json(&json!({ field: value }));
            if let Some(tag) = tag {
                request = request.header("if-match", tag);
            }
            request.send()
        };
        let (score, popularity) = tokio::join!(
            patch("imdb_score", 1.5, None),
            patch("99popularity", 12.5, None)
        );
        let (score, popularity) = (score.expect("sent"), popularity.expect("sent"));
        assert_eq!(
            (score.status().as_u16(), popularity.status().as_u16()),
            (200, 200),
            "round {round}"
        );
        let mut versions = [
            body(score).await["version"].clone(),
            body(popularity).await["version"].clone(),
        ];
        versions.sort_by_key(|v| v.as_u64());
        assert_eq!(versions, [json!(2), json!(3)], "round {round}");
        let updates: Vec<_> = app
            .events()
            .await
            .into_iter()
            .filter(|e| e.stream_id.to_string() == id && e.event_type == "MovieUpdated")
            .map(|e| e.payload)
            .collect();
        assert_eq!(updates.len(), 2, "round {round}: {updates:?}");
        assert!(
            updates.contains(&json!({ "imdb_score": 1.5 }))
                && updates.contains(&json!({ "popularity": 12.5 })),
            "round {round}: {updates:?}"
        );

        let (first, second) = tokio::join!(
            patch("imdb_score", 2.5, Some("\"3\"")),
            patch("99popularity", 22.5, Some("\"3\""))
        );
        let mut statuses = [
            first.expect("sent").status().as_u16(),
            second.expect("sent").status().as_u16(),
        ];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 412], "round {round}");
    }
}
