//! The search's parameters: text, facets, the total's bound, sort, and autocomplete.

use super::{parse, MovieParams, Problems, SuggestParams};
use moviedb_search::{SearchRequest, SearchSort, MAX_RESULT_WINDOW, TOTAL_UP_TO};
use moviedb_service_kit::ApiError;

/// Most suggestions asked for at once.
const MAX_SUGGESTIONS: u32 = 20;

/// The facets a search asked for (`facets=genre,imdb_score`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facets {
    /// Counts per genre.
    pub genre: bool,
    /// The IMDb score histogram.
    pub imdb_score: bool,
}

impl Facets {
    fn parse(raw: Option<&str>, p: &mut Problems) -> Self {
        let mut facets = Self::default();
        for name in raw.into_iter().flat_map(|r| r.split(',')).map(str::trim) {
            match name {
                "genre" => facets.genre = true,
                "imdb_score" => facets.imdb_score = true,
                other => p.0.push(format!(
                    "`facets` lists genre and imdb_score, comma-separated (got `{other}`)"
                )),
            }
        }
        facets
    }

    /// Whether any is asked for.
    pub fn any(self) -> bool {
        self.genre || self.imdb_score
    }
}

/// A search: `q`, the list's filters, `sort_by` (`relevance`, `imdb_score`, `99popularity`,
/// `name`, each `.asc` or `.desc`; relevance when `q` is given, else most popular first), and
/// paging.
pub fn search_request(raw: Option<&str>) -> Result<(SearchRequest, Facets), ApiError> {
    let params: MovieParams = parse(raw)?;
    let mut p = Problems::default();
    let (page, per_page) = p.paging(&params.page, &params.per_page);
    if u64::from(page) * u64::from(per_page) > u64::from(MAX_RESULT_WINDOW) {
        p.0.push(format!(
            "a search pages through its first {MAX_RESULT_WINDOW} hits only: `page` × \
             `per_page` must be at most {MAX_RESULT_WINDOW} (narrow it with `q` or filters, \
             or walk the whole catalogue with /v1/movies)"
        ));
    }
    p.not_here("name", &params.name, "q");
    let facets = Facets::parse(params.facets.get(), &mut p);
    let total_up_to = match params.total.get().map(str::trim) {
        None => Some(TOTAL_UP_TO),
        Some("exact") => None,
        Some(other) => {
            p.0.push(format!(
                "`total` is `exact` (count every hit) or left out (count to {TOTAL_UP_TO}; got \
                 `{other}`)"
            ));
            None
        }
    };
    let mut request = SearchRequest {
        q: p.text("q", params.q.get()),
        filter: p.filter(&params),
        page,
        per_page,
        facets: facets.any(),
        total_up_to,
        ..SearchRequest::default()
    };
    let sort = match params.sort_by.get() {
        None => None,
        Some(value) => {
            let sort = search_sort(value);
            if sort.is_none() {
                p.0.push(format!(
                    "`sort_by` must be relevance, imdb_score, 99popularity or name, each \
                     .asc or .desc (got `{value}`)"
                ));
            }
            sort
        }
    };
    p.finish()?;
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
    Ok((request, facets))
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
pub fn suggest(raw: Option<&str>) -> Result<(String, usize), ApiError> {
    let params: SuggestParams = parse(raw)?;
    let mut p = Problems::default();
    let q = p.text("q", params.q.get());
    let limit = p
        .count("limit", params.limit.get(), MAX_SUGGESTIONS)
        .unwrap_or(10);
    if q.is_none() && p.0.is_empty() {
        p.0.push("`q` is required: the first letters of a name".into());
    }
    p.finish()?;
    Ok((q.unwrap_or_default(), limit as usize))
}
