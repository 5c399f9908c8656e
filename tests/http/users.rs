//! Registration: the new and the original route, duplicates, weak passwords, who may ask for admin.
use crate::on_both_backends;
use crate::support::*;
use serde_json::json;

on_both_backends!(
    registering_returns_201_with_id_version_etag_and_consistency_token,
    the_original_register_route_takes_the_original_body,
    a_duplicate_email_is_409_whatever_its_case,
    a_weak_password_or_bad_email_is_422_with_field_details_and_writes_nothing,
    asking_for_admin_is_403_unless_an_admin_asks,
    a_bad_token_on_registration_is_401_not_anonymous,
);

async fn registering_returns_201_with_id_version_etag_and_consistency_token(app: TestApp) {
    let response = app.register("Ada", "ada@example.com").await;
    assert_eq!(response.status(), 201);
    let id = body_header_checks(&response);
    let body = body(response).await;
    assert_eq!(body["id"], id);
    assert_eq!(body["version"], 1);
    assert_eq!(body["role"], "user");
    let events = app.events().await;
    let registered = events
        .iter()
        .find(|e| e.stream_id.to_string() == id)
        .expect("event stored");
    assert_eq!(
        (registered.event_type.as_str(), registered.version),
        ("UserRegistered", 1)
    );
    assert_eq!(registered.payload["email"], "ada@example.com");
}

fn body_header_checks(response: &reqwest::Response) -> String {
    assert_eq!(header(response, "etag"), "\"1\"");
    let location = header(response, "location");
    let id = location
        .strip_prefix("/v1/users/")
        .expect("location")
        .to_owned();
    assert_eq!(header(response, "consistency-token"), format!("{id}@1"));
    id
}

async fn the_original_register_route_takes_the_original_body(app: TestApp) {
    let response = app
        .post("/api/register/", None, &json!({ "name": "Bob", "email": "bob@example.com", "password": PASSWORD, "admin": false }))
        .await;
    assert_eq!(response.status(), 201);
    body_header_checks(&response);
    assert_eq!(app.login("bob@example.com", PASSWORD).await.status(), 201);
}

async fn a_duplicate_email_is_409_whatever_its_case(app: TestApp) {
    assert_eq!(app.register("Ada", "ada@example.com").await.status(), 201);
    let before = app.events().await.len();
    problem(app.register("Other Ada", " ADA@Example.COM ").await, 409).await;
    assert_eq!(app.events().await.len(), before);
}

async fn a_weak_password_or_bad_email_is_422_with_field_details_and_writes_nothing(app: TestApp) {
    let before = app.events().await.len();
    let response = app
        .post(
            "/v1/users",
            None,
            &json!({ "name": "", "email": "nope", "password": "password" }),
        )
        .await;
    let problem = problem(response, 422).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, vec!["name", "email", "password"]);
    assert!(problem["errors"][2]["message"]
        .as_str()
        .expect("message")
        .contains("upper-case"));
    for weak in [
        "Short_1",
        "nouppercase_1",
        "NOLOWERCASE_1",
        "NoDigits_here",
        "NoSymbol123",
        "Has space_1A",
    ] {
        let response = app
            .post(
                "/v1/users",
                None,
                &json!({ "name": "A", "email": "a@example.com", "password": weak }),
            )
            .await;
        assert_eq!(problem_fields(response).await, vec!["password"], "{weak}");
    }
    assert_eq!(app.events().await.len(), before);
}

async fn problem_fields(response: reqwest::Response) -> Vec<String> {
    let problem = problem(response, 422).await;
    problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str().map(str::to_owned))
        .collect()
}

async fn asking_for_admin_is_403_unless_an_admin_asks(app: TestApp) {
    let ask = |email: &str| json!({ "name": "Mallory", "email": email, "password": PASSWORD, "admin": true });
    problem(
        app.post("/api/register/", None, &ask("m1@example.com"))
            .await,
        403,
    )
    .await;
    let (_, user) = app.user().await;
    problem(
        app.post("/api/register/", Some(&user), &ask("m2@example.com"))
            .await,
        403,
    )
    .await;
    problem(app.post("/v1/users", None, &json!({ "name": "M", "email": "m3@example.com", "password": PASSWORD, "role": "admin" })).await, 403).await;
    assert!(!app
        .events()
        .await
        .iter()
        .any(|e| e.payload["role"] == "admin" && e.payload["email"] != ADMIN_EMAIL));

    let admin = app.admin_token().await;
    let response = app
        .post(
            "/api/register/",
            Some(&admin),
            &ask("second-admin@example.com"),
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(body(response).await["role"], "admin");
}

async fn a_bad_token_on_registration_is_401_not_anonymous(app: TestApp) {
    let response = app
        .post(
            "/v1/users",
            Some("not.a.token"),
            &json!({ "name": "A", "email": "a@example.com", "password": PASSWORD }),
        )
        .await;
    problem(response, 401).await;
}
