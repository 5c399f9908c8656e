//! Search and autocomplete over HTTP: the projector indexes every write before the read
//! models commit it, so a `Consistency-Token` covers search too.

use crate::on_both_backends;
use crate::support::{body, film, header, problem, seed, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// Adds the catalogue as the admin; the ids, and the token of the last write.
pub(crate) async fn catalogue(app: &TestApp, admin: &str) -> (Vec<String>, String) {
    let added = seed(
        app,
        admin,
        &[
            film(
                "The Godfather",
                "Francis Ford Coppola",
                &["Crime", "Drama"],
                9.2,
                92.0,
            ),
            film(
                "The Godfather: Part II",
                "Francis Ford Coppola",
                &["Crime", "Drama"],
                9.0,
                90.0,
            ),
            film(
                "Psycho",
                "Alfred Hitchcock",
                &["Horror", "Thriller"],
                8.5,
                85.0,
            ),
            film(
                "Vertigo",
                "Alfred Hitchcock",
                &["Mystery", "Thriller"],
                8.3,
                83.0,
            ),
            film(
                "Paths of Glory",
                "Stanley Kubrick",
                &["Drama", "War"],
                8.4,
                84.0,
            ),
            film(
                "The Wizard of Oz",
                "Victor Fleming",
                &["Adventure", "Family"],
                8.3,
                83.0,
            ),
        ],
    )
    .await;
    let token = added.last().map(|(_, t)| t.clone()).unwrap_or_default();
    (added.into_iter().map(|(id, _)| id).collect(), token)
}

/// A 200 answer to a GET with a `Consistency-Token`.
async fn read(app: &TestApp, path: &str, consistency: &str) -> Value {
    let response = app
        .request(Method::GET, path, None)
        .header("consistency-token", consistency)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200, "{path}");
    body(response).await
}

pub(crate) async fn search(app: &TestApp, query: &str, consistency: &str) -> Value {
    read(app, &format!("/v1/movies/search?{query}"), consistency).await
}

fn names(found: &Value) -> Vec<&str> {
    found["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["name"].as_str().expect("name"))
        .collect()
}

async fn typos_prefixes_highlights_and_relevance(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, token) = catalogue(&app, &admin).await;
    let hitchcock = search(&app, "q=hitchcok", &token).await;
    assert_eq!(hitchcock["total"], 2);
    assert_eq!(hitchcock["sort_by"], "relevance");
    assert_eq!(
        hitchcock["items"][0]["highlight"]["director"],
        "Alfred <em>Hitchcock</em>"
    );
    let godfather = search(&app, "q=godfater", &token).await;
    assert_eq!(godfather["total"], 2);
    // Both Godfathers match the one word; the shorter title matches it best.
    assert_eq!(names(&godfather)[0], "The Godfather");
    assert_eq!(
        godfather["items"][0]["highlight"]["name"],
        "The <em>Godfather</em>"
    );
    assert_eq!(
        names(&search(&app, "q=wiz", &token).await),
        ["The Wizard of Oz"]
    );
    assert_eq!(search(&app, "q=qqqqqqq", &token).await["total"], 0);
    // The original fields, as the list gives them.
    let item = &search(&app, "q=psycho", &token).await["items"][0];
    assert_eq!(item["99popularity"], 85.0);
    assert_eq!(item["genre"], json!(["Horror", "Thriller"]));
}

