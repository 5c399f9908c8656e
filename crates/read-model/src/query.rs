//! Movie list queries: filters, sort and paging, and the SQL they become.
//!
//! The SQL is assembled from fixed fragments; every value a client sent is a bound parameter.

pub use moviedb_domain::movie::{GenreFilter, MovieFilter};

/// Largest page a client may ask for.
pub const MAX_PER_PAGE: u32 = 100;

/// A filtered list's total is counted up to this many movies; past it the total is this
/// number, reported as a lower bound (Elasticsearch's `track_total_hits` default). Counting
/// every match cost tens of milliseconds per page at 1 000 000 movies. The whole catalogue's
/// total is kept as movies come and go, so it is always exact.
pub const COUNT_BOUND: u64 = 10_000;

/// What a list can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    /// Title, case-insensitively.
    Name,
    /// Director, case-insensitively.
    Director,
    /// IMDb score.
    ImdbScore,
    /// `99popularity`.
    Popularity,
    /// When the movie was added (the default).
    CreatedAt,
    /// When it last changed.
    UpdatedAt,
}

impl SortField {
    /// The field as clients name it in `sort_by`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "name" => SortField::Name,
            "director" => SortField::Director,
            "imdb_score" => SortField::ImdbScore,
            "99popularity" | "popularity" => SortField::Popularity,
            "created_at" => SortField::CreatedAt,
            "updated_at" => SortField::UpdatedAt,
            _ => return None,
        })
    }

    fn column(self) -> &'static str {
        match self {
            SortField::Name => "m.name_key",
            SortField::Director => "m.director_key",
            SortField::ImdbScore => "m.imdb_score",
            SortField::Popularity => "m.popularity",
            SortField::CreatedAt => "m.created_at",
            SortField::UpdatedAt => "m.updated_at",
        }
    }
}

/// A sort order; ties are always broken by movie id, so pages never overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    /// The field.
    pub field: SortField,
    /// Largest first.
    pub descending: bool,
}

impl Default for Sort {
    fn default() -> Self {
        Self {
            field: SortField::CreatedAt,
            descending: false,
        }
    }
}

/// A validated movie list query.
#[derive(Debug, Clone, PartialEq)]
pub struct MovieQuery {
    /// Which movies.
    pub filter: MovieFilter,
    /// Part of the title, case-insensitive.
    pub name_contains: Option<String>,
    /// Order.
    pub sort: Sort,
    /// 1-based page number.
    pub page: u32,
    /// Items per page, 1 to [`MAX_PER_PAGE`].
    pub per_page: u32,
}

impl Default for MovieQuery {
    fn default() -> Self {
        Self {
            filter: MovieFilter::default(),
            name_contains: None,
            sort: Sort::default(),
            page: 1,
            per_page: 20,
        }
    }
}

/// A value bound to a `?`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Text(String),
    Real(f64),
    Int(i64),
    /// SQL's `NULL` (a movie without a poster).
    Null,
}

/// How the database is steered to a movie query's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Any index the database likes: for a count, or a page of few matches (sorting them all
    /// costs little).
    Free,
    /// A page of many matches: the range and director terms are kept off their indexes
    /// (SQL's unary `+`), so the rows are walked in the sort's index and the walk stops at the
    /// page. Through the score's index, "score >= 5 by popularity" sorted half a million rows
    /// for each page at 1 000 000 movies.
    WalkSort,
    /// A count driven by the genre table: its first genre is joined as `g` (a genre's rows
    /// are next to each other in the table's key), not tested per movie.
    ByGenre,
}

/// The genre a [`Plan::ByGenre`] count starts from, when genres are the only filter: the only
/// genre of an `any` list, or the first of an `all` list. (With a range, a director or a name
/// too, the database's choice of index was better: the genre's rows are most of the table.)
pub(crate) fn driving_genre(query: &MovieQuery) -> Option<String> {
    let f = &query.filter;
    let others = f.imdb_score_gte.is_some()
        || f.imdb_score_lte.is_some()
        || f.popularity_gte.is_some()
        || f.popularity_lte.is_some()
        || f.director.is_some()
        || query.name_contains.is_some();
    if others {
        return None;
    }
    match &f.genres {
        Some(GenreFilter::All(keys)) => keys.first(),
        Some(GenreFilter::Any(keys)) if keys.len() == 1 => keys.first(),
        _ => None,
    }
    .map(|g| g.trim().to_lowercase())
}

