//! The command service: load a stream, decide, append. Knows nothing of HTTP, so the CLI and
//! the bootstrap use it too.

use crate::error::ApiError;
use crate::password::PasswordHasher;
use moviedb_domain::movie::{Movie, MovieCommand, MovieEvent, MovieFields, MoviePatch};
use moviedb_domain::user::{normalise_email, ChangeRole, RegisterUser, User, UserCommand};
use moviedb_domain::{Actor, Aggregate, DomainEvent, Role};
use moviedb_event_store::{
    AppendError, AppendRequest, Credentials, EventStore, Metadata, NewEvent, StoredEvent,
    StreamGuard, UniqueKey,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// The unique-key kind of e-mail addresses.
pub const EMAIL_KEY: &str = "email";
/// The unique-key kind of movie name + director.
pub const MOVIE_TITLE_KEY: &str = "movie_title";

/// Brings stored uniqueness keys to the current rule (NFKC, lower case, no default-ignorable
/// code points, Latin look-alikes; see `moviedb_domain::text`), so a title reserved before the
/// rule changed still blocks its look-alikes. Idempotent: keys already in the current form are
/// left alone, so it runs at every start.
pub async fn rekey(store: &dyn EventStore) -> Result<(), moviedb_event_store::StoreError> {
    fn title(old: &str) -> String {
        match old.split_once('\u{1f}') {
            Some((name, director)) => moviedb_domain::movie::title_key(name, director),
            None => moviedb_domain::text::text_key(old),
        }
    }
    for (kind, derive) in [
        (MOVIE_TITLE_KEY, title as for<'k> fn(&'k str) -> String),
        (EMAIL_KEY, normalise_email),
    ] {
        let done = store.rekey(kind, derive).await?;
        if done.changed > 0 || done.clashes > 0 {
            tracing::info!(
                kind,
                changed = done.changed,
                clashes = done.clashes,
                "uniqueness keys re-derived"
            );
        }
    }
    Ok(())
}

/// A decided write, not yet stored: the append and what it will have produced.
#[derive(Debug)]
pub struct Write {
    /// What the store must write, all or nothing.
    pub append: AppendRequest,
    /// What the client is told once it is written.
    pub outcome: Outcome,
}

/// The result of a write, as the client sees it.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The stream written.
    pub stream_id: Uuid,
    /// Its version afterwards.
    pub version: u64,
    /// The resource's new state, for the response body.
    pub view: Value,
}

/// The movie as clients see it, with the original app's field names.
pub fn movie_view(fields: &MovieFields) -> Value {
    json!({
        "name": fields.name,
        "director": fields.director,
        "genre": fields.genres,
        "imdb_score": fields.imdb_score,
        "99popularity": fields.popularity,
    })
}

/// The most admins [`Admins`] remembers; past it, it starts again empty.
const ADMINS_AT_MOST: usize = 10_000;

/// The admins seen lately, each with the version of their stream at which they were admins.
///
/// Every write checks its caller's role. Reading the caller's stream for it cost a database
/// round trip per request (two on MySQL, with the ping sqlx sends when it takes the connection
/// back), as much as the append itself. Instead an admin's role is read once and remembered
/// with its stream version, and every append decided on it carries that version as a
/// [`StreamGuard`]: the store writes it only if the admin's stream has not moved since, in the
/// same transaction. If it moved (a role change, from any process), the role is read again and
/// the append retried, or refused if the caller is no longer an admin. So a demoted admin
/// loses the right at once, as before, and a steady stream of writes reads no role at all.
/// Users who are not admins are not remembered: nothing they may do depends on their role.
#[derive(Default)]
struct Admins(Mutex<HashMap<Uuid, u64>>);

impl Admins {
    fn version(&self, user_id: Uuid) -> Option<u64> {
        self.lock().get(&user_id).copied()
    }

    fn remember(&self, user_id: Uuid, version: u64) {
        let mut seen = self.lock();
        if seen.len() >= ADMINS_AT_MOST {
            seen.clear();
        }
        seen.insert(user_id, version);
    }

