//! Which movies a list or a search is about: the filters both read paths share.

/// Genres to filter by, compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GenreFilter {
    /// Movies with every one of these genres (`genre=Drama,War`).
    All(Vec<String>),
    /// Movies with at least one of these genres (`genre=Drama|War`).
    Any(Vec<String>),
}

/// Filters on a movie's fields; `None` means no filter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MovieFilter {
    /// Genre filter.
    pub genres: Option<GenreFilter>,
    /// `imdb_score >=`.
    pub imdb_score_gte: Option<f64>,
    /// `imdb_score <=`.
    pub imdb_score_lte: Option<f64>,
    /// `99popularity >=`.
    pub popularity_gte: Option<f64>,
    /// `99popularity <=`.
    pub popularity_lte: Option<f64>,
    /// Director, exact but case-insensitive.
    pub director: Option<String>,
}
