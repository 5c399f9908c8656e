//! The command service: load a stream, decide, append. Knows nothing of HTTP, so the CLI and
//! the bootstrap use it too.

mod admins;
mod error;
mod helpers;
mod keys;
mod outcome;

pub use error::{append_error, store_error, CommandError};
pub use keys::{rekey, EMAIL_KEY, MOVIE_TITLE_KEY};
pub use outcome::{Answer, Outcome, Write};

use crate::password::PasswordHasher;
use admins::Admins;
use helpers::{check_if_match, new_events, not_found_movie};
use moviedb_domain::movie::{Movie, MovieCommand, MovieEvent, MovieFields, MoviePatch};
use moviedb_domain::user::{normalise_email, ChangeRole, RegisterUser, User, UserCommand};
use moviedb_domain::{Actor, Aggregate, DomainEvent, Role};
use moviedb_event_store::{
    AppendError, AppendRequest, Credentials, EventStore, Metadata, StoredEvent, StreamGuard,
    UniqueKey,
};
use std::sync::Arc;
use uuid::Uuid;

/// How often an append whose caller's stream moved is decided again before it is given up.
const GUARD_ATTEMPTS: usize = 3;

/// How often a write that lost a version race is decided in all before the race is answered
/// with 409.
const RACE_ATTEMPTS: usize = 5;

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

    async fn load<A: Aggregate>(&self, stream_id: Uuid) -> Result<(A, u64), CommandError>
    where
        A::Event: DomainEvent,
    {
        let stored: Vec<StoredEvent> = self.store.read_stream(stream_id).await?;
        // Another kind of stream under this id (a user's id sent as a movie's): for this
        // aggregate there is nothing there, which its decision turns into a 404.
        if stored.iter().any(|e| e.stream_type != A::STREAM_TYPE) {
            return Ok((A::default(), 0));
        }
        let version = stored.last().map_or(0, |e| e.version);
        let events = stored
            .iter()
            .map(StoredEvent::decode::<A::Event>)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((A::replay(&events), version))
    }

    /// The current role of a user, or `None` if no such user. An admin's is remembered (see
    /// [`Admins`]): every append decided on it is guarded by the admin's stream version.
    pub async fn current_role(&self, user_id: Uuid) -> Result<Option<Role>, CommandError> {
        if self.admins.version(user_id).is_some() {
            return Ok(Some(Role::Admin));
        }
        Ok(self.read_role(user_id).await?.0)
    }

    /// The role read from the user's stream (remembered if admin), and the stream's version.
    async fn read_role(&self, user_id: Uuid) -> Result<(Option<Role>, u64), CommandError> {
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
    async fn guard(&self, actor: Actor) -> Result<Option<StreamGuard>, CommandError> {
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
                _ => return Err(CommandError::NoLongerAdmin),
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
    ) -> Result<Write, CommandError> {
        let user_id = Uuid::now_v7();
        let events = User::default().decide(&UserCommand::Register(command.clone()))?;
        let email = command.email.key();
        if self
            .store
            .key_owner(&UniqueKey::new(EMAIL_KEY, email.clone()))
            .await?
            .is_some()
        {
            return Err(CommandError::EmailTaken);
        }
        let password_hash = self.hasher.hash(command.password.expose()).await?;
        let mut append =
            AppendRequest::new(User::STREAM_TYPE, user_id, 0, new_events(&events, metadata));
        append.guard = self.guard(command.actor).await?;
        append
            .reserve
            .push(UniqueKey::new(EMAIL_KEY, email.clone()));
        append.credentials = Some(Credentials {
            user_id,
            email,
            password_hash,
        });
        let answer = Answer::Registered {
            name: command.name.as_ref().to_owned(),
            email: command.email.as_ref().to_owned(),
            role: command.role,
        };
        Ok(Write {
            outcome: Outcome {
                stream_id: user_id,
                version: events.len() as u64,
                answer,
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
    ) -> Result<(Uuid, Role), CommandError> {
        let credentials = self
            .store
            .credentials_by_email(&normalise_email(email))
            .await?;
        let hash = credentials.as_ref().map(|c| c.password_hash.as_str());
        let bad = || CommandError::WrongCredentials;
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
    ) -> Result<Write, CommandError> {
        let (user, version) = self.load::<User>(user_id).await?;
        check_if_match(if_match, version)?;
        let events = user.decide(&UserCommand::ChangeRole(ChangeRole {
            user_id,
            role,
            actor,
        }))?;
        let mut append = AppendRequest::new(
            User::STREAM_TYPE,
            user_id,
            version,
            new_events(&events, metadata),
        );
        append.guard = self.guard(actor).await?;
        Ok(Write {
            outcome: Outcome {
                stream_id: user_id,
                version: version + events.len() as u64,
                answer: Answer::RoleChanged { role },
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
    ) -> Result<Write, CommandError> {
        self.add_movie_as(Uuid::now_v7(), fields, actor, metadata)
            .await
    }

    /// Decides adding a movie under a new id chosen by the caller: a bulk add takes
    /// [`moviedb_domain::consecutive_ids`], so its answer's token is one short run.
    pub async fn add_movie_as(
        &self,
        movie_id: Uuid,
        fields: MovieFields,
        actor: Actor,
        metadata: &Metadata,
    ) -> Result<Write, CommandError> {
        let events = Movie::default().decide(&MovieCommand::Add {
            fields: fields.clone(),
            actor,
        })?;
        // No look-up first: the append's reservation refuses a taken name + director, and
        // `commit` turns that into the same 409.
        let key = UniqueKey::new(MOVIE_TITLE_KEY, fields.title_key());
        let mut append = AppendRequest::new(
            Movie::STREAM_TYPE,
            movie_id,
            0,
            new_events(&events, metadata),
        );
        append.reserve.push(key);
        append.guard = self.guard(actor).await?;
        Ok(Write {
            outcome: Outcome {
                stream_id: movie_id,
                version: 1,
                answer: Answer::Movie(fields),
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
    ) -> Result<Write, CommandError> {
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
            after.ok_or_else(|| CommandError::Internal("an update left no live movie".into()))?;
        let mut append = AppendRequest::new(
            Movie::STREAM_TYPE,
            movie_id,
            version,
            new_events(&events, metadata),
        );
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
            answer: Answer::Movie(after),
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
    ) -> Result<Write, CommandError> {
        let (movie, version) = self.load::<Movie>(movie_id).await?;
        let events: Vec<MovieEvent> = movie
            .decide(&MovieCommand::Delete { actor })
            .map_err(not_found_movie)?;
        check_if_match(if_match, version)?;
        let mut append = AppendRequest::new(
            Movie::STREAM_TYPE,
            movie_id,
            version,
            new_events(&events, metadata),
        );
        append.guard = self.guard(actor).await?;
        append.release.extend(
            movie
                .fields()
                .map(|f| UniqueKey::new(MOVIE_TITLE_KEY, f.title_key())),
        );
        let outcome = Outcome {
            stream_id: movie_id,
            version: version + 1,
            answer: Answer::Deleted,
        };
        Ok(Write { append, outcome })
    }

    /// Loads, decides and stores a write to an existing stream: `decide` makes the write from
    /// the stream's current state (one of [`Self::update_movie`], [`Self::delete_movie`],
    /// [`Self::change_role`]). A write that loses a version race (another request appended to
    /// the stream between its load and its append) is decided again on the new state, up to
    /// [`RACE_ATTEMPTS`] times in all. So a write sent without `If-Match` applies on top of the
    /// one that won (two PATCHes of different fields both land), and one sent with `If-Match`
    /// is refused by its own check with the new version (412), the version it named being gone.
    pub async fn run<F, Fut>(&self, mut decide: F) -> Result<Outcome, CommandError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Write, CommandError>>,
    {
        let mut attempt = 1;
        loop {
            match self.commit(decide().await?).await {
                Err(CommandError::Append(AppendError::Conflict { .. }))
                    if attempt < RACE_ATTEMPTS =>
                {
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// Stores a decided write. If it was decided on an admin's remembered role and the admin's
    /// stream has moved since, the role is read again: the write is stored if they are still an
    /// admin, refused if not.
    pub async fn commit(&self, write: Write) -> Result<Outcome, CommandError> {
        match self.commit_add(write).await {
            Err(CommandError::MovieExists { owner, movie: None }) => {
                Err(self.movie_exists(owner).await)
            }
            result => result,
        }
    }

    /// Stores a decided write as [`Self::commit`] does, but a name + director already taken
    /// is answered without reading the movie that holds it: for a bulk load, which only
    /// counts those.
    pub async fn commit_add(&self, write: Write) -> Result<Outcome, CommandError> {
        let Write {
            mut append,
            outcome,
        } = write;
        let user_stream = (append.stream_type == User::STREAM_TYPE).then_some(append.stream_id);
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
                EMAIL_KEY => CommandError::EmailTaken,
                MOVIE_TITLE_KEY => CommandError::MovieExists { owner, movie: None },
                _ => AppendError::KeyTaken { kind, owner }.into(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    async fn movie_exists(&self, owner: Uuid) -> CommandError {
        if owner.is_nil() {
            return CommandError::MovieExists { owner, movie: None };
        }
        let movie = match self.load::<Movie>(owner).await {
            Ok((movie, version)) => movie
                .fields()
                .map(|f| Box::new(moviedb_wire::Movie::new(owner, f.clone(), version))),
            Err(_) => None,
        };
        CommandError::MovieExists { owner, movie }
    }
}

#[cfg(test)]
mod tests;
