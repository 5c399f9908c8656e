use crate::on_both_backends;
use crate::support::*;
use reqwest::Method;
use serde_json::json;

on_both_backends!(
    registering_returns_201_with_id_version_etag_and_consistency_token,
    the_original_register_route_takes_the_original_body,
    a_duplicate_email_is_409_whatever_its_case,
    a_weak_password_or_bad_email_is_422_with_field_details_and_writes_nothing,
    asking_for_admin_is_403_unless_an_admin_asks,
    a_bad_token_on_registration_is_401_not_anonymous,
    an_admin_changes_a_users_role_and_the_new_role_applies_at_once,
    role_changes_are_refused_to_users_to_oneself_and_for_unknown_users,
    a_role_change_with_a_stale_if_match_is_412,
    an_admin_demoted_by_another_process_loses_the_right_at_once,
    the_query_side_sees_a_role_change_with_its_consistency_token,
    a_demoted_admin_reads_no_users_even_before_the_projector_applied_the_demotion,
);

/// The query side fails closed. An admin demoted by another process (which this service's
/// projector learns of at its next poll, up to half a second later on SQLite) reads the user
/// list at once, with the old token and no Consistency-Token: the read waits until the users
/// projection holds the demotion, and is refused; never answered as an admin.
async fn a_demoted_admin_reads_no_users_even_before_the_projector_applied_the_demotion(
    app: TestApp,
) {
    let admin = app.admin_token().await;
    for round in 0..3 {
        let (id, user) = app.user().await;
        let promoted = set_role(&app, &admin, &id, "admin").await;
        assert_eq!(promoted.status(), 200);
        let consistency = header(&promoted, "consistency-token");
        let listed = app
            .request(Method::GET, "/v1/users", Some(&user))
            .header("consistency-token", consistency)
            .send()
            .await
            .expect("sent");
        assert_eq!(listed.status(), 200, "round {round}: promoted");
        change_role_elsewhere(&app, &id, "user").await;
        let listed = app
            .request(Method::GET, "/v1/users", Some(&user))
            .send()
            .await
            .expect("sent");
        let status = listed.status().as_u16();
        assert!(
            status == 403 || status == 503,
            "round {round}: a demoted admin read the user list: {status}"
        );
    }
}

/// The query API checks admins against the projected users: a request carrying a role
/// change's Consistency-Token is judged on the new role, both ways.
async fn the_query_side_sees_a_role_change_with_its_consistency_token(app: TestApp) {
    let admin = app.admin_token().await;
    let (id, user) = app.user().await;
    let change = |role: &'static str| {
        let (app, admin, id) = (&app, admin.clone(), id.clone());
        async move {
            let response = app
                .send(
                    Method::PUT,
                    &format!("/v1/users/{id}/role"),
                    Some(&admin),
                    &json!({ "role": role }),
                )
                .await;
            assert_eq!(response.status(), 200);
            header(&response, "consistency-token")
        }
    };
    let list_users = |consistency: String| {
        let (app, user) = (&app, user.clone());
        async move {
            app.request(Method::GET, "/v1/users", Some(&user))
                .header("consistency-token", consistency)
                .send()
                .await
                .expect("sent")
        }
    };
    let promoted = change("admin").await;
    assert_eq!(list_users(promoted).await.status(), 200);
    let demoted = change("user").await;
    problem(list_users(demoted).await, 403).await;
}

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

async fn an_admin_changes_a_users_role_and_the_new_role_applies_at_once(app: TestApp) {
    let admin = app.admin_token().await;
    let (id, user) = app.user().await;
    problem(app.add_movie(&user, &oz()).await, 403).await;

    let response = app
        .send(
            Method::PUT,
            &format!("/v1/users/{id}/role"),
            Some(&admin),
            &json!({ "role": "admin" }),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "etag"), "\"2\"");
    assert_eq!(header(&response, "consistency-token"), format!("{id}@2"));
    assert_eq!(body(response).await["role"], "admin");
    // The same token now carries admin rights: authority is read from the stream.
    assert_eq!(app.add_movie(&user, &oz()).await.status(), 201);

    let response = app
        .send(
            Method::PUT,
            &format!("/v1/users/{id}/role"),
            Some(&admin),
            &json!({ "role": "user" }),
        )
        .await;
    assert_eq!(response.status(), 200);
    problem(app.add_movie(&user, &movie("Another")).await, 403).await;
}

