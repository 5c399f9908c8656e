//! The command service: load a stream, decide, append. Knows nothing of HTTP, so the CLI and
//! the bootstrap use it too.

mod admins;
mod error;
mod helpers;
mod keys;
mod movies;
mod outcome;
mod users;

pub use error::{append_error, store_error, CommandError};
pub use keys::{rekey, EMAIL_KEY, MOVIE_TITLE_KEY};
pub use movies::Taken;
pub use outcome::{Answer, Outcome, Write};

use crate::password::PasswordHasher;
use admins::Admins;
use moviedb_domain::user::User;
use moviedb_domain::{Actor, Aggregate, DomainEvent, Role};
use moviedb_event_store::{AppendError, EventStore, StoredEvent, StreamGuard};
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
}

#[cfg(test)]
mod tests;
