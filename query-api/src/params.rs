//! Query-string parameters: parsed strictly, so a typo is a clear 400, not a silent no-op.

use moviedb_domain::movie::MovieFilter;
use moviedb_read_model::{GenreFilter, MovieQuery, Sort, SortField, MAX_PER_PAGE};
use moviedb_search::{SearchRequest, SearchSort};
use moviedb_service_kit::ApiError;

/// The pairs of a query string; a malformed one is a 400.
pub fn pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("malformed query string: {e}")))
}

/// Errors about parameters, reported together.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
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
}

fn number(problems: &mut Problems, name: &str, raw: &str, min: f64, max: f64) -> Option<f64> {
    match raw.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (min..=max).contains(&v) => Some(v),
        _ => {
            problems
                .0
                .push(format!("`{name}` must be a number from {min} to {max}"));
            None
        }
    }
}

fn page_number(problems: &mut Problems, name: &str, raw: &str, max: u32) -> Option<u32> {
    match raw.trim().parse::<u32>() {
        Ok(v) if v >= 1 => Some(v.min(max)),
        _ => {
            problems
                .0
                .push(format!("`{name}` must be a whole number of at least 1"));
            None
        }
    }
}

/// Largest page number accepted (beyond it every page is empty anyway).
const MAX_PAGE: u32 = 1_000_000;

/// Paging only (`page`, `per_page`), for lists without filters.
pub fn paging(pairs: &[(String, String)]) -> Result<(u32, u32), ApiError> {
    let mut problems = Problems::default();
    let (mut page, mut per_page) = (1, 20);
    for (name, value) in pairs {
        match name.as_str() {
            "page" => page = page_number(&mut problems, name, value, MAX_PAGE).unwrap_or(1),
            "per_page" => {
                per_page = page_number(&mut problems, name, value, MAX_PER_PAGE).unwrap_or(20)
            }
            other => problems.0.push(format!(
                "unknown parameter `{other}` (known: page, per_page)"
            )),
        }
    }
    problems.finish().map(|()| (page, per_page))
}

/// Reads one of the filters the movie list and the search share; `false` if `name` is not one.
fn filter(p: &mut Problems, filter: &mut MovieFilter, name: &str, value: &str) -> bool {
    match name {
        "genre" => filter.genres = genre_filter(p, value),
        "imdb_score.gte" => filter.imdb_score_gte = number(p, name, value, 0.0, 10.0),
        "imdb_score.lte" => filter.imdb_score_lte = number(p, name, value, 0.0, 10.0),
        "99popularity.gte" => filter.popularity_gte = number(p, name, value, 0.0, 100.0),
        "99popularity.lte" => filter.popularity_lte = number(p, name, value, 0.0, 100.0),
        "director" => filter.director = text(p, name, value),
        _ => return false,
    }
    true
}

/// The filters, sort and paging of a movie list, in the convention TMDB's clients know.
pub fn movie_query(pairs: &[(String, String)]) -> Result<MovieQuery, ApiError> {
    let mut problems = Problems::default();
    let mut query = MovieQuery::default();
    for (name, value) in pairs {
        let p = &mut problems;
        if filter(p, &mut query.filter, name, value) {
            continue;
        }
        match name.as_str() {
            "name" => query.name_contains = text(p, name, value),
            "sort_by" => match sort(value) {
                Some(s) => query.sort = s,
                None => p.0.push(format!(
                    "`sort_by` must be field.asc or field.desc, with field one of name, director, \
                     imdb_score, 99popularity, created_at, updated_at (got `{value}`)"
                )),
            },
            "page" => query.page = page_number(p, name, value, MAX_PAGE).unwrap_or(1),
            "per_page" => query.per_page = page_number(p, name, value, MAX_PER_PAGE).unwrap_or(20),
            other => p.0.push(format!(
                "unknown parameter `{other}` (known: genre, imdb_score.gte, imdb_score.lte, \
                 99popularity.gte, 99popularity.lte, director, name, sort_by, page, per_page)"
            )),
        }
    }
    problems.finish().map(|()| query)
}

/// A search: `q`, the list's filters, `sort_by` (`relevance`, `imdb_score`, `99popularity`,
/// `name`, each `.asc` or `.desc`; relevance when `q` is given, else most popular first), and
/// paging.
pub fn search_request(pairs: &[(String, String)]) -> Result<SearchRequest, ApiError> {
    let mut problems = Problems::default();
    let mut request = SearchRequest::default();
    let mut sort = None;
    for (name, value) in pairs {
        let p = &mut problems;
        if filter(p, &mut request.filter, name, value) {
            continue;
        }
        match name.as_str() {
            "q" => request.q = text(p, name, value),
            "sort_by" => match search_sort(value) {
                Some(s) => sort = Some(s),
                None => p.0.push(format!(
                    "`sort_by` must be relevance, imdb_score, 99popularity or name, each \
                     .asc or .desc (got `{value}`)"
                )),
            },
            "page" => request.page = page_number(p, name, value, MAX_PAGE).unwrap_or(1),
            "per_page" => {
                request.per_page = page_number(p, name, value, MAX_PER_PAGE).unwrap_or(20)
            }
            other => p.0.push(format!(
                "unknown parameter `{other}` (known: q, genre, imdb_score.gte, imdb_score.lte, \
                 99popularity.gte, 99popularity.lte, director, sort_by, page, per_page)"
            )),
        }
    }
    problems.finish()?;
    request.sort = match (sort, &request.q) {
        (Some(SearchSort::Relevance), None) => {
            return Err(ApiError::BadRequest(
                "`sort_by=relevance` needs a query text `q`".into(),
            ))
        }
        (Some(sort), _) => sort,
        (None, Some(_)) => SearchSort::Relevance,
        (None, None) => SearchSort::Popularity { descending: true },
    };
    Ok(request)
}

