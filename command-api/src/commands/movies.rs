//! The movie commands: add, update, delete, and the 409 that names a movie already there.

use super::helpers::{check_if_match, new_events, not_found_movie};
use super::{Answer, CommandError, CommandService, Outcome, Write, MOVIE_TITLE_KEY};
use moviedb_domain::movie::{Movie, MovieCommand, MovieEvent, MovieFields, MoviePatch, Poster};
use moviedb_domain::{Actor, Aggregate};
use moviedb_event_store::{AppendRequest, Metadata, UniqueKey};
use std::collections::HashMap;
use uuid::Uuid;

/// A command decided on an existing movie: the state before, the events, the state after, and
/// the version the events follow.
struct Decided {
    before: Movie,
    events: Vec<MovieEvent>,
    after: Movie,
    version: u64,
}

/// What a bulk add answers for a movie whose name and director are already taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// A 409 naming the movie that has them (read from its stream): what a client is told.
    Named,
    /// A 409 without reading that movie: for an import, which only counts them.
    Counted,
}

impl CommandService {
    /// Adds `movies` (each `None` is a slot already refused by the caller, left as it is) as
    /// the one bulk path of the API's bulk add and of `moviedb import`: each movie is its own
    /// append, all in flight at once, so the store commits them together (on SQLite in one
    /// transaction with a savepoint each, so one bad movie does not stop the others). A movie
    /// repeating an earlier one of the same batch (name + director) waits for a later round,
    /// so the earlier one is the one stored. The ids follow one another, so a token naming
    /// them is one short run. The answers are in the order of `movies`.
    pub async fn add_movies(
        &self,
        mut movies: Vec<Option<MovieFields>>,
        actor: Actor,
        metadata: &Metadata,
        taken: Taken,
    ) -> Vec<Option<Result<Outcome, CommandError>>> {
        let mut occurrences: HashMap<String, usize> = HashMap::new();
        let rounds: Vec<usize> = movies
            .iter()
            .map(|movie| match movie {
                Some(fields) => {
                    let seen = occurrences.entry(fields.title_key()).or_default();
                    *seen += 1;
                    *seen - 1
                }
                None => 0,
            })
            .collect();
        let ids = moviedb_domain::consecutive_ids(movies.len());
        let mut outcomes: Vec<Option<Result<Outcome, CommandError>>> =
            (0..movies.len()).map(|_| None).collect();
        for round in 0..=rounds.iter().copied().max().unwrap_or(0) {
            let slots: Vec<usize> = (0..rounds.len())
                .filter(|&i| rounds[i] == round && movies[i].is_some())
                .collect();
            let writes = slots.iter().map(|&i| {
                let (fields, id) = (movies[i].take(), ids.get(i).copied());
                async move {
                    let fields = fields
                        .ok_or_else(|| CommandError::Internal("bulk item taken twice".into()))?;
                    let id = id.unwrap_or_else(Uuid::now_v7);
                    let write = self.add_movie_as(id, fields, actor, metadata).await?;
                    match taken {
                        Taken::Named => self.commit(write).await,
                        Taken::Counted => self.commit_add(write).await,
                    }
                }
            });
            let done = futures::future::join_all(writes.collect::<Vec<_>>()).await;
            for (i, outcome) in slots.into_iter().zip(done) {
                outcomes[i] = Some(outcome);
            }
        }
        outcomes
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
                answer: Answer::Movie(fields, None),
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
        let decided = self
            .decide_on_movie(movie_id, MovieCommand::Update { patch, actor }, if_match)
            .await?;
        let mut append = self
            .append_decided(movie_id, &decided, actor, metadata)
            .await?;
        let poster_path = decided.after.poster().map(Poster::path);
        let before = decided.before.fields().map(MovieFields::title_key);
        let after = decided
            .after
            .fields()
            .cloned()
            .ok_or_else(|| CommandError::Internal("an update left no live movie".into()))?;
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
            version: decided.version + decided.events.len() as u64,
            answer: Answer::Movie(after, poster_path),
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
        let decided = self
            .decide_on_movie(movie_id, MovieCommand::Delete { actor }, if_match)
            .await?;
        let mut append = self
            .append_decided(movie_id, &decided, actor, metadata)
            .await?;
        append.release.extend(
            decided
                .before
                .fields()
                .map(|f| UniqueKey::new(MOVIE_TITLE_KEY, f.title_key())),
        );
        let outcome = Outcome {
            stream_id: movie_id,
            version: decided.version + 1,
            answer: Answer::Deleted,
        };
        Ok(Write { append, outcome })
    }

    /// Checks that `movie_id` is a live movie at the version `if_match` names, if any: what a
    /// poster upload checks before it spends the CPU to make the sizes.
    pub async fn check_movie(
        &self,
        movie_id: Uuid,
        if_match: Option<u64>,
    ) -> Result<(), CommandError> {
        let (movie, version) = self.load::<Movie>(movie_id).await?;
        if movie.fields().is_none() {
            return Err(CommandError::NoSuchMovie);
        }
        check_if_match(if_match, version)
    }

    /// The poster `movie_id` shows, if any (`None` too for no such movie).
    pub async fn poster_of(&self, movie_id: Uuid) -> Result<Option<Poster>, CommandError> {
        let (movie, _) = self.load::<Movie>(movie_id).await?;
        Ok(movie.poster().cloned())
    }

    /// Decides showing `poster` (its sizes stored already), or no poster with `None`.
    pub async fn set_poster(
        &self,
        movie_id: Uuid,
        poster: Option<Poster>,
        if_match: Option<u64>,
        actor: Actor,
        metadata: &Metadata,
    ) -> Result<Write, CommandError> {
        let command = match poster {
            Some(poster) => MovieCommand::SetPoster { poster, actor },
            None => MovieCommand::RemovePoster { actor },
        };
        let decided = self.decide_on_movie(movie_id, command, if_match).await?;
        let append = self
            .append_decided(movie_id, &decided, actor, metadata)
            .await?;
        let fields =
            decided.after.fields().cloned().ok_or_else(|| {
                CommandError::Internal("a poster change left no live movie".into())
            })?;
        let outcome = Outcome {
            stream_id: movie_id,
            version: decided.version + decided.events.len() as u64,
            answer: Answer::Movie(fields, decided.after.poster().map(Poster::path)),
        };
        Ok(Write { append, outcome })
    }

    /// Loads movie `movie_id`, decides `command` on it and checks `If-Match`: how every
    /// command on an existing movie starts.
    async fn decide_on_movie(
        &self,
        movie_id: Uuid,
        command: MovieCommand,
        if_match: Option<u64>,
    ) -> Result<Decided, CommandError> {
        let (before, version) = self.load::<Movie>(movie_id).await?;
        let events = before.decide(&command).map_err(not_found_movie)?;
        check_if_match(if_match, version)?;
        let after = events.iter().fold(before.clone(), |m, e| m.evolve(e));
        Ok(Decided {
            before,
            events,
            after,
            version,
        })
    }

    /// The append of a decision's events, guarded by `actor`'s role.
    async fn append_decided(
        &self,
        movie_id: Uuid,
        decided: &Decided,
        actor: Actor,
        metadata: &Metadata,
    ) -> Result<AppendRequest, CommandError> {
        let mut append = AppendRequest::new(
            Movie::STREAM_TYPE,
            movie_id,
            decided.version,
            new_events(&decided.events, metadata),
        );
        append.guard = self.guard(actor).await?;
        Ok(append)
    }

    pub(super) async fn movie_exists(&self, owner: Uuid) -> CommandError {
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
