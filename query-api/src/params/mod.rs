//! Query-string parameters, deserialised with serde (`serde_html_form`) and then checked
//! against the domain's own bounds: a typo is a clear 400 naming every bad parameter, not a
//! silent no-op.

use moviedb_domain::movie::{
    MovieFilter, IMDB_SCORE_RANGE, MAX_GENRES, MAX_GENRE_CHARS, MAX_TITLE_CHARS, POPULARITY_RANGE,
};
use moviedb_read_model::{GenreFilter, MovieQuery, Sort, SortField, MAX_PER_PAGE};
use moviedb_service_kit::ApiError;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::ops::RangeInclusive;

/// Largest page number accepted (beyond it every page is empty anyway).
const MAX_PAGE: u32 = 1_000_000;

/// The parameters of a query string as `T`; an unknown or repeated one is a 400.
fn parse<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    serde_html_form::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("invalid query parameters: {e}")))
}

/// One parameter's value as sent: present (maybe empty, which is an error for most) or not.
/// `Option<String>` would not do: `serde_html_form` reads an empty value as `None`.
#[derive(Debug, Default)]
struct Given(Option<String>);

impl<'de> Deserialize<'de> for Given {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|v| Given(Some(v)))
    }
}

impl Given {
    fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// The parameters of the movie list and the search: the list takes `name`, the search `q`;
/// anything else is refused by name. The OpenAPI document's parameters are derived from it.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct MovieParams {
    /// Search only: free text over name and director, typo-tolerant, the last word a prefix.
    #[serde(default)]
    #[param(value_type = Option<String>)]
    q: Given,
    /// List only: part of the name, case-insensitive.
    #[serde(default)]
    #[param(value_type = Option<String>)]
    name: Given,
    /// `field.asc` or `field.desc`. List: name, director, imdb_score, 99popularity,
    /// created_at, updated_at. Search: relevance (with `q`), imdb_score, 99popularity, name.
    #[serde(default)]
    #[param(value_type = Option<String>, example = "imdb_score.desc")]
    sort_by: Given,
    /// 1-based page number.
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1)]
    page: Given,
    /// Items per page, 1 to 100 (more is capped), default 20.
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1)]
    per_page: Given,
    /// Genres: `a,b` all of them, `a|b` any of them.
    #[serde(default)]
    #[param(value_type = Option<String>, example = "Crime,Drama")]
    genre: Given,
    /// IMDb score at least this (0 to 10).
    #[serde(default, rename = "imdb_score.gte")]
    #[param(value_type = Option<f64>, minimum = 0.0, maximum = 10.0)]
    imdb_score_gte: Given,
    /// IMDb score at most this (0 to 10).
    #[serde(default, rename = "imdb_score.lte")]
    #[param(value_type = Option<f64>, minimum = 0.0, maximum = 10.0)]
    imdb_score_lte: Given,
    /// Popularity at least this (0 to 100).
    #[serde(default, rename = "99popularity.gte")]
    #[param(value_type = Option<f64>, minimum = 0.0, maximum = 100.0)]
    popularity_gte: Given,
    /// Popularity at most this (0 to 100).
    #[serde(default, rename = "99popularity.lte")]
    #[param(value_type = Option<f64>, minimum = 0.0, maximum = 100.0)]
    popularity_lte: Given,
    /// The director, exactly (case-insensitive).
    #[serde(default)]
    #[param(value_type = Option<String>)]
    director: Given,
    /// Search only: the facets to count over every hit, `genre` and `imdb_score`
    /// (comma-separated). None unless asked: counting them reads every hit.
    #[serde(default)]
    #[param(value_type = Option<String>, example = "genre,imdb_score")]
    facets: Given,
    /// Search only: `exact` counts every hit. Otherwise hits are counted to 10 000 and a
    /// search with more answers `total` 10 000 and `total_relation` `gte`, as Elasticsearch's
    /// `track_total_hits` does; a search with facets counts every hit anyway.
    #[serde(default)]
    #[param(value_type = Option<String>, example = "exact")]
    total: Given,
}

/// `page` and `per_page` alone.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageParams {
    /// 1-based page number.
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1)]
    page: Given,
    /// Items per page, 1 to 100 (more is capped), default 20.
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1)]
    per_page: Given,
}

/// Suggestions: the letters typed and how many.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SuggestParams {
    /// The first letters of a name (required).
    #[serde(default)]
    #[param(value_type = String, required = true, example = "the go")]
    q: Given,
    /// How many, 1 to 20 (more is capped), default 10.
    #[serde(default)]
    #[param(value_type = Option<u32>, minimum = 1)]
    limit: Given,
}