    fn forget(&self, user_id: Uuid) {
        self.lock().remove(&user_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, u64>> {
        // The map holds no invariant a panic could break.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// How often an append whose caller's stream moved is decided again before it is given up.
const GUARD_ATTEMPTS: usize = 3;

/// Runs commands against the event store.
#[derive(Clone)]
pub struct CommandService {
    store: Arc<dyn EventStore>,
    hasher: PasswordHasher,
    committed: Arc<tokio::sync::watch::Sender<u64>>,
    admins: Arc<Admins>,
}

impl CommandService {
    /// A service over `store`.
    pub fn new(store: Arc<dyn EventStore>, hasher: PasswordHasher) -> Self {
        Self {
            store,
            hasher,
            committed: Arc::new(tokio::sync::watch::Sender::new(0)),
            admins: Arc::default(),
        }
    }

    /// Ticks after every stored append, so feeds in the same process (the embedded projector,
    /// the outbox relay) wake at once instead of polling.
    pub fn committed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.committed.subscribe()
    }

    /// The store, for health checks and idempotency records.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    async fn load<A: Aggregate>(&self, stream_id: Uuid) -> Result<(A, u64), ApiError>
    where
        A::Event: DomainEvent,
    {
        let stored: Vec<StoredEvent> = self.store.read_stream(stream_id).await?;
        let version = stored.last().map_or(0, |e| e.version);
        let events = stored
            .iter()
            .map(StoredEvent::decode::<A::Event>)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((A::replay(&events), version))
    }

    /// The current role of a user, or `None` if no such user. An admin's is remembered (see
    /// [`Admins`]): every append decided on it is guarded by the admin's stream version.
    pub async fn current_role(&self, user_id: Uuid) -> Result<Option<Role>, ApiError> {
        if self.admins.version(user_id).is_some() {
            return Ok(Some(Role::Admin));
        }
        Ok(self.read_role(user_id).await?.0)
    }

    /// The role read from the user's stream (remembered if admin), and the stream's version.
    async fn read_role(&self, user_id: Uuid) -> Result<(Option<Role>, u64), ApiError> {
        let (user, version) = self.load::<User>(user_id).await?;
        let role = user.role();
        if role == Some(Role::Admin) {
            self.admins.remember(user_id, version);
        }
        Ok((role, version))
    }

    /// The guard for an append decided on `actor`'s role: an admin's stream version. If the
    /// admin is no longer remembered (another request found their stream moved meanwhile),
    /// the role is read again: an append decided on an admin role is never left unguarded.
    async fn guard(&self, actor: Actor) -> Result<Option<StreamGuard>, ApiError> {
        let Actor::User {
            id,
            role: Role::Admin,
        } = actor
        else {
            return Ok(None);
        };
        let version = match self.admins.version(id) {
            Some(version) => version,
            None => match self.read_role(id).await? {
                (Some(Role::Admin), version) => version,
                _ => return Err(no_longer_admin()),
            },
        };
        Ok(Some(StreamGuard {
            stream_id: id,
            version,
        }))
    }

    /// Decides a registration; the password is hashed only once the domain accepted it.
    pub async fn register(
        &self,
        command: RegisterUser,
        metadata: &Metadata,
    ) -> Result<Write, ApiError> {
        let user_id = Uuid::now_v7();
        let events = User::default().decide(&UserCommand::Register(command.clone()))?;
        let email = command.email.key();
        if self
            .store
            .key_owner(&UniqueKey::new(EMAIL_KEY, email.clone()))
            .await?
            .is_some()
        {
            return Err(email_taken());
        }
        let password_hash = self.hasher.hash(command.password.expose()).await?;
        let mut append = AppendRequest::new("user", user_id, 0, new_events(&events, metadata));
        append.guard = self.guard(command.actor).await?;
        append
            .reserve
            .push(UniqueKey::new(EMAIL_KEY, email.clone()));
        append.credentials = Some(Credentials {
            user_id,
            email,
            password_hash,
        });
        let view = json!({
            "name": command.name.as_ref(),
            "email": command.email.as_ref(),
            "role": command.role,
        });
        Ok(Write {
            outcome: Outcome {
                stream_id: user_id,
                version: events.len() as u64,
                view,
            },
            append,
        })
    }

    /// Checks an e-mail and password; the user id and role on success. Unknown e-mail and wrong
    /// password give the same error after the same work.
    pub async fn authenticate(
        &self,
        email: &str,
        password: &str,
    ) -> Result<(Uuid, Role), ApiError> {
        let credentials = self
            .store
            .credentials_by_email(&normalise_email(email))
            .await?;
        let hash = credentials.as_ref().map(|c| c.password_hash.as_str());
        let bad = || ApiError::Unauthorized("wrong e-mail or password");
        if !self.hasher.verify(hash, password).await? {
            return Err(bad());
        }
        let user_id = credentials.map(|c| c.user_id).ok_or_else(bad)?;
        let role = self.current_role(user_id).await?.ok_or_else(bad)?;
        Ok((user_id, role))
    }

    /// Decides a role change.
    pub async fn change_role(
        &self,
        user_id: Uuid,
        role: Role,
        if_match: Option<u64>,
        actor: Actor,
        metadata: &Metadata,
    ) -> Result<Write, ApiError> {
        let (user, version) = self.load::<User>(user_id).await?;
        check_if_match(if_match, version)?;
        let events = user.decide(&UserCommand::ChangeRole(ChangeRole {
            user_id,
            role,
            actor,
        }))?;
        let mut append =
            AppendRequest::new("user", user_id, version, new_events(&events, metadata));
        append.guard = self.guard(actor).await?;
        let view = json!({ "role": role });
        Ok(Write {
            outcome: Outcome {
                stream_id: user_id,
                version: version + events.len() as u64,
                view,
            },
            append,
        })
    }

    /// Decides adding a movie. A live movie with the same name and director is a 409 naming it.
    pub async fn add_movie(
        &self,
        fields: MovieFields,
        actor: Actor,
        metadata: &Metadata,
    ) -> Result<Write, ApiError> {
        let movie_id = Uuid::now_v7();
        let events = Movie::default().decide(&MovieCommand::Add {
            fields: fields.clone(),
            actor,
        })?;
        // No look-up first: the append's reservation refuses a taken name + director, and
        // `commit` turns that into the same 409.
        let key = UniqueKey::new(MOVIE_TITLE_KEY, fields.title_key());
        let mut append = AppendRequest::new("movie", movie_id, 0, new_events(&events, metadata));
        append.reserve.push(key);
        append.guard = self.guard(actor).await?;
        Ok(Write {
            outcome: Outcome {
                stream_id: movie_id,
                version: 1,
                view: movie_view(&fields),
            },
            append,
        })
    }

    /// Decides an update (PUT sends every field, PATCH some). Renaming moves the reservation.
    pub async fn update_movie(
        &self,
        movie_id: Uuid,
        patch: MoviePatch,
        if_match: Option<u64>,
        actor: Actor,
        metadata: &Metadata,
    ) -> Result<Write, ApiError> {
        let (movie, version) = self.load::<Movie>(movie_id).await?;
        let events = movie
            .decide(&MovieCommand::Update { patch, actor })
            .map_err(not_found_movie)?;
        check_if_match(if_match, version)?;
        let after = events.iter().fold(movie.clone(), |m, e| m.evolve(e));
        let (before, after) = (
            movie.fields().map(MovieFields::title_key),
            after.fields().cloned(),
        );
        let after =
            after.ok_or_else(|| ApiError::Internal("an update left no live movie".into()))?;
        let mut append =
            AppendRequest::new("movie", movie_id, version, new_events(&events, metadata));
        append.guard = self.guard(actor).await?;
        if before.as_deref() != Some(after.title_key().as_str()) {
            let key = UniqueKey::new(MOVIE_TITLE_KEY, after.title_key());
            if let Some(owner) = self.store.key_owner(&key).await?.filter(|o| *o != movie_id) {
                return Err(self.movie_exists(owner).await);
            }
            append.reserve.push(key);
            append
                .release
                .extend(before.map(|k| UniqueKey::new(MOVIE_TITLE_KEY, k)));
        }
        let outcome = Outcome {
            stream_id: movie_id,
            version: version + events.len() as u64,
            view: movie_view(&after),
        };
        Ok(Write { append, outcome })
    }

    /// Decides a delete; the name + director become free again.
    pub async fn delete_movie(
        &self,
        movie_id: Uuid,
        if_match: Option<u64>,
        actor: Actor,
        metadata: &Metadata,
    ) -> Result<Write, ApiError> {
        let (movie, version) = self.load::<Movie>(movie_id).await?;
        let events: Vec<MovieEvent> = movie
            .decide(&MovieCommand::Delete { actor })
            .map_err(not_found_movie)?;
        check_if_match(if_match, version)?;
        let mut append =
            AppendRequest::new("movie", movie_id, version, new_events(&events, metadata));
        append.guard = self.guard(actor).await?;
        append.release.extend(
            movie
                .fields()
                .map(|f| UniqueKey::new(MOVIE_TITLE_KEY, f.title_key())),
        );
        let outcome = Outcome {
            stream_id: movie_id,
            version: version + 1,
            view: json!({ "deleted": true }),
        };
        Ok(Write { append, outcome })
    }

    /// Stores a decided write. If it was decided on an admin's remembered role and the admin's
    /// stream has moved since, the role is read again: the write is stored if they are still an
    /// admin, refused if not.
    pub async fn commit(&self, write: Write) -> Result<Outcome, ApiError> {
        let Write {
            mut append,
            outcome,
        } = write;
        let user_stream = (append.stream_type == "user").then_some(append.stream_id);
        let mut attempt = 1;
        let stored = loop {
            let retry =
                (append.guard.is_some() && attempt < GUARD_ATTEMPTS).then(|| append.clone());
            match (self.store.append(append).await, retry) {
                (Err(AppendError::GuardMoved { stream_id, .. }), Some(again)) => {
                    self.admins.forget(stream_id);
                    append = again;
                    append.guard = self
                        .guard(Actor::User {
                            id: stream_id,
                            role: Role::Admin,
                        })
                        .await?;
                    attempt += 1;
                }
                (result, _) => break result,
            }
        };
        // A role may have changed here: whoever is remembered under that stream is read again.
        if let Some(user_id) = user_stream {
            self.admins.forget(user_id);
        }
        match stored {
            Ok(_) => {
                self.committed.send_modify(|n| *n = n.wrapping_add(1));
                Ok(outcome)
            }
            Err(AppendError::KeyTaken { kind, owner }) => Err(match kind.as_str() {
                EMAIL_KEY => email_taken(),
                MOVIE_TITLE_KEY => self.movie_exists(owner).await,
                _ => ApiError::Conflict {
                    detail: format!("{kind} is already taken"),
                    existing: None,
                },
            }),
            Err(e) => Err(e.into()),
        }
    }

    async fn movie_exists(&self, owner: Uuid) -> ApiError {
        let existing = match self.load::<Movie>(owner).await {
            Ok((movie, version)) => movie.fields().map(|f| {
                let mut view = movie_view(f);
                view["id"] = json!(owner);
                view["version"] = json!(version);
                view
            }),
            Err(_) => None,
        };
        ApiError::Conflict {
            detail: "a movie with this name and director already exists".into(),
            existing: existing.or_else(|| Some(json!({ "id": owner }))),
        }
    }
}

fn no_longer_admin() -> ApiError {
    ApiError::Forbidden("only an admin may do this, and your role has changed")
}

fn email_taken() -> ApiError {
    ApiError::Conflict {
        detail: "this e-mail address is already registered".into(),
        existing: None,
    }
}

fn not_found_movie(error: moviedb_domain::DomainError) -> ApiError {
    match error {
        moviedb_domain::DomainError::NotFound => ApiError::NotFound("no such movie".into()),
        other => other.into(),
    }
}

fn check_if_match(if_match: Option<u64>, current: u64) -> Result<(), ApiError> {
    match if_match {
        Some(expected) if expected != current => Err(ApiError::PreconditionFailed { current }),
        _ => Ok(()),
    }
}

fn new_events<E: DomainEvent>(events: &[E], metadata: &Metadata) -> Vec<NewEvent> {
    events
        .iter()
        .map(|e| NewEvent::from_domain(e, metadata))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use moviedb_domain::user::{UserEvent, UserRegistered, UserRoleChanged};

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
                "user",
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
            matches!(decided, Err(ApiError::Forbidden(_))),
            "{decided:?}"
        );
        assert_eq!(
            store.head_position().await.expect("head"),
            2,
            "nothing stored"
        );
    }
}
