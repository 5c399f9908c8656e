//! The embedded search adapter: a tantivy index in a directory.

use crate::highlight::{allowed_typos, highlight};
use crate::{
    words, GenreCount, GenreFilter, Hit, IndexOp, IndexReport, MovieDocument, ScoreBucket,
    SearchError, SearchIndex, SearchRequest, SearchResponse, SearchSort, Suggestion,
};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tantivy::collector::{Collector, SegmentCollector, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{
    BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, PhrasePrefixQuery, Query, RangeQuery,
    TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, Value, FAST, INDEXED, STORED, STRING, TEXT,
};
use tantivy::{
    DocAddress, DocId, Index, IndexReader, IndexWriter, ReloadPolicy, Score, SegmentOrdinal,
    SegmentReader, TantivyDocument, Term,
};
use uuid::Uuid;

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    name: Field,
    director: Field,
    name_key: Field,
    director_key: Field,
    genre: Field,
    imdb_score: Field,
    popularity: Field,
    version: Field,
    live: Field,
    source: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED | FAST),
        name: b.add_text_field("name", TEXT),
        director: b.add_text_field("director", TEXT),
        name_key: b.add_text_field("name_key", STRING | FAST),
        director_key: b.add_text_field("director_key", STRING),
        genre: b.add_text_field("genre", STRING | FAST),
        imdb_score: b.add_f64_field("imdb_score", INDEXED | FAST),
        popularity: b.add_f64_field("popularity", INDEXED | FAST),
        version: b.add_u64_field("version", INDEXED | FAST),
        live: b.add_u64_field("live", INDEXED),
        source: b.add_text_field("source", STORED),
    };
    (b.build(), fields)
}

struct Inner {
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    f: Fields,
}

/// A tantivy index on disk.
#[derive(Clone)]
pub struct TantivyIndex {
    inner: Arc<Inner>,
}

fn index_error(e: impl std::fmt::Display) -> SearchError {
    SearchError::Index(e.to_string())
}

impl TantivyIndex {
    /// Opens the index in `dir`, creating it if missing.
    pub fn open(dir: &Path) -> Result<Self, SearchError> {
        std::fs::create_dir_all(dir).map_err(index_error)?;
        let (schema, f) = schema();
        let directory = MmapDirectory::open(dir).map_err(index_error)?;
        let index = Index::open_or_create(directory, schema).map_err(index_error)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(index_error)?;
        let writer = index.writer(50_000_000).map_err(index_error)?;
        Ok(Self {
            inner: Arc::new(Inner {
                reader,
                writer: Mutex::new(writer),
                f,
            }),
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, SearchError> + Send + 'static,
    ) -> Result<T, SearchError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(index_error)?
    }
}

impl Inner {
    fn term(&self, field: Field, text: &str) -> Term {
        Term::from_field_text(field, text)
    }

    fn indexed_version(&self, id: Uuid) -> Result<Option<u64>, SearchError> {
        let searcher = self.reader.searcher();
        let query = TermQuery::new(
            self.term(self.f.id, &id.to_string()),
            IndexRecordOption::Basic,
        );
        let top = searcher
            .search(&query, &TopDocs::with_limit(1))
            .map_err(index_error)?;
        let Some((_, address)) = top.first() else {
            return Ok(None);
        };
        let versions = searcher
            .segment_reader(address.segment_ord)
            .fast_fields()
            .u64("version")
            .map_err(index_error)?;
        Ok(versions.first(address.doc_id))
    }

