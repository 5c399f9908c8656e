//! The query side over HTTP, in one process with the command side: lists with filters, sort
//! and paging, details with ETags, the user list, history, and read-your-writes.

use crate::on_both_backends;
use crate::support::{body, film, header, movie, oz, problem, seed, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

pub(crate) async fn get(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    consistency: Option<&str>,
) -> reqwest::Response {
    let mut request = app.request(Method::GET, path, token);
    if let Some(c) = consistency {
        request = request.header("consistency-token", c);
    }
    request.send().await.expect("request sent")
}

pub(crate) async fn names(app: &TestApp, path: &str, consistency: &str) -> Vec<String> {
    let response = get(app, path, None, Some(consistency)).await;
    assert_eq!(response.status(), 200, "{path}");
    body(response).await["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["name"].as_str().expect("name").to_owned())
        .collect()
}

async fn lists_filter_sort_and_page_on_both_route_sets(app: TestApp) {
    let admin = app.admin_token().await;
    let added = seed(
        &app,
        &admin,
        &[
            film(
                "The Godfather",
                "Francis Ford Coppola",
                &["Crime", " Drama"],
                9.2,
                92.0,
            ),
            film(
                "Psycho",
                "Alfred Hitchcock",
                &["Horror", "Thriller"],
                8.5,
                85.0,
            ),
            film(
                "Paths of Glory",
                "Stanley Kubrick",
                &["Drama", "War"],
                8.4,
                84.0,
            ),
            film(
                "Vertigo",
                "Alfred Hitchcock",
                &["Mystery", "Thriller"],
                8.3,
                83.0,
            ),
            oz(),
        ],
    )
    .await;
    let token = added
        .iter()
        .map(|(_, c)| c.as_str())
        .collect::<Vec<_>>()
        .join(",");
    for base in ["/api/movies_curd/", "/v1/movies"] {
        assert_eq!(
            names(&app, &format!("{base}?genre=Drama,War"), &token).await,
            ["Paths of Glory"]
        );
        assert_eq!(
            names(
                &app,
                &format!("{base}?genre=War%7CHorror&sort_by=name.asc"),
                &token
            )
            .await,
            ["Paths of Glory", "Psycho"]
        );
        assert_eq!(
            names(
                &app,
                &format!("{base}?imdb_score.gte=8.4&imdb_score.lte=9&sort_by=imdb_score.desc"),
                &token
            )
            .await,
            ["Psycho", "Paths of Glory"]
        );
        assert_eq!(
            names(
                &app,
                &format!("{base}?99popularity.gte=84&99popularity.lte=90&sort_by=99popularity.asc"),
                &token
            )
            .await,
            ["Paths of Glory", "Psycho"]
        );
        assert_eq!(
            names(
                &app,
                &format!("{base}?director=alfred%20hitchcock&sort_by=name.desc"),
                &token
            )
            .await,
            ["Vertigo", "Psycho"]
        );
        assert_eq!(
            names(&app, &format!("{base}?name=WIZARD"), &token).await,
            ["The Wizard of Oz"]
        );
    }
    let response = get(
        &app,
        "/v1/movies?sort_by=name.asc&per_page=2&page=2",
        None,
        Some(&token),
    )
    .await;
    let page = body(response).await;
    assert_eq!(
        (
            page["total"].clone(),
            page["total_pages"].clone(),
            page["per_page"].clone()
        ),
        (json!(5), json!(3), json!(2))
    );
    let names: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["The Godfather", "The Wizard of Oz"]);
    let first = &page["items"][0];
    // Fields as the original app wrote them.
    for field in [
        "id",
        "name",
        "director",
        "genre",
        "imdb_score",
        "99popularity",
        "version",
    ] {
        assert!(!first[field].is_null(), "{field} in {first}");
    }
    assert_eq!(first["genre"], json!(["Crime", "Drama"]));
    let capped = body(get(&app, "/v1/movies?per_page=1000", None, None).await).await;
    assert_eq!(capped["per_page"], 100);
}

async fn bad_list_parameters_are_a_400_problem(app: TestApp) {
    for query in [
        "genre=Drama,War|Crime",
        "imdb_score.gte=ten",
        "imdb_score.lte=11",
        "99popularity.gte=-1",
        "sort_by=budget.desc",
        "sort_by=name.sideways",
        "page=0",
        "per_page=-5",
        "colour=red",
        "genre=",
        "name=%20%20",
    ] {
        let response = get(&app, &format!("/v1/movies?{query}"), None, None).await;
        assert_eq!(response.status(), 400, "{query}");
        let problem = problem(response, 400).await;
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{query}"
        );
    }
}

