//! Movie list queries: filters, sort and paging, and the SQL they become.
//!
//! The SQL is assembled from fixed fragments; every value a client sent is a bound parameter.

pub use moviedb_domain::movie::{GenreFilter, MovieFilter};

/// Largest page a client may ask for.
pub const MAX_PER_PAGE: u32 = 100;

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
}

/// The `WHERE` clause (with its parameters) of a movie query; `genres` is the genre table.
pub(crate) fn filter_sql(query: &MovieQuery, genres: &str) -> (String, Vec<Param>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut params = Vec::new();
    let in_list = |keys: &[String], params: &mut Vec<Param>| {
        let mut keys: Vec<String> = keys.iter().map(|g| g.trim().to_lowercase()).collect();
        keys.sort();
        keys.dedup();
        let marks = vec!["?"; keys.len()].join(", ");
        let n = keys.len();
        params.extend(keys.into_iter().map(Param::Text));
        (marks, n)
    };
    let filter = &query.filter;
    match &filter.genres {
        Some(GenreFilter::All(keys)) => {
            let (marks, n) = in_list(keys, &mut params);
            clauses.push(format!(
                "m.movie_id IN (SELECT movie_id FROM {genres} WHERE genre_key IN ({marks}) \
                 GROUP BY movie_id HAVING COUNT(*) = ?)"
            ));
            params.push(Param::Int(i64::try_from(n).unwrap_or(i64::MAX)));
        }
        Some(GenreFilter::Any(keys)) => {
            let (marks, _) = in_list(keys, &mut params);
            clauses.push(format!(
                "m.movie_id IN (SELECT movie_id FROM {genres} WHERE genre_key IN ({marks}))"
            ));
        }
        None => {}
    }
    for (value, clause) in [
        (filter.imdb_score_gte, "m.imdb_score >= ?"),
        (filter.imdb_score_lte, "m.imdb_score <= ?"),
        (filter.popularity_gte, "m.popularity >= ?"),
        (filter.popularity_lte, "m.popularity <= ?"),
    ] {
        if let Some(value) = value {
            clauses.push(clause.to_owned());
            params.push(Param::Real(value));
        }
    }
    if let Some(director) = &filter.director {
        clauses.push("m.director_key = ?".to_owned());
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

/// The `ORDER BY ...` of a movie query, with the id as the tie-break.
pub(crate) fn order_by_sql(query: &MovieQuery) -> String {
    let direction = if query.sort.descending { "DESC" } else { "ASC" };
    format!(
        " ORDER BY {} {direction}, m.movie_id ASC",
        query.sort.field.column()
    )
}

/// The `ORDER BY ... LIMIT ... OFFSET ...` tail of a movie query.
pub(crate) fn order_sql(query: &MovieQuery) -> (String, Vec<Param>) {
    let per_page = query.per_page.clamp(1, MAX_PER_PAGE);
    let offset = u64::from(query.page.max(1) - 1) * u64::from(per_page);
    (
        format!("{} LIMIT ? OFFSET ?", order_by_sql(query)),
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
        let (sql, params) = filter_sql(&query, "rm_movie_genres");
        assert!(!sql.contains("DROP") && !sql.contains("OR 1=1"), "{sql}");
        // `Drama` and ` drama` are one genre: two keys, and the HAVING count says 2.
        assert_eq!(params[0], Param::Text("drama".into()));
        assert_eq!(params[1], Param::Text("war".into()));
        assert_eq!(params[2], Param::Int(2));
        assert_eq!(sql.matches('?').count(), params.len());
    }
}