    fn document(&self, op: &IndexOp) -> TantivyDocument {
        let f = self.f;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, op.id().to_string());
        doc.add_u64(f.version, op.version());
        match op {
            IndexOp::Upsert(movie) => {
                doc.add_u64(f.live, 1);
                doc.add_text(f.name, &movie.name);
                doc.add_text(f.director, &movie.director);
                doc.add_text(f.name_key, movie.name.to_lowercase());
                doc.add_text(f.director_key, movie.director.trim().to_lowercase());
                for genre in &movie.genres {
                    doc.add_text(f.genre, genre.trim().to_lowercase());
                }
                doc.add_f64(f.imdb_score, movie.imdb_score);
                doc.add_f64(f.popularity, movie.popularity);
                doc.add_text(f.source, serde_json::to_string(movie).unwrap_or_default());
            }
            // A tombstone: found by id, never by a search.
            IndexOp::Delete { .. } => doc.add_u64(f.live, 0),
        }
        doc
    }

    fn apply(&self, ops: &[IndexOp]) -> Result<IndexReport, SearchError> {
        let mut writer = self
            .writer
            .lock()
            .map_err(|_| SearchError::Index("index writer poisoned".into()))?;
        let mut report = IndexReport::default();
        let mut written: HashMap<Uuid, u64> = HashMap::new();
        for op in ops {
            let current = match written.get(&op.id()) {
                Some(v) => Some(*v),
                None => self.indexed_version(op.id())?,
            };
            if current.is_some_and(|v| op.version() <= v) {
                report.stale += 1;
                continue;
            }
            writer.delete_term(self.term(self.f.id, &op.id().to_string()));
            writer
                .add_document(self.document(op))
                .map_err(index_error)?;
            written.insert(op.id(), op.version());
            report.applied += 1;
        }
        if report.applied > 0 {
            writer.commit().map_err(index_error)?;
            self.reader.reload().map_err(index_error)?;
        }
        Ok(report)
    }

    fn text_query(&self, q: &str) -> Option<Box<dyn Query>> {
        let words = words(q);
        let last = words.len().checked_sub(1)?;
        let clauses = words
            .iter()
            .enumerate()
            .map(|(i, word)| {
                let typos = allowed_typos(word);
                let mut either: Vec<(Occur, Box<dyn Query>)> = Vec::new();
                for (field, boost) in [(self.f.name, 3.0), (self.f.director, 1.0)] {
                    let term = self.term(field, word);
                    let fuzzy = if i == last {
                        FuzzyTermQuery::new_prefix(term.clone(), typos, true)
                    } else {
                        FuzzyTermQuery::new(term.clone(), typos, true)
                    };
                    either.push((
                        Occur::Should,
                        Box::new(BoostQuery::new(Box::new(fuzzy), boost)),
                    ));
                    // An exact word counts more than a near one.
                    let exact = TermQuery::new(term, IndexRecordOption::WithFreqs);
                    either.push((
                        Occur::Should,
                        Box::new(BoostQuery::new(Box::new(exact), boost * 2.0)),
                    ));
                }
                (
                    Occur::Must,
                    Box::new(BooleanQuery::new(either)) as Box<dyn Query>,
                )
            })
            .collect();
        Some(Box::new(BooleanQuery::new(clauses)))
    }

    fn range(field: Field, gte: Option<f64>, lte: Option<f64>) -> Option<Box<dyn Query>> {
        if gte.is_none() && lte.is_none() {
            return None;
        }
        let bound = |v: Option<f64>| match v {
            Some(v) => Bound::Included(Term::from_field_f64(field, v)),
            None => Bound::Unbounded,
        };
        Some(Box::new(RangeQuery::new(bound(gte), bound(lte))))
    }