async fn a_movie_has_an_etag_and_if_none_match_gives_304(app: TestApp) {
    let admin = app.admin_token().await;
    let added = seed(&app, &admin, &[oz()]).await;
    let (id, consistency) = &added[0];
    for path in [format!("/single_movies/{id}"), format!("/v1/movies/{id}")] {
        let response = get(&app, &path, None, Some(consistency)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "etag"), "\"1\"");
        assert_eq!(body(response).await["name"], "The Wizard of Oz");
        let cached = app
            .request(Method::GET, &path, None)
            .header("if-none-match", "\"1\"")
            .send()
            .await
            .expect("sent");
        assert_eq!(cached.status(), 304);
    }
    let changed = app
        .send(
            Method::PATCH,
            &format!("/v1/movies/{id}"),
            Some(&admin),
            &json!({ "imdb_score": 8.4 }),
        )
        .await;
    assert_eq!(changed.status(), 200);
    let consistency = header(&changed, "consistency-token");
    let fresh = app
        .request(Method::GET, &format!("/v1/movies/{id}"), None)
        .header("if-none-match", "\"1\"")
        .header("consistency-token", consistency)
        .send()
        .await
        .expect("sent");
    assert_eq!(fresh.status(), 200, "a stale ETag gets the new version");
    assert_eq!(header(&fresh, "etag"), "\"2\"");
    assert_eq!(body(fresh).await["imdb_score"], 8.4);
    problem(get(&app, "/v1/movies/not-a-uuid", None, None).await, 404).await;
    problem(
        get(
            &app,
            &format!("/v1/movies/{}", uuid::Uuid::now_v7()),
            None,
            None,
        )
        .await,
        404,
    )
    .await;
}

async fn a_deleted_movie_is_gone_from_lists_and_details(app: TestApp) {
    let admin = app.admin_token().await;
    let added = seed(&app, &admin, &[movie("Short-lived")]).await;
    let (id, _) = &added[0];
    let deleted = app
        .request(
            Method::DELETE,
            &format!("/single_movies/{id}"),
            Some(&admin),
        )
        .send()
        .await
        .expect("sent");
    assert!(deleted.status().is_success());
    let consistency = header(&deleted, "consistency-token");
    assert!(!consistency.is_empty());
    problem(
        get(
            &app,
            &format!("/single_movies/{id}"),
            None,
            Some(&consistency),
        )
        .await,
        404,
    )
    .await;
    assert!(names(&app, "/api/movies_curd/", &consistency)
        .await
        .is_empty());
}

async fn only_admins_list_users_and_never_see_a_password(app: TestApp) {
    let (_, user) = app.user().await;
    problem(get(&app, "/api/user_list/", None, None).await, 401).await;
    problem(get(&app, "/v1/users", Some(&user), None).await, 403).await;
    problem(get(&app, "/v1/users", Some("not-a-token"), None).await, 401).await;
    let admin = app.admin_token().await;
    let response = app.register("Bea", "bea@example.com").await;
    let consistency = header(&response, "consistency-token");
    for path in ["/api/user_list/", "/v1/users"] {
        let response = app
            .request(Method::GET, path, None)
            .header("x-access-token", &admin)
            .header("consistency-token", &consistency)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200);
        let text = response.text().await.expect("text");
        assert!(
            !text.contains("password") && !text.contains("argon2"),
            "{text}"
        );
        let list: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(list["total"], 3);
        let emails: Vec<&str> = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|u| u["email"].as_str())
            .collect();
        assert!(emails.contains(&"bea@example.com"), "{emails:?}");
    }
    problem(
        get(&app, "/v1/users?page=abc", Some(&admin), None).await,
        400,
    )
    .await;
}

async fn history_lists_a_movies_events_oldest_first_for_admins(app: TestApp) {
    let admin = app.admin_token().await;
    let added = seed(&app, &admin, &[oz()]).await;
    let (id, _) = &added[0];
    // A client's own request id is kept in the event's metadata only when it is a plausible
    // id: 4 000 characters of it would not fit a history row on MySQL.
    let changed = app
        .request(Method::PATCH, &format!("/v1/movies/{id}"), Some(&admin))
        .header("x-request-id", "r".repeat(4000))
        .json(&json!({ "imdb_score": 8.1 }))
        .send()
        .await
        .expect("sent");
    assert_eq!(changed.status(), 200);
    // The history is a projection: the edit's token makes the read wait for it.
    let token = header(&changed, "consistency-token");
    let (_, user) = app.user().await;
    problem(
        get(&app, &format!("/v1/movies/{id}/history"), Some(&user), None).await,
        403,
    )
    .await;
    problem(
        get(&app, &format!("/v1/movies/{id}/history"), None, None).await,
        401,
    )
    .await;
    let history = body(
        get(
            &app,
            &format!("/v1/movies/{id}/history"),
            Some(&admin),
            Some(&token),
        )
        .await,
    )
    .await;
    let types: Vec<&str> = history["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["event_type"].as_str().expect("type"))
        .collect();
    assert_eq!(types, ["MovieAdded", "MovieUpdated"]);
    assert_eq!(
        history["events"][1]["payload"],
        json!({ "imdb_score": 8.1 })
    );
    assert_eq!(history["events"][1]["metadata"]["request_id"], Value::Null);
    assert!(history["events"][0]["metadata"]["request_id"].is_string());
    problem(
        get(
            &app,
            &format!("/v1/movies/{}/history", uuid::Uuid::now_v7()),
            Some(&admin),
            None,
        )
        .await,
        404,
    )
    .await;
}

on_both_backends!(
    lists_filter_sort_and_page_on_both_route_sets,
    bad_list_parameters_are_a_400_problem,
    a_movie_has_an_etag_and_if_none_match_gives_304,
    a_deleted_movie_is_gone_from_lists_and_details,
    only_admins_list_users_and_never_see_a_password,
    history_lists_a_movies_events_oldest_first_for_admins,
);