async fn filters_sorts_pages_and_facets(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, token) = catalogue(&app, &admin).await;
    let drama_and_crime = search(&app, "genre=Drama,Crime&sort_by=imdb_score.asc", &token).await;
    assert_eq!(
        names(&drama_and_crime),
        ["The Godfather: Part II", "The Godfather"]
    );
    let war_or_horror = search(&app, "genre=War%7CHorror&sort_by=name.desc", &token).await;
    assert_eq!(names(&war_or_horror), ["Psycho", "Paths of Glory"]);
    let ranged = search(
        &app,
        "imdb_score.gte=8.3&imdb_score.lte=8.4&99popularity.gte=83.5&sort_by=99popularity.desc",
        &token,
    )
    .await;
    assert_eq!(names(&ranged), ["Paths of Glory"]);
    let director = search(&app, "director=alfred%20hitchcock&q=vertgo", &token).await;
    assert_eq!(names(&director), ["Vertigo"]);
    // Without `q`: most popular first. Pages with equal scores never overlap.
    let first = search(&app, "", &token).await;
    assert_eq!(first["sort_by"], "99popularity.desc");
    assert_eq!(names(&first)[0], "The Godfather");
    let mut seen = Vec::new();
    for page in 1..=3 {
        let found = search(
            &app,
            &format!("sort_by=imdb_score.desc&per_page=2&page={page}"),
            &token,
        )
        .await;
        assert_eq!(found["total"], 6);
        assert_eq!(found["total_pages"], 3);
        seen.extend(names(&found).into_iter().map(str::to_owned));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 6);
    // No facets unless asked; asked, they count every hit of the query, not only the page.
    let plain = search(&app, "q=alfred&per_page=1", &token).await;
    assert!(plain.get("facets").is_none(), "{plain}");
    let genres_only = search(&app, "q=alfred&per_page=1&facets=genre", &token).await;
    assert!(
        genres_only["facets"]["imdb_score"].is_null(),
        "{genres_only}"
    );
    assert!(genres_only["facets"]["genre"].is_array(), "{genres_only}");
    let thrillers = search(&app, "q=alfred&per_page=1&facets=genre,imdb_score", &token).await;
    assert_eq!(names(&thrillers).len(), 1);
    let genre_facet = thrillers["facets"]["genre"]
        .as_array()
        .expect("genre facet");
    assert!(
        genre_facet.contains(&json!({ "genre": "thriller", "count": 2 })),
        "{genre_facet:?}"
    );
    let histogram = thrillers["facets"]["imdb_score"]
        .as_array()
        .expect("histogram");
    assert_eq!(histogram.len(), 10);
    assert_eq!(histogram[8], json!({ "from": 8.0, "to": 9.0, "count": 2 }));
}

async fn edits_and_deletes_reach_search_with_the_consistency_token(app: TestApp) {
    let admin = app.admin_token().await;
    let (ids, _) = catalogue(&app, &admin).await;
    let psycho = &ids[2];
    let edited = app
        .send(
            Method::PATCH,
            &format!("/v1/movies/{psycho}"),
            Some(&admin),
            &json!({ "name": "Psycho (1960)" }),
        )
        .await;
    assert_eq!(edited.status(), 200);
    let token = header(&edited, "consistency-token");
    let found = search(&app, "q=psycho", &token).await;
    assert_eq!(names(&found), ["Psycho (1960)"]);
    assert_eq!(found["items"][0]["version"], 2);
    assert_eq!(
        found["items"][0]["director"], "Alfred Hitchcock",
        "a patch keeps the rest"
    );
    let deleted = app
        .request(
            Method::DELETE,
            &format!("/v1/movies/{psycho}"),
            Some(&admin),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), 200);
    let token = header(&deleted, "consistency-token");
    assert_eq!(search(&app, "q=psycho", &token).await["total"], 0);
    assert_eq!(search(&app, "", &token).await["total"], 5);
    let suggest = read(&app, "/v1/movies/suggest?q=psy", &token).await;
    assert_eq!(suggest["items"], json!([]));
}

