//! The original app's clients call its routes with and without the trailing slash, and send
//! `HEAD` where `GET` works: both forms reach the same handlers.

use crate::on_both_backends;
use crate::support::*;
use reqwest::Method;
use serde_json::json;

on_both_backends!(
    the_original_routes_answer_with_or_without_the_trailing_slash,
    head_answers_wherever_get_does_with_no_body,
);

async fn the_original_routes_answer_with_or_without_the_trailing_slash(app: TestApp) {
    let admin = app.admin_token().await;
    for path in ["/api/movies_curd", "/api/movies_curd/"] {
        let response = app.post(path, Some(&admin), &movie(path)).await;
        assert_eq!(response.status(), 201, "POST {path}");
    }
    let response = app
        .post("/v1/movies/", Some(&admin), &movie("v1 slash"))
        .await;
    assert_eq!(response.status(), 201, "POST /v1/movies/");
    let token = header(&response, "consistency-token");
    for path in [
        "/api/movies_curd",
        "/api/movies_curd/",
        "/v1/movies/",
        "/api/user_list",
        "/api/user_list/",
        "/v1/users/",
    ] {
        let response = app
            .request(Method::GET, path, Some(&admin))
            .header("consistency-token", &token)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "GET {path}");
    }
    let listed = body(
        app.request(Method::GET, "/api/movies_curd?per_page=10", None)
            .header("consistency-token", &token)
            .send()
            .await
            .expect("sent"),
    )
    .await;
    assert_eq!(listed["total"], 3, "{listed}");
    for path in ["/api/login_user", "/api/login_user/"] {
        let response = app
            .post(
                path,
                None,
                &json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }),
            )
            .await;
        assert_eq!(response.status(), 201, "POST {path}: a session is made");
    }
    for path in ["/api/register", "/api/register/"] {
        let email = format!("reg{}@example.com", path.len());
        let response = app
            .post(
                path,
                None,
                &json!({ "name": "Reg", "email": email, "password": "Reg_ister1" }),
            )
            .await;
        assert_eq!(response.status(), 201, "POST {path}");
    }
}

async fn head_answers_wherever_get_does_with_no_body(app: TestApp) {
    let admin = app.admin_token().await;
    let added = app.add_movie(&admin, &oz()).await;
    let token = header(&added, "consistency-token");
    let id = body(added).await["id"].as_str().expect("id").to_owned();
    for path in [
        "/api/movies_curd/".to_owned(),
        "/v1/movies".to_owned(),
        format!("/single_movies/{id}"),
        format!("/v1/movies/{id}"),
        "/health/live".to_owned(),
    ] {
        let response = app
            .request(Method::HEAD, &path, Some(&admin))
            .header("consistency-token", &token)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "HEAD {path}");
        assert!(
            response.headers().contains_key("content-type"),
            "HEAD {path}"
        );
        let bytes = response.bytes().await.expect("body");
        assert!(bytes.is_empty(), "HEAD {path} sent a body");
    }
}
