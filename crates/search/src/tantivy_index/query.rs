//! Reads: the query a search request makes, search with facets and highlights, suggestions.

use super::collect::{ranked_order, Bounds, Ranked, TopMatches};
use super::suggest::TopSuggestions;
use super::word::Word;
use super::{index_error, Inner};
use crate::highlight::{allowed_typos, highlight};
use crate::{
    words, GenreCount, GenreFilter, Hit, MovieDocument, ScoreBucket, SearchError, SearchRequest,
    SearchResponse, Suggestion,
};
use tantivy::query::{BooleanQuery, FuzzyTermQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{DocAddress, TantivyDocument, Term};

impl Inner {
    pub(super) fn text_query(&self, q: &str) -> Option<Box<dyn Query>> {
        let words = words(q);
        let last = words.len().checked_sub(1)?;
        let clauses = words
            .iter()
            .enumerate()
            .map(|(i, word)| {
                // Near the word counts its field's weight (3 for the name, 1 for the
                // director); the word itself, exactly, twice as much again (BM25).
                let word = Word {
                    word: word.clone(),
                    typos: allowed_typos(word),
                    prefix: i == last,
                    fields: vec![(self.f.name, 3.0, 6.0), (self.f.director, 1.0, 2.0)],
                };
                (Occur::Must, Box::new(word) as Box<dyn Query>)
            })
            .collect();
        Some(Box::new(BooleanQuery::new(clauses)))
    }

    pub(super) fn query(&self, request: &SearchRequest) -> BooleanQuery {
        let f = self.f;
        let filter = &request.filter;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if let Some(text) = request.q.as_deref().and_then(|q| self.text_query(q)) {
            clauses.push((Occur::Must, text));
        }
        let genre_term = |g: &String| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                self.term(f.genre, &g.trim().to_lowercase()),
                IndexRecordOption::Basic,
            ))
        };
        match &filter.genres {
            Some(GenreFilter::All(genres)) => {
                clauses.extend(genres.iter().map(|g| (Occur::Must, genre_term(g))));
            }
            Some(GenreFilter::Any(genres)) => clauses.push((
                Occur::Must,
                Box::new(BooleanQuery::new(
                    genres
                        .iter()
                        .map(|g| (Occur::Should, genre_term(g)))
                        .collect(),
                )),
            )),
            None => {}
        }
        // The score and popularity ranges are checked by the collector on the hits
        // (`Bounds`): a range query over a fast field scans the whole column, so its cost grew
        // with the catalogue, not with the hits.
        if let Some(director) = &filter.director {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    self.term(f.director_key, &director.trim().to_lowercase()),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        // A tombstone has no text, genre or director, so any of those clauses already leaves
        // it out; only a search without them needs the live documents' list. Intersecting
        // with that list (every movie) cost a seek per hit, which grew with the catalogue.
        if clauses.is_empty() {
            clauses.push((Occur::Must, self.live()));
        }
        BooleanQuery::new(clauses)
    }

    /// Every live document (not a tombstone).
    fn live(&self) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_u64(self.f.live, 1),
            IndexRecordOption::Basic,
        ))
    }

    /// The stored movie at `address`, read through the `searcher` that found it: a searcher
    /// taken later may follow a reload, and its segment ordinals mean other segments.
    pub(super) fn source(
        &self,
        searcher: &tantivy::Searcher,
        address: DocAddress,
    ) -> Result<MovieDocument, SearchError> {
        let doc: TantivyDocument = searcher.doc(address).map_err(index_error)?;
        let json = doc
            .get_first(self.f.source)
            .and_then(|v| v.as_str())
            .ok_or_else(|| SearchError::Index("a live document without its source".into()))?;
        serde_json::from_str(json).map_err(index_error)
    }

    pub(super) fn search(&self, request: &SearchRequest) -> Result<SearchResponse, SearchError> {
        let searcher = self.reader.searcher();
        let per_page = request.per_page.max(1) as usize;
        let skip = (request.page.max(1) as usize - 1).saturating_mul(per_page);
        let keep = skip.saturating_add(per_page);
        let query = self.query(request);
        let bound = request.count_bound();
        let sorted = match bound {
            Some(bound) => self.search_sorted(&searcher, request, &query, keep, bound)?,
            None => None,
        };
        let Ranked {
            mut list,
            total,
            genres,
            histogram,
        } = match sorted {
            Some(ranked) => ranked,
            None => searcher
                .search(
                    &query,
                    &TopMatches {
                        keep,
                        sort: request.sort,
                        bounds: Bounds::of(request),
                        facets: request.facets,
                        scoring: request.q.is_some(),
                    },
                )
                .map_err(index_error)?,
        };
        // More hits than the bound: the answer says "at least the bound", as Elasticsearch's.
        let (total, total_exact) = match bound {
            Some(bound) if total > bound => (bound, false),
            _ => (total, true),
        };
        list.sort_by(|a, b| ranked_order(request.sort, a, b));
        let mut genres: Vec<GenreCount> = genres
            .into_iter()
            .map(|(genre, count)| GenreCount { genre, count })
            .collect();
        genres.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.genre.cmp(&b.genre)));
        let query_words = request.q.as_deref().map(words).unwrap_or_default();
        let hits = list
            .iter()
            .skip(skip)
            .take(per_page)
            .map(|m| {
                let movie = self.source(&searcher, m.address)?;
                Ok(Hit {
                    name_highlight: highlight(&movie.name, &query_words),
                    director_highlight: highlight(&movie.director, &query_words),
                    score: if query_words.is_empty() { 0.0 } else { m.score },
                    movie,
                })
            })
            .collect::<Result<Vec<_>, SearchError>>()?;
        Ok(SearchResponse {
            hits,
            total,
            total_exact,
            genres,
            imdb_score_histogram: histogram
                .iter()
                .take(if request.facets { histogram.len() } else { 0 })
                .enumerate()
                .map(|(from, count)| ScoreBucket {
                    from: from as f64,
                    count: *count,
                })
                .collect(),
        })
    }

    pub(super) fn suggest(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<Suggestion>, SearchError> {
        let words = words(prefix);
        if words.is_empty() {
            return Ok(Vec::new());
        }
        // A prefix of one of the name's completions: no cap on the names a word starts
        // (a phrase prefix query expands the last word to its first 50 terms only).
        let text: Box<dyn Query> = Box::new(FuzzyTermQuery::new_prefix(
            self.term(self.f.name_completions, &words.join(" ")),
            0,
            true,
        ));
        // Names are only on live documents: the text alone leaves tombstones out.
        let searcher = self.reader.searcher();
        let matches = searcher
            .search(
                &text,
                &TopSuggestions {
                    keep: limit,
                    prefix: words.join(" "),
                },
            )
            .map_err(index_error)?;
        matches
            .iter()
            .map(|m| {
                let movie = self.source(&searcher, m.address)?;
                Ok(Suggestion {
                    id: movie.id,
                    name: movie.name,
                })
            })
            .collect()
    }
}
