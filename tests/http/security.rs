use crate::on_both_backends;
use crate::support::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

on_both_backends!(
    no_event_or_response_holds_a_password_or_its_hash,
    a_tampered_token_is_refused,
    an_expired_token_is_refused,
    an_alg_none_token_is_refused,
    a_token_signed_with_another_secret_is_refused,
);

async fn no_event_or_response_holds_a_password_or_its_hash(app: TestApp) {
    let mut responses = Vec::new();
    let register = app
        .post(
            "/api/register/",
            None,
            &json!({ "name": "Ada", "email": "ada@example.com", "password": PASSWORD }),
        )
        .await;
    responses.push(register.text().await.expect("body"));
    responses.push(
        app.login("ada@example.com", PASSWORD)
            .await
            .text()
            .await
            .expect("body"),
    );
    responses.push(
        app.login("ada@example.com", "Wrong_pass1")
            .await
            .text()
            .await
            .expect("body"),
    );
    responses.push(
        app.post(
            "/v1/users",
            None,
            &json!({ "name": "Ada", "email": "ada@example.com", "password": PASSWORD }),
        )
        .await
        .text()
        .await
        .expect("body"),
    );

    let credentials = app
        .store
        .credentials_by_email("ada@example.com")
        .await
        .expect("lookup")
        .expect("stored");
    let hash = credentials.password_hash;
    assert!(hash.starts_with("$argon2id$"), "argon2id is used: {hash}");
    let salt_and_digest = hash.rsplit('$').next().expect("digest").to_owned();

    for event in app.events().await {
        let stored = format!("{} {}", event.payload, event.metadata);
        for secret in [
            PASSWORD,
            ADMIN_PASSWORD,
            hash.as_str(),
            salt_and_digest.as_str(),
            "argon2",
        ] {
            assert!(
                !stored.contains(secret),
                "event {} holds a secret",
                event.event_type
            );
        }
    }
    for body in responses {
        for secret in [PASSWORD, hash.as_str(), salt_and_digest.as_str(), "argon2"] {
            assert!(!body.contains(secret), "a response holds a secret: {body}");
        }
    }
}

async fn movie_with(app: &TestApp, token: &str) -> u16 {
    app.add_movie(token, &movie("Guarded"))
        .await
        .status()
        .as_u16()
}

async fn a_tampered_token_is_refused(app: TestApp) {
    let (_, user) = app.user().await;
    let parts: Vec<&str> = user.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    claims["role"] = json!("admin");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    problem(app.add_movie(&forged, &movie("Guarded")).await, 401).await;
    let mut flipped = user.clone();
    let last = flipped.pop().expect("char");
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(movie_with(&app, &flipped).await, 401);
    assert_eq!(movie_with(&app, "garbage").await, 401);
}

async fn an_expired_token_is_refused(app: TestApp) {
    let admin = app.admin_token().await;
    let sub = body(app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await).await["user_id"].clone();
    let now = chrono::Utc::now().timestamp();
    let expired = json!({ "sub": sub, "role": "admin", "iat": now - 7200, "exp": now - 3600, "iss": "moviedb" });
    let token = encode(
        &Header::default(),
        &expired,
        &EncodingKey::from_secret(JWT_SECRET),
    )
    .expect("signed");
    problem(app.add_movie(&token, &movie("Guarded")).await, 401).await;
    assert_eq!(
        movie_with(&app, &admin).await,
        201,
        "the same claims, unexpired, pass"
    );
}

async fn an_alg_none_token_is_refused(app: TestApp) {
    let sub = body(app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await).await["user_id"].clone();
    let now = chrono::Utc::now().timestamp();
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(
        json!({ "sub": sub, "role": "admin", "iat": now, "exp": now + 600, "iss": "moviedb" })
            .to_string(),
    );
    for token in [format!("{header}.{claims}."), format!("{header}.{claims}")] {
        assert_eq!(movie_with(&app, &token).await, 401);
    }
}

async fn a_token_signed_with_another_secret_is_refused(app: TestApp) {
    let sub = body(app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await).await["user_id"].clone();
    let now = chrono::Utc::now().timestamp();
    let claims =
        json!({ "sub": sub, "role": "admin", "iat": now, "exp": now + 600, "iss": "moviedb" });
    let token = encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(b"someone-elses-secret-0123456789abcdef"),
    )
    .expect("signed");
    assert_eq!(movie_with(&app, &token).await, 401);
}
