//! The tantivy index's generations, as two processes see them: `moviedb rebuild` fills a new
//! generation and swaps it in while a serving `moviedb` keeps reading and writing. Two handles
//! on one directory stand for the two processes.

use moviedb_search::{IndexOp, SearchIndex, SearchRequest, TantivyIndex};

#[tokio::test]
async fn a_second_handle_sees_the_swap_and_both_can_write_after_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let serving = TantivyIndex::open(dir.path()).expect("serving");
    let rebuilding = TantivyIndex::open(dir.path()).expect("rebuilding");
    let movies = super::movies();
    serving
        .apply(vec![IndexOp::Upsert(movies[0].clone())])
        .await
        .expect("served write");

    let shadow = rebuilding.begin_rebuild().await.expect("begin");
    shadow
        .apply(movies[1..].iter().cloned().map(IndexOp::Upsert).collect())
        .await
        .expect("rebuilt");
    // While the rebuild holds its writer, the serving side still writes the live generation.
    serving
        .apply(vec![IndexOp::Delete {
            id: movies[0].id,
            version: 2,
        }])
        .await
        .expect("served write during the rebuild");
    let all = SearchRequest::default();
    assert_eq!(serving.search(&all).await.expect("search").total, 0);

    rebuilding.finish_rebuild().await.expect("swap");
    assert_eq!(serving.search(&all).await.expect("search").total, 5);
    // The rebuild's process writes (its catch-up), then the serving one, each taking the
    // writer in turn.
    rebuilding
        .apply(vec![IndexOp::Upsert(movies[0].clone())])
        .await
        .expect("catch-up write");
    serving.refresh().await.expect("refresh");
    assert_eq!(serving.search(&all).await.expect("search").total, 6);
    serving
        .apply(vec![IndexOp::Delete {
            id: movies[0].id,
            version: 2,
        }])
        .await
        .expect("served write after the swap");
    assert_eq!(serving.search(&all).await.expect("search").total, 5);
    let generations = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("gen-"))
        .count();
    assert!(
        generations <= 2,
        "old generations are removed ({generations} left)"
    );
}
