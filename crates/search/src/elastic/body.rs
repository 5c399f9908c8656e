//! The request bodies the Elasticsearch adapter sends, built without a cluster so that the
//! golden tests in `tests/search/golden` can pin them byte for byte (as JSON values).

use crate::analysis::{completions, prefixes, terms, Term};
use crate::highlight::allowed_typos;
use crate::{words, EventDocument, GenreFilter, IndexOp, MovieDocument, SearchRequest, SearchSort};
use serde_json::{json, Value};
use uuid::Uuid;

/// Terms ([`crate::analysis::terms`]) as one string, for a field split on white space.
fn term_text(terms: &[Term]) -> String {
    terms
        .iter()
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a hit returns: the movie, without the fields only the index reads.
const HIT_SOURCE: [&str; 8] = [
    "id",
    "name",
    "director",
    "genres",
    "imdb_score",
    "popularity",
    "version",
    "poster_path",
];

/// The `_source` of a movie document: what a hit returns, plus the fields filters and sorts
/// need (lower-case keys, lower-case genres), the tombstone flag, and the text as the search
/// analysis splits it ([`crate::analysis`]): its terms, their prefixes (the typo-tolerant
/// prefix match of the query's last word) and the name's completions (autocomplete).
pub fn movie_source(movie: &MovieDocument) -> Value {
    let (name, director) = (terms(&movie.name), terms(&movie.director));
    let words = words(&movie.name);
    json!({
        "id": movie.id,
        "deleted": false,
        "name": movie.name,
        "name_key": movie.name.to_lowercase(),
        "name_words": words.join(" "),
        "name_terms": term_text(&name),
        "name_prefixes": prefixes(&name),
        "name_completions": completions(&words),
        "director": movie.director,
        "director_key": movie.director.trim().to_lowercase(),
        "director_terms": term_text(&director),
        "director_prefixes": prefixes(&director),
        "genres": movie.genres,
        "genre": movie.genres.iter().map(|g| g.trim().to_lowercase()).collect::<Vec<_>>(),
        "imdb_score": movie.imdb_score,
        "popularity": movie.popularity,
        "version": movie.version,
        "poster_path": movie.poster_path,
    })
}

/// The fields the movies template gained after its first release, as a mapping update for an
/// index made before them.
pub fn added_fields() -> Value {
    json!({ "properties": {
        "poster_path": { "type": "keyword", "index": false, "doc_values": false },
    } })
}

/// Bulk lines (action, document, action, ...) for index writes. Every write is an `index`
/// with `version_type=external`: Elasticsearch refuses one at or below the stored version with
/// a 409. A delete writes a tombstone, whose version is kept for good (a real delete's is
/// forgotten after `index.gc_deletes`, and a late add would then bring the movie back).
pub fn index_lines(ops: &[IndexOp]) -> Vec<Value> {
    let mut lines = Vec::with_capacity(ops.len() * 2);
    for op in ops {
        let (id, version, source) = match op {
            IndexOp::Upsert(movie) => (movie.id, movie.version, movie_source(movie)),
            IndexOp::Delete { id, version } => (
                *id,
                *version,
                json!({ "id": id, "deleted": true, "version": version }),
            ),
        };
        lines.push(json!({
            "index": { "_id": id, "version": version, "version_type": "external" }
        }));
        lines.push(source);
    }
    lines
}

/// Bulk lines for the `movie-events` index: `create` with the event id, so a second delivery
/// is a 409 and keeps one copy.
pub fn event_lines(events: &[EventDocument]) -> Vec<Value> {
    let mut lines = Vec::with_capacity(events.len() * 2);
    for event in events {
        lines.push(json!({ "create": { "_id": event.event_id } }));
        lines.push(serde_json::to_value(event).unwrap_or(Value::Null));
    }
    lines
}

const TERM_FIELDS: [&str; 2] = ["name_terms^3", "director_terms"];
const EXACT_FIELDS: [&str; 2] = ["name_terms^6", "director_terms^2"];
const PREFIX_FIELDS: [&str; 2] = ["name_prefixes^3", "director_prefixes"];
/// How many index terms a typo-tolerant word may stand for (Elasticsearch's default is 50,
/// which on a large catalogue drops matches tantivy keeps).
const MAX_EXPANSIONS: u32 = 1000;

/// `fuzziness` as the tantivy adapter counts typos: none up to 4 letters, 1 from 5, 2 from 8.
fn fuzziness(word: &str) -> u8 {
    allowed_typos(word)
}

fn near(word: &str, fields: [&str; 2]) -> Value {
    json!({ "multi_match": {
        "query": word, "fields": fields,
        "fuzziness": fuzziness(word), "fuzzy_transpositions": true,
        "max_expansions": MAX_EXPANSIONS, "prefix_length": 1
    }})
}

/// One word of the query, already analysed: near by the typo rule, exact (counts more), and
/// for the last word also the start of a word, with the same typos (tantivy's fuzzy prefix:
/// some prefix of an indexed term is near the word).
fn word_clause(word: &str, last: bool) -> Value {
    let mut should = vec![
        near(word, TERM_FIELDS),
        json!({ "multi_match": { "query": word, "fields": EXACT_FIELDS } }),
    ];
    if last {
        should.push(near(word, PREFIX_FIELDS));
    }
    json!({ "bool": { "should": should, "minimum_should_match": 1 } })
}

fn range(field: &str, gte: Option<f64>, lte: Option<f64>) -> Option<Value> {
    if gte.is_none() && lte.is_none() {
        return None;
    }
    let mut bounds = serde_json::Map::new();
    if let Some(v) = gte {
        bounds.insert("gte".into(), json!(v));
    }
    if let Some(v) = lte {
        bounds.insert("lte".into(), json!(v));
    }
    Some(json!({ "range": { field: bounds } }))
}

fn filters(request: &SearchRequest) -> Vec<Value> {
    let filter = &request.filter;
    let mut clauses = vec![json!({ "term": { "deleted": false } })];
    let key = |g: &String| g.trim().to_lowercase();
    match &filter.genres {
        Some(GenreFilter::All(genres)) => {
            clauses.extend(
                genres
                    .iter()
                    .map(|g| json!({ "term": { "genre": key(g) } })),
            );
        }
        Some(GenreFilter::Any(genres)) => {
            clauses
                .push(json!({ "terms": { "genre": genres.iter().map(key).collect::<Vec<_>>() } }));
        }
        None => {}
    }
    clauses.extend(range(
        "imdb_score",
        filter.imdb_score_gte,
        filter.imdb_score_lte,
    ));
    clauses.extend(range(
        "popularity",
        filter.popularity_gte,
        filter.popularity_lte,
    ));
    if let Some(director) = &filter.director {
        clauses.push(json!({ "term": { "director_key": director.trim().to_lowercase() } }));
    }
    clauses
}

fn sort(sort: SearchSort) -> Value {
    let way = |descending: bool| if descending { "desc" } else { "asc" };
    let first = match sort {
        SearchSort::Relevance => json!({ "_score": "desc" }),
        SearchSort::ImdbScore { descending } => json!({ "imdb_score": way(descending) }),
        SearchSort::Popularity { descending } => json!({ "popularity": way(descending) }),
        SearchSort::Name { descending } => json!({ "name_key": way(descending) }),
    };
    json!([first, { "id": "asc" }])
}

/// The buckets of the `imdb_score` histogram: `[n, n + 1)`, the last one open so 10 is in it.
fn score_ranges() -> Vec<Value> {
    (0..10)
        .map(|n| {
            if n == 9 {
                json!({ "key": n.to_string(), "from": n })
            } else {
                json!({ "key": n.to_string(), "from": n, "to": n + 1 })
            }
        })
        .collect()
}

/// The body of a search: text query, filters, sort with the id tie-break, page, and (when
/// asked) facets over every hit. Highlights are made from the hits' text by the search analysis, as on
/// tantivy, not by Elasticsearch (which would mark the analysed fields).
pub fn search_body(request: &SearchRequest) -> Value {
    let words = request.q.as_deref().map(words).unwrap_or_default();
    let must: Vec<Value> = words
        .iter()
        .enumerate()
        .map(|(i, w)| word_clause(w, i + 1 == words.len()))
        .collect();
    let per_page = u64::from(request.per_page.max(1));
    let from = u64::from(request.page.max(1) - 1) * per_page;
    let mut body = json!({
        "from": from,
        "size": per_page,
        "_source": HIT_SOURCE,
        "track_total_hits": request.count_bound().map_or(json!(true), |n| json!(n)),
        "query": { "bool": { "must": must, "filter": filters(request) } },
        "sort": sort(request.sort),
    });
    if request.facets {
        body["aggs"] = json!({
            "genres": { "terms": {
                "field": "genre", "size": 200,
                "order": [{ "_count": "desc" }, { "_key": "asc" }]
            }},
            "imdb_score_histogram": { "range": {
                "field": "imdb_score", "keyed": false, "ranges": score_ranges()
            }}
        });
    }
    body
}

/// The body of an autocomplete: names with a run of words that starts with the prefix's
/// words (a prefix of one of their completions, however many names share it); names that
/// start with the whole prefix first, then the most popular. `None` for a blank prefix.
pub fn suggest_body(prefix: &str, limit: usize) -> Option<Value> {
    let words = words(prefix);
    if words.is_empty() {
        return None;
    }
    let prefix = words.join(" ");
    Some(json!({
        "size": limit,
        "_source": ["id", "name"],
        "query": { "bool": {
            "filter": [
                { "term": { "deleted": false } },
                { "prefix": { "name_completions": { "value": prefix } } }
            ],
            "should": [
                { "constant_score": {
                    "filter": { "prefix": { "name_words": { "value": prefix } } },
                    "boost": 1.0
                }}
            ]
        }},
        "sort": [
            { "_score": "desc" }, { "popularity": "desc" }, { "name_key": "asc" }, { "id": "asc" }
        ]
    }))
}

/// The body of an `_mget` for the indexed versions of `ids` (tombstones included).
pub fn mget_body(ids: &[Uuid]) -> Value {
    json!({ "docs": ids.iter().map(|id| json!({ "_id": id, "_source": false })).collect::<Vec<_>>() })
}

/// The body that creates the first movie index with `alias` already on it.
pub fn first_index_body(alias: &str) -> Value {
    json!({ "aliases": { alias: { "is_write_index": true } } })
}

/// Moves `alias` to `index` in one atomic step, as the write index; readers never see a
/// moment without it.
pub fn alias_swap_body(alias: &str, index: &str, pattern: &str) -> Value {
    json!({ "actions": [
        { "remove": { "index": pattern, "alias": alias, "must_exist": false } },
        { "add": { "index": index, "alias": alias, "is_write_index": true } }
    ]})
}
