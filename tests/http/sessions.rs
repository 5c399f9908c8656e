use crate::on_both_backends;
use crate::support::*;
use jsonwebtoken::{decode, DecodingKey, Validation};
use serde_json::{json, Value};

on_both_backends!(
    logging_in_returns_a_token_on_both_routes_that_expires_in_60_minutes,
    the_token_is_accepted_from_bearer_and_x_access_token,
    an_unknown_email_and_a_wrong_password_get_the_same_answer,
    a_login_without_fields_is_422,
);

async fn logging_in_returns_a_token_on_both_routes_that_expires_in_60_minutes(app: TestApp) {
    app.register("Ada", "ada@example.com").await;
    for path in ["/api/login_user/", "/v1/sessions"] {
        let response = app
            .post(
                path,
                None,
                &json!({ "email": "Ada@Example.com", "password": PASSWORD }),
            )
            .await;
        assert_eq!(response.status(), 201, "{path}");
        let body = body(response).await;
        let token = body["token"].as_str().expect("token");
        assert_eq!(body["expires_in"], 3600);
        let claims = decode::<Value>(
            token,
            &DecodingKey::from_secret(JWT_SECRET),
            &Validation::default(),
        )
        .expect("valid")
        .claims;
        assert_eq!(
            claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
            3600
        );
        assert_eq!(claims["sub"], body["user_id"]);
    }
}

async fn the_token_is_accepted_from_bearer_and_x_access_token(app: TestApp) {
    let admin = app.admin_token().await;
    let via_bearer = app.add_movie(&admin, &movie("One")).await;
    assert_eq!(via_bearer.status(), 201);
    let via_header = app
        .request(reqwest::Method::POST, "/api/movies_curd/", None)
        .header("x-access-token", &admin)
        .json(&movie("Two"))
        .send()
        .await
        .expect("sent");
    assert_eq!(via_header.status(), 201);
}

async fn an_unknown_email_and_a_wrong_password_get_the_same_answer(app: TestApp) {
    app.register("Ada", "ada@example.com").await;
    let wrong_password = problem(app.login("ada@example.com", "Wrong_pass1").await, 401).await;
    let unknown_email = problem(app.login("nobody@example.com", PASSWORD).await, 401).await;
    assert_eq!(wrong_password, unknown_email);
}

async fn a_login_without_fields_is_422(app: TestApp) {
    let problem = problem(app.post("/v1/sessions", None, &json!({})).await, 422).await;
    assert_eq!(problem["errors"].as_array().map(Vec::len), Some(2));
}