    fn query(&self, request: &SearchRequest) -> BooleanQuery {
        let f = self.f;
        let filter = &request.filter;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(
            Occur::Must,
            Box::new(TermQuery::new(
                Term::from_field_u64(f.live, 1),
                IndexRecordOption::Basic,
            )),
        )];
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
        clauses.extend(
            [
                Self::range(f.imdb_score, filter.imdb_score_gte, filter.imdb_score_lte),
                Self::range(f.popularity, filter.popularity_gte, filter.popularity_lte),
            ]
            .into_iter()
            .flatten()
            .map(|q| (Occur::Must, q)),
        );
        if let Some(director) = &filter.director {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    self.term(f.director_key, &director.trim().to_lowercase()),
                    IndexRecordOption::Basic,
                )),
            ));
        }
        BooleanQuery::new(clauses)
    }

    fn source(&self, address: DocAddress) -> Result<MovieDocument, SearchError> {
        let doc: TantivyDocument = self.reader.searcher().doc(address).map_err(index_error)?;
        let json = doc
            .get_first(self.f.source)
            .and_then(|v| v.as_str())
            .ok_or_else(|| SearchError::Index("a live document without its source".into()))?;
        serde_json::from_str(json).map_err(index_error)
    }

    fn search(&self, request: &SearchRequest) -> Result<SearchResponse, SearchError> {
        let searcher = self.reader.searcher();
        let mut matches = searcher
            .search(&self.query(request), &AllMatches)
            .map_err(index_error)?;
        let by_id = |a: &Match, b: &Match| a.id.cmp(&b.id);
        match request.sort {
            SearchSort::Relevance => {
                matches.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| by_id(a, b)))
            }
            SearchSort::ImdbScore { descending } => matches.sort_by(|a, b| {
                let o = a.imdb_score.total_cmp(&b.imdb_score);
                (if descending { o.reverse() } else { o }).then_with(|| by_id(a, b))
            }),
            SearchSort::Popularity { descending } => matches.sort_by(|a, b| {
                let o = a.popularity.total_cmp(&b.popularity);
                (if descending { o.reverse() } else { o }).then_with(|| by_id(a, b))
            }),
            SearchSort::Name { descending } => matches.sort_by(|a, b| {
                let o = a.name_key.cmp(&b.name_key);
                (if descending { o.reverse() } else { o }).then_with(|| by_id(a, b))
            }),
        }
        let mut genres: BTreeMap<&str, u64> = BTreeMap::new();
        let mut buckets = [0u64; 10];
        for m in &matches {
            for g in &m.genres {
                *genres.entry(g.as_str()).or_default() += 1;
            }
            let bucket = m.imdb_score.floor().clamp(0.0, 9.0) as usize;
            buckets[bucket] += 1;
        }
        let mut genres: Vec<GenreCount> = genres
            .into_iter()
            .map(|(genre, count)| GenreCount {
                genre: genre.to_owned(),
                count,
            })
            .collect();
        genres.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.genre.cmp(&b.genre)));
        let per_page = request.per_page.max(1) as usize;
        let skip = (request.page.max(1) as usize - 1).saturating_mul(per_page);
        let query_words = request.q.as_deref().map(words).unwrap_or_default();
        let hits = matches
            .iter()
            .skip(skip)
            .take(per_page)
            .map(|m| {
                let movie = self.source(m.address)?;
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
            total: matches.len() as u64,
            genres,
            imdb_score_histogram: buckets
                .iter()
                .enumerate()
                .map(|(from, count)| ScoreBucket {
                    from: from as f64,
                    count: *count,
                })
                .collect(),
        })
    }

    fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError> {
        let words = words(prefix);
        let text: Box<dyn Query> = match words.as_slice() {
            [] => return Ok(Vec::new()),
            [one] => Box::new(FuzzyTermQuery::new_prefix(
                self.term(self.f.name, one),
                0,
                true,
            )),
            many => Box::new(PhrasePrefixQuery::new(
                many.iter().map(|w| self.term(self.f.name, w)).collect(),
            )),
        };
        let live: Box<dyn Query> = Box::new(TermQuery::new(
            Term::from_field_u64(self.f.live, 1),
            IndexRecordOption::Basic,
        ));
        let query = BooleanQuery::new(vec![(Occur::Must, live), (Occur::Must, text)]);
        let mut matches = self
            .reader
            .searcher()
            .search(&query, &AllMatches)
            .map_err(index_error)?;
        // Names that start with the prefix first, then by popularity.
        let wanted = words.join(" ");
        matches.sort_by(|a, b| {
            let starts = |m: &Match| !crate::words(&m.name_key).join(" ").starts_with(&wanted);
            starts(a)
                .cmp(&starts(b))
                .then_with(|| b.popularity.total_cmp(&a.popularity))
                .then_with(|| a.name_key.cmp(&b.name_key))
                .then_with(|| a.id.cmp(&b.id))
        });
        matches
            .iter()
            .take(limit)
            .map(|m| {
                let movie = self.source(m.address)?;
                Ok(Suggestion {
                    id: movie.id,
                    name: movie.name,
                })
            })
            .collect()
    }
}