/// The `WHERE` clause (with its parameters) of a movie query; `genres` is the genre table.
/// Under [`Plan::ByGenre`] the clause of [`driving_genre`] is `g.genre_key = ?`, for the caller
/// to join `{genres} g`.
pub(crate) fn filter_sql(query: &MovieQuery, genres: &str, plan: Plan) -> (String, Vec<Param>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut params = Vec::new();
    let keys = |keys: &[String]| {
        let mut keys: Vec<String> = keys.iter().map(|g| g.trim().to_lowercase()).collect();
        keys.sort();
        keys.dedup();
        keys
    };
    let has = |marks: &str| {
        format!(
            "EXISTS (SELECT 1 FROM {genres} gf WHERE gf.movie_id = m.movie_id \
             AND gf.genre_key IN ({marks}))"
        )
    };
    let driver = (plan == Plan::ByGenre)
        .then(|| driving_genre(query))
        .flatten();
    if let Some(driver) = &driver {
        clauses.push("g.genre_key = ?".to_owned());
        params.push(Param::Text(driver.clone()));
    }
    let filter = &query.filter;
    match &filter.genres {
        Some(GenreFilter::All(all)) => {
            // One test per genre: each probes the table's key (genre, movie).
            for key in keys(all) {
                if driver.as_ref() != Some(&key) {
                    clauses.push(has("?"));
                    params.push(Param::Text(key));
                }
            }
        }
        Some(GenreFilter::Any(any)) if driver.is_none() => {
            let keys = keys(any);
            clauses.push(has(&vec!["?"; keys.len()].join(", ")));
            params.extend(keys.into_iter().map(Param::Text));
        }
        Some(GenreFilter::Any(_)) | None => {}
    }
    let column = |name: &str| {
        if plan == Plan::WalkSort {
            format!("+m.{name}")
        } else {
            format!("m.{name}")
        }
    };
    for (value, name, op) in [
        (filter.imdb_score_gte, "imdb_score", ">="),
        (filter.imdb_score_lte, "imdb_score", "<="),
        (filter.popularity_gte, "popularity", ">="),
        (filter.popularity_lte, "popularity", "<="),
    ] {
        if let Some(value) = value {
            clauses.push(format!("{} {op} ?", column(name)));
            params.push(Param::Real(value));
        }
    }
    if let Some(director) = &filter.director {
        clauses.push(format!("{} = ?", column("director_key")));
        params.push(Param::Text(director.trim().to_lowercase()));
    }
    if let Some(name) = &query.name_contains {
        clauses.push("m.name_key LIKE ? ESCAPE '!'".to_owned());
        params.push(Param::Text(format!(
            "%{}%",
            like_escape(&name.to_lowercase())
        )));
    }
    if clauses.is_empty() {
        (String::new(), params)
    } else {
        (format!(" WHERE {}", clauses.join(" AND ")), params)
    }
}

/// The `ORDER BY ...` of a movie query, with the id as the tie-break; `by_index` false keeps
/// the sort's index out of the plan (a unary `+`), for few matches found through the filter.
pub(crate) fn order_by_sql(query: &MovieQuery, by_index: bool) -> String {
    let direction = if query.sort.descending { "DESC" } else { "ASC" };
    format!(
        " ORDER BY {}{} {direction}, m.movie_id ASC",
        if by_index { "" } else { "+" },
        query.sort.field.column()
    )
}

/// The `ORDER BY ... LIMIT ... OFFSET ...` tail of a movie query.
pub(crate) fn order_sql(query: &MovieQuery, by_index: bool) -> (String, Vec<Param>) {
    let per_page = query.per_page.clamp(1, MAX_PER_PAGE);
    let offset = u64::from(query.page.max(1) - 1) * u64::from(per_page);
    (
        format!("{} LIMIT ? OFFSET ?", order_by_sql(query, by_index)),
        vec![
            Param::Int(i64::from(per_page)),
            Param::Int(i64::try_from(offset).unwrap_or(i64::MAX)),
        ],
    )
}

fn like_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '!' | '%' | '_') {
            escaped.push('!');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_a_name_match_themselves() {
        assert_eq!(like_escape("100%_a!"), "100!%!_a!!");
    }

    #[test]
    fn every_client_value_is_a_parameter_not_sql() {
        let query = MovieQuery {
            filter: MovieFilter {
                director: Some("x' OR 1=1 --".into()),
                genres: Some(GenreFilter::All(vec![
                    "Drama".into(),
                    " drama".into(),
                    "War".into(),
                ])),
                ..MovieFilter::default()
            },
            name_contains: Some("'; DROP TABLE rm_movies; --".into()),
            ..MovieQuery::default()
        };
        for plan in [Plan::Free, Plan::WalkSort, Plan::ByGenre] {
            let (sql, params) = filter_sql(&query, "rm_movie_genres", plan);
            assert!(!sql.contains("DROP") && !sql.contains("OR 1=1"), "{sql}");
            // `Drama` and ` drama` are one genre: two keys, each tested once.
            assert_eq!(params[0], Param::Text("drama".into()), "{plan:?}");
            assert_eq!(params[1], Param::Text("war".into()), "{plan:?}");
            assert_eq!(sql.matches("genre_key").count(), 2, "{plan:?}: {sql}");
            assert_eq!(sql.matches('?').count(), params.len());
        }
    }
}