async fn suggest_completes_names_from_their_first_letters(app: TestApp) {
    let admin = app.admin_token().await;
    let (ids, token) = catalogue(&app, &admin).await;
    let suggest = |q: &'static str| {
        let (app, token) = (&app, token.clone());
        async move { read(app, &format!("/v1/movies/suggest?{q}"), &token).await }
    };
    let godf = suggest("q=the%20godf").await;
    assert_eq!(
        godf["items"],
        json!([
            { "id": ids[0], "name": "The Godfather" },
            { "id": ids[1], "name": "The Godfather: Part II" }
        ])
    );
    assert_eq!(
        suggest("q=The&limit=1").await["items"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(suggest("q=ver").await["items"][0]["name"], "Vertigo");
}

async fn bad_search_parameters_are_a_400_problem_and_the_old_list_keeps_its_filters(app: TestApp) {
    for query in [
        "/v1/movies/search?q=",
        "/v1/movies/search?sort_by=relevance",
        "/v1/movies/search?sort_by=created_at.asc",
        "/v1/movies/search?imdb_score.gte=eleven",
        "/v1/movies/search?genre=a,b%7Cc",
        "/v1/movies/search?per_page=0",
        "/v1/movies/search?name=psycho",
        "/v1/movies/suggest",
        "/v1/movies/suggest?q=a&limit=x",
        "/v1/movies/suggest?prefix=a",
    ] {
        let problem = refused(&app, query).await;
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{query}: {problem}"
        );
    }
    let long = "x".repeat(201);
    refused(&app, &format!("/v1/movies/search?q={long}")).await;
    // The original route keeps its own filters (name contains), not the search's.
    let admin = app.admin_token().await;
    let (_, token) = catalogue(&app, &admin).await;
    let response = app
        .request(Method::GET, "/api/movies_curd/?name=Godfather", None)
        .header("consistency-token", token)
        .send()
        .await
        .expect("sent");
    assert_eq!(body(response).await["total"], 2);
}

/// Pages reach the first 10 000 hits on either engine: one further is a 400 problem, never a
/// 5xx (Elasticsearch refuses `from + size` past `index.max_result_window`) or a silent empty
/// page (tantivy).
async fn a_page_past_the_first_ten_thousand_hits_is_a_400_problem(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, token) = catalogue(&app, &admin).await;
    for query in [
        "page=100&per_page=100",
        "page=10000&per_page=1",
        "page=1&per_page=100",
    ] {
        let found = search(&app, query, &token).await;
        assert_eq!(found["total"], 6, "{query}");
    }
    for query in [
        "page=101&per_page=100",
        "page=10001",
        "page=501&per_page=20",
        "page=1000000&per_page=100",
        "q=godfather&page=10001&per_page=1",
    ] {
        let problem = refused(&app, &format!("/v1/movies/search?{query}")).await;
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("10000")),
            "{query}: {problem}"
        );
    }
}

/// The 400 problem a GET of `path` answers.
async fn refused(app: &TestApp, path: &str) -> Value {
    let response = app
        .request(Method::GET, path, None)
        .send()
        .await
        .expect("sent");
    problem(response, 400).await
}

/// A search's total is counted to 10 000 unless `total=exact` asks for every hit; the
/// answer says which (`total_relation`). Lists take no `total`.
async fn the_total_is_exact_when_asked_and_says_so(app: TestApp) {
    let admin = app.admin_token().await;
    let (_, token) = catalogue(&app, &admin).await;
    for query in [
        "",
        "total=exact",
        "q=godfather&total=exact",
        "total=%20exact",
    ] {
        let found = search(&app, query, &token).await;
        assert_eq!(found["total_relation"], "eq", "{query}: {found}");
    }
    assert_eq!(search(&app, "total=exact", &token).await["total"], 6);
    for path in [
        "/v1/movies/search?total=all",
        "/v1/movies/search?total=",
        "/v1/movies?total=exact",
    ] {
        let problem = refused(&app, path).await;
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("total")),
            "{path}: {problem}"
        );
    }
}

crate::on_elasticsearch!(
    the_total_is_exact_when_asked_and_says_so,
    typos_prefixes_highlights_and_relevance,
    filters_sorts_pages_and_facets,
    edits_and_deletes_reach_search_with_the_consistency_token,
    suggest_completes_names_from_their_first_letters,
    bad_search_parameters_are_a_400_problem_and_the_old_list_keeps_its_filters,
    a_page_past_the_first_ten_thousand_hits_is_a_400_problem,
);

on_both_backends!(
    the_total_is_exact_when_asked_and_says_so,
    typos_prefixes_highlights_and_relevance,
    filters_sorts_pages_and_facets,
    edits_and_deletes_reach_search_with_the_consistency_token,
    suggest_completes_names_from_their_first_letters,
    bad_search_parameters_are_a_400_problem_and_the_old_list_keeps_its_filters,
    a_page_past_the_first_ten_thousand_hits_is_a_400_problem,
);
