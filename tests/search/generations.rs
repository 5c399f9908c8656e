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

/// An index written before a schema change (here: the current schema without `name_words`,
/// the column added for suggestions) cannot be opened with the new schema. Opening it starts
/// a fresh generation, which the projector fills, and removes the old one.
#[tokio::test]
async fn an_index_with_an_older_schema_is_replaced_by_a_fresh_generation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let movies = super::movies();
    {
        let index = TantivyIndex::open(dir.path()).expect("index");
        index
            .apply(vec![IndexOp::Upsert(movies[0].clone())])
            .await
            .expect("written");
    }
    let current = std::fs::read_to_string(dir.path().join("CURRENT")).expect("CURRENT");
    let old = dir.path().join(current.trim());
    let meta_path = old.join("meta.json");
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).expect("meta")).expect("json");
    let fields = meta["schema"].as_array_mut().expect("the schema's fields");
    let before = fields.len();
    fields.retain(|f| f["name"] != "name_words");
    assert_eq!(fields.len(), before - 1, "the schema had name_words");
    std::fs::write(&meta_path, meta.to_string()).expect("older schema written");

    let index = TantivyIndex::open(dir.path()).expect("a fresh generation");
    let all = SearchRequest::default();
    assert_eq!(index.search(&all).await.expect("search").total, 0);
    assert!(!old.exists(), "the old generation is removed");
    index
        .apply(vec![IndexOp::Upsert(movies[0].clone())])
        .await
        .expect("refilled");
    let found = index.suggest(&movies[0].name, 5).await.expect("suggest");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, movies[0].id);
}
