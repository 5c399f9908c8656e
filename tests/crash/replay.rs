//! What a crash run compares: the events stored, copied to a clean replay, and the search index.

use super::*;

/// The number of events in the store.
pub(crate) async fn event_count(url: &str) -> usize {
    let count = async {
        let pool = sqlx::AnyPool::connect(url).await?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(&pool)
            .await?;
        pool.close().await;
        Ok::<_, sqlx::Error>(n as usize)
    };
    count.await.unwrap_or(0)
}

/// A copy of the event store at `from` in the empty store at `to` (created and migrated).
pub(crate) async fn copy_events(
    backend: &Backend,
    dir: &Path,
    to_dir: &Path,
    to_url: Option<&str>,
) {
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&backend.events_url(dir))
                .await
                .expect("store");
            sqlx::query(&format!(
                "VACUUM INTO '{}'",
                to_dir.join("moviedb.db").display()
            ))
            .execute(&pool)
            .await
            .expect("copy of the event store");
            pool.close().await;
        }
        Backend::Kafka { database, .. } => {
            let to_url = to_url.expect("a database for the replay");
            moviedb_event_store::MySqlEventStore::connect(to_url)
                .await
                .expect("the replay's store is migrated");
            let from = database.rsplit('/').next().expect("database name");
            let pool = sqlx::MySqlPool::connect(to_url)
                .await
                .expect("replay database");
            sqlx::query(&format!("INSERT INTO events SELECT * FROM `{from}`.events"))
                .execute(&pool)
                .await
                .expect("copy of the events");
            pool.close().await;
        }
    }
}

/// Every live movie in the index, in id order, as the index has it.
pub(crate) async fn index_dump(dir: &Path) -> Vec<Value> {
    let index = TantivyIndex::open(&dir.join("search")).expect("index opens");
    let found = index
        .search(&SearchRequest {
            sort: SearchSort::Name { descending: false },
            per_page: 1_000_000,
            ..SearchRequest::default()
        })
        .await
        .expect("search");
    let mut docs: Vec<Value> = found
        .hits
        .into_iter()
        .map(|h| serde_json::to_value(h.movie).expect("json"))
        .collect();
    docs.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    docs
}

/// What differs between two index dumps, by movie id: documents only in `got`, only in
/// `want`, different, and ids held twice; with the service's log lines naming each.
pub(crate) fn index_differences(got: &[Value], want: &[Value], logs: &[String]) -> String {
    use std::collections::BTreeMap;
    let by_id = |docs: &[Value]| {
        let mut map: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for doc in docs {
            let id = doc["id"].as_str().unwrap_or_default().to_owned();
            map.entry(id).or_default().push(doc.clone());
        }
        map
    };
    let (have, expected) = (by_id(got), by_id(want));
    // Each difference with the id it is about.
    let mut found: Vec<(&String, String)> = Vec::new();
    for (id, docs) in &have {
        match expected.get(id) {
            None => found.push((id, format!("only in the index: {docs:?}"))),
            Some(theirs) if theirs != docs => {
                found.push((id, format!("differs: index {docs:?}, replay {theirs:?}")))
            }
            Some(_) => {}
        }
        if docs.len() > 1 {
            found.push((id, format!("{id} held {} times", docs.len())));
        }
    }
    for (id, docs) in &expected {
        if !have.contains_key(id) {
            found.push((id, format!("only in the replay: {docs:?}")));
        }
    }
    let ids: Vec<&String> = found.iter().take(10).map(|(id, _)| *id).collect();
    let named: Vec<&String> = logs
        .iter()
        .filter(|line| ids.iter().any(|id| line.contains(id.as_str())))
        .take(40)
        .collect();
    let lines: Vec<&String> = found.iter().map(|(_, line)| line).collect();
    format!("{lines:#?}; log lines naming them: {named:#?}")
}
