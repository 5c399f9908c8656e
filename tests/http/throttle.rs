//! Login and registration throttling (finding 3 of the hardening issue: 200 wrong passwords
//! for one account in 4 s were all 401s, then the right one logged in).

use crate::support::*;
use moviedb_service_kit::ThrottleConfig;
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

fn config(window_ms: u64, per_account: u32, per_client: u32, register: u32) -> ThrottleConfig {
    ThrottleConfig {
        window: Duration::from_millis(window_ms),
        login_per_account: per_account,
        login_per_client: per_client,
        register_per_client: register,
        trusted_proxies: Vec::new(),
    }
}

async fn throttled(response: reqwest::Response) {
    let retry_after = header(&response, "retry-after");
    let problem = problem(response, 429).await;
    assert_eq!(problem["type"], "/problems/too-many-requests");
    assert!(
        retry_after.parse::<u64>().is_ok_and(|s| s >= 1),
        "Retry-After: {retry_after}"
    );
}

#[tokio::test]
async fn guessing_one_accounts_password_is_slowed_and_others_are_not_locked_out() {
    // 3 attempts per 6 s: one comes back every 2 s, far longer than three logins take even
    // on a loaded machine.
    let app = TestApp::sqlite_throttled(config(6000, 3, 100, 100)).await;
    assert_eq!(
        app.register("Victim", "victim@example.com").await.status(),
        201
    );
    for _ in 0..3 {
        assert_eq!(
            app.login("victim@example.com", "Wrong_pass1")
                .await
                .status(),
            401
        );
    }
    // The fourth attempt is refused before the password is looked at, even the right one.
    throttled(app.login("victim@example.com", PASSWORD).await).await;
    throttled(app.login("VICTIM@example.com ", "Wrong_pass1").await).await;
    // Another account is not locked out.
    assert_eq!(app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), 201);
    // After the window, the right password works.
    tokio::time::sleep(Duration::from_millis(6100)).await;
    assert_eq!(
        app.login("victim@example.com", PASSWORD).await.status(),
        201
    );
}

#[tokio::test]
async fn one_client_trying_many_accounts_is_slowed() {
    let app = TestApp::sqlite_throttled(config(60_000, 100, 3, 100)).await;
    for i in 0..3 {
        let status = app
            .login(&format!("nobody{i}@example.com"), "Wrong_pass1")
            .await
            .status();
        assert_eq!(status, 401);
    }
    throttled(app.login("nobody9@example.com", "Wrong_pass1").await).await;
    // X-Forwarded-For from a peer that is not a trusted proxy changes nothing.
    let response = app
        .request(Method::POST, "/v1/sessions", None)
        .header("x-forwarded-for", "203.0.113.7")
        .json(&json!({ "email": "other@example.com", "password": "Wrong_pass1" }))
        .send()
        .await
        .expect("sent");
    throttled(response).await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket() {
    let mut throttle = config(60_000, 100, 2, 100);
    throttle.trusted_proxies = vec!["127.0.0.1".parse().expect("ip")];
    let app = TestApp::sqlite_throttled(throttle).await;
    let attempt = |client: &'static str| {
        app.request(Method::POST, "/v1/sessions", None)
            // A client may send its own header; the proxy appends the address it saw.
            .header("x-forwarded-for", format!("198.51.100.1, {client}"))
            .json(&json!({ "email": "x@example.com", "password": "Wrong_pass1" }))
            .send()
    };
    for _ in 0..2 {
        assert_eq!(attempt("203.0.113.1").await.expect("sent").status(), 401);
    }
    throttled(attempt("203.0.113.1").await.expect("sent")).await;
    assert_eq!(attempt("203.0.113.2").await.expect("sent").status(), 401);
}

#[tokio::test]
async fn registrations_from_one_client_are_slowed() {
    let app = TestApp::sqlite_throttled(config(60_000, 100, 100, 2)).await;
    for i in 0..2 {
        let status = app
            .register("Someone", &format!("someone{i}@example.com"))
            .await
            .status();
        assert_eq!(status, 201);
    }
    throttled(app.register("Someone", "someone9@example.com").await).await;
    // An admin creating accounts is not throttled.
    let admin = app.admin_token().await;
    let response = app
        .post(
            "/v1/users",
            Some(&admin),
            &json!({ "name": "Made", "email": "made@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(response.status(), 201);
}
