//! Movie writes that must change nothing: unknown ids, repeated idempotency keys, callers without the right.

use crate::on_both_backends;
use crate::support::*;
use reqwest::Method;
use serde_json::json;

async fn unknown_or_malformed_movie_ids_are_404(app: TestApp) {
    let admin = app.admin_token().await;
    // A user's id is no movie's, and a movie's id no user's: 404, not a 500 (contract
    // fuzzing found this one).
    let user_id = body(app.register("Ida", "ida@example.com").await).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for method in [Method::PUT, Method::PATCH] {
        problem(
            app.send(
                method,
                &format!("/v1/movies/{user_id}"),
                Some(&admin),
                &oz(),
            )
            .await,
            404,
        )
        .await;
    }
    problem(
        app.request(
            Method::DELETE,
            &format!("/single_movies/{user_id}"),
            Some(&admin),
        )
        .send()
        .await
        .expect("sent"),
        404,
    )
    .await;
    let movie_id = body(app.add_movie(&admin, &oz()).await).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    problem(
        app.send(
            Method::PUT,
            &format!("/v1/users/{movie_id}/role"),
            Some(&admin),
            &json!({ "role": "admin" }),
        )
        .await,
        404,
    )
    .await;
    let unknown = uuid::Uuid::now_v7();
    problem(
        app.send(
            Method::PUT,
            &format!("/single_movies/{unknown}"),
            Some(&admin),
            &oz(),
        )
        .await,
        404,
    )
    .await;
    problem(
        app.send(
            Method::PATCH,
            &format!("/v1/movies/{unknown}"),
            Some(&admin),
            &json!({ "name": "x" }),
        )
        .await,
        404,
    )
    .await;
    problem(
        app.request(Method::DELETE, "/v1/movies/42", Some(&admin))
            .send()
            .await
            .expect("sent"),
        404,
    )
    .await;
    problem(
        app.request(Method::DELETE, "/single_movies/%FF%FE", Some(&admin))
            .send()
            .await
            .expect("sent"),
        404,
    )
    .await;
}

async fn a_repeated_idempotency_key_returns_the_first_response_and_writes_nothing(app: TestApp) {
    let admin = app.admin_token().await;
    let post = |body: serde_json::Value| {
        app.request(Method::POST, "/v1/movies", Some(&admin))
            .header("idempotency-key", "add-oz-1")
            .json(&body)
    };
    let first = post(oz()).send().await.expect("sent");
    assert_eq!(first.status(), 201);
    let first_token = header(&first, "consistency-token");
    let first_body = body(first).await;
    let again = post(oz()).send().await.expect("sent");
    assert_eq!(again.status(), 201);
    assert_eq!(header(&again, "idempotent-replayed"), "true");
    assert_eq!(header(&again, "consistency-token"), first_token);
    assert_eq!(body(again).await, first_body);
    assert_eq!(
        app.events()
            .await
            .iter()
            .filter(|e| e.event_type == "MovieAdded")
            .count(),
        1
    );
    problem(post(movie("Different")).send().await.expect("sent"), 422).await;

    // Registration honours it too, and keys are per caller.
    let register = || {
        app.request(Method::POST, "/v1/users", None)
            .header("idempotency-key", "add-oz-1")
            .json(&json!({ "name": "Ada", "email": "ada@example.com", "password": PASSWORD }))
    };
    let first = body(register().send().await.expect("sent")).await;
    let again = register().send().await.expect("sent");
    assert_eq!(again.status(), 201);
    assert_eq!(body(again).await, first);
    problem(
        app.request(Method::POST, "/v1/movies", Some(&admin))
            .header("idempotency-key", "")
            .json(&oz())
            .send()
            .await
            .expect("sent"),
        400,
    )
    .await;
}

async fn a_bulk_add_with_an_idempotency_key_is_replayed_whole(app: TestApp) {
    let admin = app.admin_token().await;
    let batch = json!([movie("A"), movie("B")]);
    let post = || {
        app.request(Method::POST, "/api/movies_curd/", Some(&admin))
            .header("idempotency-key", "bulk-1")
            .json(&batch)
    };
    let first = body(post().send().await.expect("sent")).await;
    let again = post().send().await.expect("sent");
    assert_eq!(again.status(), 207);
    assert_eq!(body(again).await, first);
    assert_eq!(
        app.events()
            .await
            .iter()
            .filter(|e| e.event_type == "MovieAdded")
            .count(),
        2
    );
}

async fn users_get_403_and_anonymous_401_on_every_movie_write(app: TestApp) {
    let admin = app.admin_token().await;
    let id = body(app.add_movie(&admin, &oz()).await).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (_, user) = app.user().await;
    for token in [Some(user.as_str()), None] {
        let status = if token.is_some() { 403 } else { 401 };
        let refused = problem(
            app.post("/api/movies_curd/", token, &movie("X")).await,
            status,
        )
        .await;
        if token.is_none() {
            // The original app's clients send `x-access-token`: the 401 says so.
            let detail = refused["detail"].as_str().unwrap_or_default();
            assert!(detail.contains("x-access-token"), "{refused}");
        }
        problem(
            app.post("/v1/movies", token, &json!([movie("X")])).await,
            status,
        )
        .await;
        problem(
            app.send(Method::PUT, &format!("/single_movies/{id}"), token, &oz())
                .await,
            status,
        )
        .await;
        problem(
            app.send(
                Method::PATCH,
                &format!("/v1/movies/{id}"),
                token,
                &json!({ "name": "X" }),
            )
            .await,
            status,
        )
        .await;
        problem(
            app.request(Method::DELETE, &format!("/v1/movies/{id}"), token)
                .send()
                .await
                .expect("sent"),
            status,
        )
        .await;
    }
    assert_eq!(
        app.events()
            .await
            .iter()
            .filter(|e| e.stream_type == "movie")
            .count(),
        1
    );
}

on_both_backends!(
    unknown_or_malformed_movie_ids_are_404,
    a_repeated_idempotency_key_returns_the_first_response_and_writes_nothing,
    a_bulk_add_with_an_idempotency_key_is_replayed_whole,
    users_get_403_and_anonymous_401_on_every_movie_write,
);