fn search_sort(raw: &str) -> Option<SearchSort> {
    let (field, direction) = raw.trim().rsplit_once('.').unwrap_or((raw.trim(), ""));
    let descending = match (field, direction) {
        ("relevance", "" | "desc") => return Some(SearchSort::Relevance),
        (_, "asc" | "") => false,
        (_, "desc") => true,
        _ => return None,
    };
    match field {
        "imdb_score" => Some(SearchSort::ImdbScore { descending }),
        "99popularity" => Some(SearchSort::Popularity { descending }),
        "name" => Some(SearchSort::Name { descending }),
        _ => None,
    }
}

/// Autocomplete: `q` (the first letters, required) and `limit` (1 to 20, default 10).
pub fn suggest(pairs: &[(String, String)]) -> Result<(String, usize), ApiError> {
    let mut problems = Problems::default();
    let (mut q, mut limit) = (None, 10);
    for (name, value) in pairs {
        let p = &mut problems;
        match name.as_str() {
            "q" => q = text(p, name, value),
            "limit" => limit = page_number(p, name, value, 20).unwrap_or(10),
            other => {
                p.0.push(format!("unknown parameter `{other}` (known: q, limit)"))
            }
        }
    }
    if q.is_none() && problems.0.is_empty() {
        problems
            .0
            .push("`q` is required: the first letters of a name".into());
    }
    problems.finish()?;
    Ok((q.unwrap_or_default(), limit as usize))
}

fn text(problems: &mut Problems, name: &str, raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 200 {
        problems
            .0
            .push(format!("`{name}` must be 1 to 200 characters"));
        None
    } else {
        Some(trimmed.to_owned())
    }
}

fn genre_filter(problems: &mut Problems, raw: &str) -> Option<GenreFilter> {
    let (any, separator) = match (raw.contains(','), raw.contains('|')) {
        (true, true) => {
            problems
                .0
                .push("`genre` takes `,` (all of) or `|` (any of), not both".to_owned());
            return None;
        }
        (false, true) => (true, '|'),
        _ => (false, ','),
    };
    let genres: Vec<String> = raw.split(separator).map(|g| g.trim().to_owned()).collect();
    if genres
        .iter()
        .any(|g| g.is_empty() || g.chars().count() > 40)
        || genres.len() > 10
    {
        problems
            .0
            .push("`genre` takes 1 to 10 genres of 1 to 40 characters".to_owned());
        return None;
    }
    Some(if any {
        GenreFilter::Any(genres)
    } else {
        GenreFilter::All(genres)
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn q(raw: &str) -> Result<MovieQuery, ApiError> {
        movie_query(&pairs(Some(raw))?)
    }

    #[test]
    fn comma_means_all_and_pipe_means_any() {
        assert_eq!(
            q("genre=Drama,War").ok().and_then(|q| q.filter.genres),
            Some(GenreFilter::All(vec!["Drama".into(), "War".into()]))
        );
        assert_eq!(
            q("genre=Drama%7CWar").ok().and_then(|q| q.filter.genres),
            Some(GenreFilter::Any(vec!["Drama".into(), "War".into()]))
        );
        assert!(q("genre=Drama,War|Crime").is_err());
    }

    #[test]
    fn per_page_is_capped_and_bad_numbers_are_refused() {
        assert_eq!(
            q("per_page=1000").map(|q| q.per_page).ok(),
            Some(MAX_PER_PAGE)
        );
        for bad in [
            "page=0",
            "page=-1",
            "imdb_score.gte=abc",
            "imdb_score.gte=NaN",
            "imdb_score.lte=11",
            "99popularity.gte=inf",
            "sort_by=price.asc",
            "sort_by=name.up",
            "colour=red",
            "name=",
        ] {
            assert!(q(bad).is_err(), "{bad} was accepted");
        }
    }

    fn search(raw: &str) -> Result<SearchRequest, ApiError> {
        search_request(&pairs(Some(raw))?)
    }

    #[test]
    fn search_sorts_by_relevance_only_with_a_query_text() {
        assert_eq!(
            search("q=psycho").map(|r| r.sort).ok(),
            Some(SearchSort::Relevance)
        );
        assert_eq!(
            search("").map(|r| r.sort).ok(),
            Some(SearchSort::Popularity { descending: true })
        );
        assert_eq!(
            search("q=x&sort_by=name.desc").map(|r| r.sort).ok(),
            Some(SearchSort::Name { descending: true })
        );
        for bad in [
            "sort_by=relevance",
            "q=x&sort_by=relevance.asc",
            "q=x&sort_by=created_at.asc",
            "q=",
            "name=psycho",
            "q=x&per_page=0",
        ] {
            assert!(search(bad).is_err(), "{bad} was accepted");
        }
        assert!(suggest(&pairs(Some("")).unwrap_or_default()).is_err());
        assert!(suggest(&pairs(Some("q=go&limit=21")).unwrap_or_default()).is_ok());
        assert!(suggest(&pairs(Some("q=go&limit=0")).unwrap_or_default()).is_err());
    }

    #[test]
    fn sort_defaults_to_ascending() {
        let sort = q("sort_by=99popularity").map(|q| q.sort).ok();
        assert_eq!(
            sort,
            Some(Sort {
                field: SortField::Popularity,
                descending: false
            })
        );
    }
}
