//! Role changes: who may make them, If-Match, and that a new role applies at once on both sides.
use crate::on_both_backends;
use crate::support::*;
use reqwest::Method;
use serde_json::json;

on_both_backends!(
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
