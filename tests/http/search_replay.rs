//! Events replayed twice, out of order or late leave the search index as a clean pass would.

use crate::on_both_backends;
use crate::search::{catalogue, search};
use crate::support::header;
use crate::support::TestApp;
use reqwest::Method;
use serde_json::json;

/// Every live document of an index, by name, with its version.
async fn snapshot(index: &dyn moviedb_search::SearchIndex) -> Vec<(String, String, u64)> {
    let found = index
        .search(&moviedb_search::SearchRequest {
            sort: moviedb_search::SearchSort::Name { descending: false },
            per_page: 100,
            ..moviedb_search::SearchRequest::default()
        })
        .await
        .expect("search");
    found
        .hits
        .into_iter()
        .map(|h| (h.movie.id.to_string(), h.movie.name, h.movie.version))
        .collect()
}

async fn replaying_events_twice_out_of_order_or_late_leaves_the_index_as_a_clean_pass(
    app: TestApp,
) {
    let admin = app.admin_token().await;
    let (ids, _) = catalogue(&app, &admin).await;
    let edited = app
        .send(
            Method::PATCH,
            &format!("/v1/movies/{}", ids[3]),
            Some(&admin),
            &json!({ "imdb_score": 8.4 }),
        )
        .await;
    assert_eq!(edited.status(), 200);
    let deleted = app
        .request(
            Method::DELETE,
            &format!("/v1/movies/{}", ids[0]),
            Some(&admin),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(deleted.status(), 200);
    // The live service has projected everything.
    let token = header(&deleted, "consistency-token");
    assert_eq!(search(&app, "", &token).await["total"], 5);
    let events = app.events().await;

    let projector = |dir: &std::path::Path| {
        let (dir, store) = (dir.to_owned(), app.store.clone());
        async move {
            let read = moviedb_read_model::connect(&format!(
                "sqlite://{}",
                dir.join("read-models.db").display()
            ))
            .await
            .expect("read models");
            let index: std::sync::Arc<dyn moviedb_search::SearchIndex> = std::sync::Arc::new(
                moviedb_search::TantivyIndex::open(&dir.join("search")).expect("index"),
            );
            (
                moviedb_projector::Projector::new(read, store).with_search(index.clone()),
                index,
            )
        }
    };
    let clean_dir = tempfile::tempdir().expect("temp dir");
    let (clean, clean_index) = projector(clean_dir.path()).await;
    clean.handle(&events, None).await.expect("clean pass");
    clean.index_flushed().await;
    app.projector.index_flushed().await;
    let expected = snapshot(clean_index.as_ref()).await;
    assert_eq!(expected.len(), 5);
    assert_eq!(
        expected,
        snapshot(app.search.as_ref()).await,
        "the live index"
    );

    let messy_dir = tempfile::tempdir().expect("temp dir");
    let (messy, messy_index) = projector(messy_dir.path()).await;
    let mut reversed = events.clone();
    reversed.reverse();
    for batch in reversed.chunks(3) {
        messy.handle(batch, None).await.expect("reversed batch");
    }
    messy
        .handle(&events, None)
        .await
        .expect("every event again");
    messy
        .handle(&events[..4], None)
        .await
        .expect("old events late");
    messy.index_flushed().await;
    assert_eq!(snapshot(messy_index.as_ref()).await, expected);
    let movie_ids: Vec<uuid::Uuid> = ids.iter().map(|i| i.parse().expect("uuid")).collect();
    assert_eq!(
        messy_index.versions(&movie_ids).await.expect("versions"),
        clean_index.versions(&movie_ids).await.expect("versions")
    );
    // The live index agrees with the live read models: the reconcile run at start finds
    // nothing to do.
    assert_eq!(
        moviedb_projector::index::reconcile(app.read.as_ref(), app.search.as_ref())
            .await
            .expect("reconcile"),
        0
    );
    // And a fresh index is filled from the read models alone.
    let empty_dir = tempfile::tempdir().expect("temp dir");
    let empty = moviedb_search::TantivyIndex::open(empty_dir.path()).expect("index");
    assert_eq!(
        moviedb_projector::index::reconcile(app.read.as_ref(), &empty)
            .await
            .expect("reconcile"),
        6,
        "five live movies and a tombstone"
    );
    assert_eq!(snapshot(&empty).await, expected);
}

on_both_backends!(replaying_events_twice_out_of_order_or_late_leaves_the_index_as_a_clean_pass);
