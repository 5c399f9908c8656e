//! Validated movie fields.

use crate::validation::bounded_text;
use crate::FieldError;

/// At most this many characters in a name or a director.
pub const MAX_TITLE_CHARS: usize = 200;
/// At most this many genres per movie.
pub const MAX_GENRES: usize = 10;
/// At most this many characters per genre.
pub const MAX_GENRE_CHARS: usize = 40;
/// At most this many genre items as sent, before de-duplication: a few repeats are forgiven,
/// an array of thousands is refused before any work is done on its items.
pub const MAX_RAW_GENRES: usize = 4 * MAX_GENRES;
/// The IMDb scores there are.
pub const IMDB_SCORE_RANGE: std::ops::RangeInclusive<f64> = 0.0..=10.0;
/// The popularities there are (the original app's `99popularity`).
pub const POPULARITY_RANGE: std::ops::RangeInclusive<f64> = 0.0..=100.0;

/// A movie's name: trimmed, 1 to 200 characters, no control or bidi control characters.
pub fn parse_name(raw: &str) -> Result<String, FieldError> {
    visible_title_text("name", bounded_text("name", raw, MAX_TITLE_CHARS)?)
}

/// A movie's director: as a name.
pub fn parse_director(raw: &str) -> Result<String, FieldError> {
    visible_title_text("director", bounded_text("director", raw, MAX_TITLE_CHARS)?)
}

/// The further rules of a name or a director: no bidi controls, something visible, and at
/// most [`MAX_TITLE_CHARS`] once normalised.
fn visible_title_text(field: &str, text: String) -> Result<String, FieldError> {
    if text.chars().any(crate::text::is_bidi_control) {
        return Err(FieldError::new(
            field,
            "must not contain bidirectional control characters",
        ));
    }
    let key = crate::text::text_key(&text);
    if key.is_empty() {
        return Err(FieldError::new(field, "must have a visible character"));
    }
    // NFKC can expand a character many times (U+FDFA becomes 18): the key must stay within
    // the stored key's bound too.
    if key.chars().count() > MAX_TITLE_CHARS {
        return Err(FieldError::new(
            field,
            format!("must be at most {MAX_TITLE_CHARS} characters once normalised"),
        ));
    }
    Ok(text)
}

/// Genres: 1 to 10 after trimming and case-insensitive de-duplication (first spelling kept),
/// each at most 40 characters, from at most 40 items as sent. The well-known sample data has
/// `" Drama"`; it becomes `"Drama"`. Linear in the input.
pub fn parse_genres(raw: &[String]) -> Result<Vec<String>, FieldError> {
    if raw.len() > MAX_RAW_GENRES {
        return Err(FieldError::new(
            "genre",
            format!("must have at most {MAX_RAW_GENRES} items ({MAX_GENRES} distinct genres)"),
        ));
    }
    let mut genres: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, g) in raw.iter().enumerate() {
        let genre = bounded_text(&format!("genre[{i}]"), g, MAX_GENRE_CHARS)?;
        if seen.insert(genre.to_lowercase()) {
            genres.push(genre);
        }
    }
    if genres.is_empty() {
        return Err(FieldError::new("genre", "must have at least one genre"));
    }
    if genres.len() > MAX_GENRES {
        return Err(FieldError::new(
            "genre",
            format!("must have at most {MAX_GENRES} distinct genres"),
        ));
    }
    Ok(genres)
}

/// An IMDb score, 0.0 to 10.0.
pub fn parse_imdb_score(raw: f64) -> Result<f64, FieldError> {
    if raw.is_finite() && IMDB_SCORE_RANGE.contains(&raw) {
        Ok(raw)
    } else {
        Err(FieldError::new(
            "imdb_score",
            "must be between 0.0 and 10.0",
        ))
    }
}

/// A popularity, 0 to 100 (the original app's `99popularity`).
pub fn parse_popularity(raw: f64) -> Result<f64, FieldError> {
    if raw.is_finite() && POPULARITY_RANGE.contains(&raw) {
        Ok(raw)
    } else {
        Err(FieldError::new("99popularity", "must be between 0 and 100"))
    }
}

/// The key `name` + `director` are unique on among live movies: each field's
/// [`text_key`](crate::text::text_key), joined by a unit separator (which validation keeps out
/// of both fields).
pub fn title_key(name: &str, director: &str) -> String {
    format!(
        "{}\u{1f}{}",
        crate::text::text_key(name),
        crate::text::text_key(director)
    )
}
