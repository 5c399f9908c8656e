//! The contract as clients meet it: `/openapi.json` is the document in the repository,
//! `/docs` renders it from files the binary carries (no CDN), and `/` is the browse-and-search
//! page (its behaviour in a browser: tests/browser, run by scripts/browser).

use crate::on_both_backends;
use crate::support::*;
use reqwest::Method;

on_both_backends!(the_document_and_its_page_are_served_with_everything_they_need);

async fn the_document_and_its_page_are_served_with_everything_they_need(app: TestApp) {
    let served = app
        .request(Method::GET, "/openapi.json", None)
        .send()
        .await
        .expect("sent");
    assert_eq!(served.status(), 200);
    assert_eq!(header(&served, "content-type"), "application/json");
    let text = served.text().await.expect("text");
    let file = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json"),
    )
    .expect("docs/openapi.json");
    assert_eq!(text.trim(), file.trim());

    let index = app
        .request(Method::GET, "/", None)
        .send()
        .await
        .expect("sent");
    assert_eq!(index.status(), 200);
    assert!(header(&index, "content-type").starts_with("text/html"));
    let html = index.text().await.expect("text");
    assert!(
        html.contains("/v1/movies/search") && html.contains("/docs"),
        "{html}"
    );
    assert!(!html.contains("https://"), "no CDN: {html}");

    let page = app
        .request(Method::GET, "/docs", None)
        .send()
        .await
        .expect("sent");
    assert_eq!(page.status(), 200);
    assert!(header(&page, "content-type").starts_with("text/html"));
    let html = page.text().await.expect("text");
    assert!(html.contains("/openapi.json"), "{html}");
    assert!(!html.contains("https://"), "no CDN: {html}");
    // Every script and stylesheet the page loads is served from here.
    let assets: Vec<String> = html
        .split(['"', '\''])
        .filter(|s| s.ends_with(".js") || s.ends_with(".css"))
        .map(str::to_owned)
        .collect();
    assert!(!assets.is_empty(), "{html}");
    for asset in assets {
        let path = if asset.starts_with('/') {
            asset
        } else {
            format!("/docs/{}", asset.trim_start_matches("./"))
        };
        let response = app
            .request(Method::GET, &path, None)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "{path}");
    }
}
