use crate::on_both_backends;
use crate::support::*;
use reqwest::Method;
use serde_json::json;

on_both_backends!(
    malformed_json_is_400_on_every_write_route,
    a_body_that_is_not_json_content_is_415,
    a_body_over_one_mebibyte_is_413,
    a_mebibyte_of_genres_is_refused_at_once,
    unknown_routes_and_methods_get_problem_documents,
    health_endpoints_answer,
);

async fn malformed_json_is_400_on_every_write_route(app: TestApp) {
    let admin = app.admin_token().await;
    let id = body(app.add_movie(&admin, &oz()).await).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let routes = [
        (Method::POST, "/api/register/".to_owned()),
        (Method::POST, "/v1/users".to_owned()),
        (Method::POST, "/api/login_user/".to_owned()),
        (Method::POST, "/v1/sessions".to_owned()),
        (Method::POST, "/api/movies_curd/".to_owned()),
        (Method::POST, "/v1/movies".to_owned()),
        (Method::PUT, format!("/single_movies/{id}")),
        (Method::PUT, format!("/v1/movies/{id}")),
        (Method::PATCH, format!("/v1/movies/{id}")),
        (Method::PUT, format!("/v1/users/{id}/role")),
    ];
    let before = app.events().await.len();
    for (method, path) in routes {
        for garbage in ["{\"name\": ", "", "[1,", "\u{0}\u{1}", "nul"] {
            let response = app
                .request(method.clone(), &path, Some(&admin))
                .header("content-type", "application/json")
                .body(garbage)
                .send()
                .await
                .expect("sent");
            problem(response, 400).await;
        }
        // Valid JSON of the wrong shape is 422, never 500.
        for shape in [
            json!(42),
            json!("text"),
            json!(null),
            json!({ "genre": "Drama" }),
        ] {
            let status = app
                .send(method.clone(), &path, Some(&admin), &shape)
                .await
                .status()
                .as_u16();
            assert!(
                [403, 404, 422].contains(&status),
                "{method} {path} {shape}: {status}"
            );
        }
    }
    assert_eq!(app.events().await.len(), before);
}

async fn a_body_that_is_not_json_content_is_415(app: TestApp) {
    let response = app
        .request(Method::POST, "/v1/users", None)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("sent");
    problem(response, 415).await;
}

async fn a_body_over_one_mebibyte_is_413(app: TestApp) {
    let admin = app.admin_token().await;
    let big = json!({ "name": "x".repeat(1024 * 1024 + 10), "director": "d", "genre": ["g"], "imdb_score": 1, "99popularity": 1 });
    problem(app.add_movie(&admin, &big).await, 413).await;
    let response = app
        .post(
            "/v1/users",
            None,
            &json!({ "name": "y".repeat(2 * 1024 * 1024) }),
        )
        .await;
    problem(response, 413).await;
}

/// Finding 1 of the hardening issue: 20 000 genres took 11 s to get their 422 (de-duplication
/// compared every pair). Now the array is bounded before anything else is done with it, on a
/// single add and on every item of a bulk add, and nothing is written.
async fn a_mebibyte_of_genres_is_refused_at_once(app: TestApp) {
    let admin = app.admin_token().await;
    let before = app.events().await.len();
    // About 1 MB of distinct genres, just under the body limit.
    let genres: Vec<String> = (0..95_000).map(|i| format!("g{i:06}")).collect();
    let movie = json!({ "name": "Many", "director": "D", "genre": genres, "imdb_score": 1, "99popularity": 1 });
    assert!(movie.to_string().len() > 900_000 && movie.to_string().len() < 1024 * 1024);
    let problem = problem(app.add_movie(&admin, &movie).await, 422).await;
    assert_eq!(problem["errors"][0]["field"], "genre", "{problem}");
    // A bulk add whose items each carry 41 copies of one genre: every item is a 422.
    let item = json!({ "name": "Copies", "director": "D", "genre": vec!["Drama"; 41], "imdb_score": 1, "99popularity": 1 });
    let response = app.post("/v1/movies", Some(&admin), &json!([item, item])).await;
    let results = body(response).await;
    for result in results["results"].as_array().expect("results") {
        assert_eq!(result["status"], 422, "{result}");
    }
    assert_eq!(app.events().await.len(), before);
}

async fn unknown_routes_and_methods_get_problem_documents(app: TestApp) {
    problem(
        app.request(Method::GET, "/nope", None)
            .send()
            .await
            .expect("sent"),
        404,
    )
    .await;
    problem(
        app.request(Method::DELETE, "/v1/users", None)
            .send()
            .await
            .expect("sent"),
        405,
    )
    .await;
}

async fn health_endpoints_answer(app: TestApp) {
    for path in ["/health/live", "/health/ready"] {
        let response = app
            .request(Method::GET, path, None)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "{path}");
    }
}