/// Errors about parameters, reported together.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    /// `name` is a parameter of the other list.
    fn not_here(&mut self, name: &str, given: &Given, instead: &str) {
        if given.0.is_some() {
            self.0
                .push(format!("unknown parameter `{name}` here (use `{instead}`)"));
        }
    }

    fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::BadRequest(format!(
                "invalid query parameters: {}",
                self.0.join("; ")
            )))
        }
    }

    fn number(&mut self, name: &str, raw: Option<&str>, range: RangeInclusive<f64>) -> Option<f64> {
        let raw = raw?;
        match raw.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && range.contains(&v) => Some(v),
            _ => {
                self.0.push(format!(
                    "`{name}` must be a number from {} to {}",
                    range.start(),
                    range.end()
                ));
                None
            }
        }
    }

    fn count(&mut self, name: &str, raw: Option<&str>, max: u32) -> Option<u32> {
        let raw = raw?;
        match raw.trim().parse::<u32>() {
            Ok(v) if v >= 1 => Some(v.min(max)),
            _ => {
                self.0
                    .push(format!("`{name}` must be a whole number of at least 1"));
                None
            }
        }
    }

    fn text(&mut self, name: &str, raw: Option<&str>) -> Option<String> {
        let trimmed = raw?.trim();
        if trimmed.is_empty() || trimmed.chars().count() > MAX_TITLE_CHARS {
            self.0.push(format!(
                "`{name}` must be 1 to {MAX_TITLE_CHARS} characters"
            ));
            None
        } else {
            Some(trimmed.to_owned())
        }
    }

    fn paging(&mut self, page: &Given, per_page: &Given) -> (u32, u32) {
        (
            self.count("page", page.get(), MAX_PAGE).unwrap_or(1),
            self.count("per_page", per_page.get(), MAX_PER_PAGE)
                .unwrap_or(20),
        )
    }

    fn filter(&mut self, params: &MovieParams) -> MovieFilter {
        MovieFilter {
            genres: params.genre.get().and_then(|g| self.genres(g)),
            imdb_score_gte: self.number(
                "imdb_score.gte",
                params.imdb_score_gte.get(),
                IMDB_SCORE_RANGE,
            ),
            imdb_score_lte: self.number(
                "imdb_score.lte",
                params.imdb_score_lte.get(),
                IMDB_SCORE_RANGE,
            ),
            popularity_gte: self.number(
                "99popularity.gte",
                params.popularity_gte.get(),
                POPULARITY_RANGE,
            ),
            popularity_lte: self.number(
                "99popularity.lte",
                params.popularity_lte.get(),
                POPULARITY_RANGE,
            ),
            director: self.text("director", params.director.get()),
        }
    }

    fn genres(&mut self, raw: &str) -> Option<GenreFilter> {
        let (any, separator) = match (raw.contains(','), raw.contains('|')) {
            (true, true) => {
                self.0
                    .push("`genre` takes `,` (all of) or `|` (any of), not both".to_owned());
                return None;
            }
            (false, true) => (true, '|'),
            _ => (false, ','),
        };
        let genres: Vec<String> = raw.split(separator).map(|g| g.trim().to_owned()).collect();
        if genres
            .iter()
            .any(|g| g.is_empty() || g.chars().count() > MAX_GENRE_CHARS)
            || genres.len() > MAX_GENRES
        {
            self.0.push(format!(
                "`genre` takes 1 to {MAX_GENRES} genres of 1 to {MAX_GENRE_CHARS} characters"
            ));
            return None;
        }
        Some(if any {
            GenreFilter::Any(genres)
        } else {
            GenreFilter::All(genres)
        })
    }
}

/// Paging only (`page`, `per_page`), for lists without filters.
pub fn paging(raw: Option<&str>) -> Result<(u32, u32), ApiError> {
    let params: PageParams = parse(raw)?;
    let mut problems = Problems::default();
    let paging = problems.paging(&params.page, &params.per_page);
    problems.finish().map(|()| paging)
}

/// The filters, sort and paging of a movie list, in the convention TMDB's clients know.
pub fn movie_query(raw: Option<&str>) -> Result<MovieQuery, ApiError> {
    let params: MovieParams = parse(raw)?;
    let mut p = Problems::default();
    let (page, per_page) = p.paging(&params.page, &params.per_page);
    p.not_here("q", &params.q, "name, or /v1/movies/search");
    p.not_here("facets", &params.facets, "/v1/movies/search");
    p.not_here("total", &params.total, "/v1/movies/search");
    let mut query = MovieQuery {
        filter: p.filter(&params),
        name_contains: p.text("name", params.name.get()),
        page,
        per_page,
        ..MovieQuery::default()
    };
    if let Some(value) = params.sort_by.get() {
        match sort(value) {
            Some(s) => query.sort = s,
            None => p.0.push(format!(
                "`sort_by` must be field.asc or field.desc, with field one of name, director, \
                 imdb_score, 99popularity, created_at, updated_at (got `{value}`)"
            )),
        }
    }
    p.finish().map(|()| query)
}

fn sort(raw: &str) -> Option<Sort> {
    let (field, direction) = raw.trim().rsplit_once('.').unwrap_or((raw.trim(), "asc"));
    let descending = match direction {
        "asc" => false,
        "desc" => true,
        _ => return None,
    };
    Some(Sort {
        field: SortField::parse(field)?,
        descending,
    })
}

mod search;
#[cfg(test)]
mod tests;

pub use search::{search_request, suggest, Facets};