#[async_trait]
impl SearchIndex for TantivyIndex {
    async fn apply(&self, ops: Vec<IndexOp>) -> Result<IndexReport, SearchError> {
        self.blocking(move |inner| inner.apply(&ops)).await
    }

    async fn search(&self, request: &SearchRequest) -> Result<SearchResponse, SearchError> {
        let request = request.clone();
        self.blocking(move |inner| inner.search(&request)).await
    }

    async fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError> {
        let prefix = prefix.to_owned();
        self.blocking(move |inner| inner.suggest(&prefix, limit))
            .await
    }

    async fn version(&self, id: Uuid) -> Result<Option<u64>, SearchError> {
        self.blocking(move |inner| inner.indexed_version(id)).await
    }
}

/// What a search needs of each hit to sort, page and count facets, read from fast fields.
struct Match {
    address: DocAddress,
    score: Score,
    id: String,
    name_key: String,
    genres: Vec<String>,
    imdb_score: f64,
    popularity: f64,
}

/// Collects every hit (a catalogue of this size sorts and counts in memory in well under a
/// millisecond per thousand hits; see the search benchmark).
struct AllMatches;

struct SegmentMatches {
    segment: SegmentOrdinal,
    id: Option<tantivy::columnar::StrColumn>,
    name_key: Option<tantivy::columnar::StrColumn>,
    genre: Option<tantivy::columnar::StrColumn>,
    imdb_score: tantivy::columnar::Column<f64>,
    popularity: tantivy::columnar::Column<f64>,
    matches: Vec<Match>,
}

impl Collector for AllMatches {
    type Fruit = Vec<Match>;
    type Child = SegmentMatches;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentMatches> {
        let ff = reader.fast_fields();
        Ok(SegmentMatches {
            segment,
            id: ff.str("id")?,
            name_key: ff.str("name_key")?,
            genre: ff.str("genre")?,
            imdb_score: ff.f64("imdb_score")?,
            popularity: ff.f64("popularity")?,
            matches: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Vec<Match>>) -> tantivy::Result<Vec<Match>> {
        Ok(fruits.into_iter().flatten().collect())
    }
}

fn strings(column: Option<&tantivy::columnar::StrColumn>, doc: DocId) -> Vec<String> {
    let Some(column) = column else {
        return Vec::new();
    };
    column
        .term_ords(doc)
        .filter_map(|ord| {
            let mut text = String::new();
            column
                .ord_to_str(ord, &mut text)
                .ok()
                .filter(|found| *found)?;
            Some(text)
        })
        .collect()
}

impl SegmentCollector for SegmentMatches {
    type Fruit = Vec<Match>;

    fn collect(&mut self, doc: DocId, score: Score) {
        self.matches.push(Match {
            address: DocAddress::new(self.segment, doc),
            score,
            id: strings(self.id.as_ref(), doc).pop().unwrap_or_default(),
            name_key: strings(self.name_key.as_ref(), doc)
                .pop()
                .unwrap_or_default(),
            genres: strings(self.genre.as_ref(), doc),
            imdb_score: self.imdb_score.first(doc).unwrap_or(0.0),
            popularity: self.popularity.first(doc).unwrap_or(0.0),
        });
    }

    fn harvest(self) -> Vec<Match> {
        self.matches
    }
}