async fn role_changes_are_refused_to_users_to_oneself_and_for_unknown_users(app: TestApp) {
    let admin = app.admin_token().await;
    let (id, user) = app.user().await;
    let path = format!("/v1/users/{id}/role");
    problem(
        app.send(Method::PUT, &path, None, &json!({ "role": "admin" }))
            .await,
        401,
    )
    .await;
    problem(
        app.send(Method::PUT, &path, Some(&user), &json!({ "role": "admin" }))
            .await,
        403,
    )
    .await;
    let admin_id = body(app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await).await["user_id"]
        .as_str()
        .expect("id")
        .to_owned();
    problem(
        app.send(
            Method::PUT,
            &format!("/v1/users/{admin_id}/role"),
            Some(&admin),
            &json!({ "role": "user" }),
        )
        .await,
        403,
    )
    .await;
    let unknown = uuid::Uuid::now_v7();
    problem(
        app.send(
            Method::PUT,
            &format!("/v1/users/{unknown}/role"),
            Some(&admin),
            &json!({ "role": "admin" }),
        )
        .await,
        404,
    )
    .await;
    problem(
        app.send(
            Method::PUT,
            "/v1/users/not-a-uuid/role",
            Some(&admin),
            &json!({ "role": "admin" }),
        )
        .await,
        404,
    )
    .await;
    problem(
        app.send(
            Method::PUT,
            &path,
            Some(&admin),
            &json!({ "role": "emperor" }),
        )
        .await,
        422,
    )
    .await;
    problem(
        app.send(Method::PUT, &path, Some(&admin), &json!({})).await,
        422,
    )
    .await;
    assert!(!app
        .events()
        .await
        .iter()
        .any(|e| e.event_type == "UserRoleChanged"));
}

async fn a_role_change_with_a_stale_if_match_is_412(app: TestApp) {
    let admin = app.admin_token().await;
    let (id, _) = app.user().await;
    let path = format!("/v1/users/{id}/role");
    let response = app
        .request(Method::PUT, &path, Some(&admin))
        .header("if-match", "\"7\"")
        .json(&json!({ "role": "admin" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(problem(response, 412).await["current_version"], 1);
    let response = app
        .request(Method::PUT, &path, Some(&admin))
        .header("if-match", "\"1\"")
        .json(&json!({ "role": "admin" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
}

/// Asks the command API, as `admin`, to give user `id` `role`.
async fn set_role(app: &TestApp, admin: &str, id: &str, role: &str) -> reqwest::Response {
    app.send(
        Method::PUT,
        &format!("/v1/users/{id}/role"),
        Some(admin),
        &json!({ "role": role }),
    )
    .await
}

/// Appends a role change straight to the event store, as another command-api instance (or
/// the CLI) would: this service's remembered roles do not see it.
async fn change_role_elsewhere(app: &TestApp, user_id: &str, role: &str) {
    use moviedb_domain::user::{UserEvent, UserRoleChanged};
    use moviedb_event_store::{AppendRequest, Metadata, NewEvent};
    let id = user_id.parse().expect("a user id");
    let version = app.store.read_stream(id).await.expect("read").len() as u64;
    let event = UserEvent::RoleChanged(UserRoleChanged {
        role: role.parse().expect("a role"),
    });
    app.store
        .append(AppendRequest::new(
            "user",
            id,
            version,
            vec![NewEvent::from_domain(&event, &Metadata::default())],
        ))
        .await
        .expect("a role change written elsewhere");
}

async fn an_admin_demoted_by_another_process_loses_the_right_at_once(app: TestApp) {
    let admin = app.admin_token().await;
    let (id, user) = app.user().await;
    let promoted = set_role(&app, &admin, &id, "admin").await;
    assert_eq!(promoted.status(), 200);
    // Two writes, so the service has read and remembered the new admin's role.
    for name in ["First", "Second"] {
        assert_eq!(app.add_movie(&user, &movie(name)).await.status(), 201);
    }

    // Their stream moves without a change of role: writes go on (the role is read again).
    change_role_elsewhere(&app, &id, "admin").await;
    assert_eq!(app.add_movie(&user, &movie("Third")).await.status(), 201);

    // Demoted elsewhere: the very next write is refused and writes nothing.
    let before = app.events().await.len();
    change_role_elsewhere(&app, &id, "user").await;
    problem(app.add_movie(&user, &movie("Fourth")).await, 403).await;
    assert_eq!(app.events().await.len(), before + 1, "only the role change");
    let edit = app
        .send(
            Method::PATCH,
            "/v1/movies/00000000-0000-0000-0000-000000000000",
            Some(&user),
            &json!({ "imdb_score": 1.0 }),
        )
        .await;
    assert!(
        matches!(edit.status().as_u16(), 403 | 404),
        "{}",
        edit.status()
    );
    assert_eq!(app.events().await.len(), before + 1);
}
