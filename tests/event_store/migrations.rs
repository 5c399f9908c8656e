//! Stores made before a migration: what it changes, and what it keeps.

use super::*;

/// Reserving `key` for another stream is refused, naming `owner`.
async fn assert_owned(store: &dyn EventStore, key: &str, owner: Uuid) {
    let mut other = append(Uuid::now_v7(), 0, vec![event(9)]);
    other.reserve.push(UniqueKey::new("movie", key));
    assert!(
        matches!(
            store.append(other).await,
            Err(AppendError::KeyTaken { owner: held, .. }) if held == owner
        ),
        "{key}: the key kept its owner"
    );
}

/// Ids are ASCII on MySQL (compared without the Unicode collation), in a new database and in
/// one made before the migration that changed them, whose events and keys it keeps.
#[tokio::test]
async fn ids_are_ascii_in_new_and_migrated_mysql_stores() {
    let columns = [
        ("credentials", "user_id"),
        ("events", "event_id"),
        ("events", "stream_id"),
        ("unique_keys", "stream_id"),
    ];
    let ascii = vec![Some("ascii".to_owned()); columns.len()];
    let db = MySqlTestDatabase::new();
    let store = MySqlEventStore::connect(db.url()).await.expect("store");
    assert_eq!(column_charsets(db.url(), &columns).await, ascii);
    let stream = Uuid::now_v7();
    let mut first = append(stream, 0, vec![event(1), event(2)]);
    first.reserve.push(UniqueKey::new("movie", "the old name"));
    store.append(first).await.expect("appended");
    drop(store);

    // Back to the state of a database made before the migration.
    let pool = sqlx::MySqlPool::connect(db.url()).await.expect("database");
    for sql in [
        "ALTER TABLE events MODIFY event_id CHAR(36) NOT NULL, MODIFY stream_id CHAR(36) NOT NULL",
        "ALTER TABLE unique_keys MODIFY stream_id CHAR(36) NOT NULL",
        "ALTER TABLE credentials MODIFY user_id CHAR(36) NOT NULL",
        "DELETE FROM _sqlx_migrations WHERE version = 2",
    ] {
        sqlx::query(sql).execute(&pool).await.expect(sql);
    }
    pool.close().await;
    assert_eq!(
        column_charsets(db.url(), &columns).await,
        vec![Some("utf8mb4".to_owned()); columns.len()]
    );

    let store = MySqlEventStore::connect(db.url()).await.expect("migrated");
    assert_eq!(column_charsets(db.url(), &columns).await, ascii);
    let events = store.read_stream(stream).await.expect("read back");
    assert_eq!(events.iter().map(|e| e.version).collect::<Vec<_>>(), [1, 2]);
    // The key reserved before the migration still belongs to its stream.
    assert_owned(&store, "the old name", stream).await;
    // And the stream goes on from its version.
    store
        .append(append(stream, 2, vec![event(4)]))
        .await
        .expect("appended after the migration");
}

/// The SQLite store keeps its reservations in one B-tree (`WITHOUT ROWID`), in a new database
/// and in one made before the migration that changed it, whose keys it keeps.
#[tokio::test]
async fn sqlite_reservations_are_one_tree_in_new_and_migrated_stores() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("events.db").display());
    let schema = || async {
        let mut conn = sqlx::SqliteConnection::connect(&url)
            .await
            .expect("database");
        let sql: String =
            sqlx::query_scalar("SELECT sql FROM sqlite_schema WHERE name = 'unique_keys'")
                .fetch_one(&mut conn)
                .await
                .expect("the table");
        sql
    };
    let store = SqliteEventStore::connect(&url).await.expect("store");
    assert!(
        schema().await.contains("WITHOUT ROWID"),
        "{}",
        schema().await
    );
    let stream = Uuid::now_v7();
    let mut first = append(stream, 0, vec![event(1)]);
    first.reserve.push(UniqueKey::new("movie", "the old name"));
    store.append(first).await.expect("appended");
    drop(store);

    // Back to the table of a database made before the migration.
    let mut conn = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("database");
    for sql in [
        "CREATE TABLE old_keys (kind TEXT NOT NULL, key TEXT NOT NULL, \
         stream_id TEXT NOT NULL, PRIMARY KEY (kind, key))",
        "INSERT INTO old_keys SELECT kind, key, stream_id FROM unique_keys",
        "DROP TABLE unique_keys",
        "ALTER TABLE old_keys RENAME TO unique_keys",
        "DELETE FROM _sqlx_migrations WHERE version = 2",
    ] {
        sqlx::query(sql).execute(&mut conn).await.expect(sql);
    }
    conn.close().await.expect("closed");
    assert!(!schema().await.contains("WITHOUT ROWID"));

    let store = SqliteEventStore::connect(&url).await.expect("migrated");
    assert!(
        schema().await.contains("WITHOUT ROWID"),
        "{}",
        schema().await
    );
    assert_owned(&store, "the old name", stream).await;
    let mut free = append(Uuid::now_v7(), 0, vec![event(3)]);
    free.reserve.push(UniqueKey::new("movie", "a new name"));
    store.append(free).await.expect("a new key is reserved");
}
