//! The uniqueness keys commands reserve, and bringing stored ones to the current rule.

use moviedb_domain::user::normalise_email;
use moviedb_event_store::EventStore;

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
