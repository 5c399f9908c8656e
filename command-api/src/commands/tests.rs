//! The command service against a real SQLite store.

use super::helpers::new_events;
use super::*;
use moviedb_domain::movie::MovieFields;
use moviedb_domain::user::{UserEvent, UserRegistered, UserRoleChanged};
use moviedb_event_store::{AppendRequest, Metadata};

/// An admin demoted meanwhile, whose remembered role another request has already dropped:
/// a decision taken on the admin role read before is refused, never stored unguarded.
#[tokio::test]
async fn an_admin_decision_is_never_stored_unguarded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("events.db").display());
    let store: Arc<dyn EventStore> = Arc::new(
        moviedb_event_store::SqliteEventStore::connect(&url)
            .await
            .expect("store"),
    );
    let service = CommandService::new(store.clone(), PasswordHasher::new().expect("hasher"));
    let id = Uuid::now_v7();
    let metadata = Metadata::default();
    let events = [
        UserEvent::Registered(UserRegistered {
            name: "Ada".into(),
            email: "ada@example.com".into(),
            role: Role::Admin,
            registered_at: chrono::Utc::now(),
        }),
        UserEvent::RoleChanged(UserRoleChanged { role: Role::User }),
    ];
    store
        .append(AppendRequest::new(
            User::STREAM_TYPE,
            id,
            0,
            new_events(&events, &metadata),
        ))
        .await
        .expect("an admin, demoted");
    // The request's actor was read while they were an admin; nothing is remembered now.
    let actor = Actor::User {
        id,
        role: Role::Admin,
    };
    let fields = MovieFields {
        name: "Vertigo".into(),
        director: "Alfred Hitchcock".into(),
        genres: vec!["Mystery".into()],
        imdb_score: 8.3,
        popularity: 83.0,
    };
    let decided = service.add_movie(fields, actor, &metadata).await;
    assert!(
        matches!(decided, Err(CommandError::NoLongerAdmin)),
        "{decided:?}"
    );
    assert_eq!(
        store.head_position().await.expect("head"),
        2,
        "nothing stored"
    );
}
