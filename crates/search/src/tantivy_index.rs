//! The embedded search adapter: a tantivy index in a directory.

use crate::highlight::{allowed_typos, highlight};
use crate::tantivy_dir::UnsyncedDirectory;
use crate::{
    words, EventDocument, GenreCount, GenreFilter, Hit, IndexOp, IndexReport, MovieDocument,
    ScoreBucket, SearchError, SearchIndex, SearchRequest, SearchResponse, SearchSort, Suggestion,
};
use async_trait::async_trait;
use std::collections::HashMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tantivy::collector::{Collector, SegmentCollector, TopDocs};
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
    id_hi: Field,
    id_lo: Field,
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
        id: b.add_text_field("id", STRING | STORED),
        id_hi: b.add_u64_field("id_hi", FAST),
        id_lo: b.add_u64_field("id_lo", FAST),
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

/// One generation of the index: a directory of its own. A rebuild writes a new generation
/// and swaps it in by rewriting the `CURRENT` file beside it.
struct Inner {
    name: String,
    index: Index,
    reader: IndexReader,
    /// Kept between batches (opening one allocates its arena and starts its threads), and
    /// let go after [`WRITER_IDLE`] without a batch, so that another process (`moviedb
    /// rebuild`, beside a serving `moviedb`) can write; a rebuild's shadow keeps it throughout.
    writer: Mutex<WriterSlot>,
    f: Fields,
}

/// A tantivy index on disk: generations under a root directory, the live one named in
/// `CURRENT`.
#[derive(Clone)]
pub struct TantivyIndex {
    root: Arc<PathBuf>,
    /// The generation read and written now.
    live: Arc<RwLock<Arc<Inner>>>,
    /// A pinned handle (a rebuild's shadow) never follows `CURRENT`.
    pinned: bool,
    /// The generation being rebuilt, swapped in by `finish_rebuild`.
    rebuilding: Arc<Mutex<Option<Arc<Inner>>>>,
}

#[derive(Default)]
struct WriterSlot {
    writer: Option<IndexWriter>,
    used: Option<Instant>,
}

/// How long a serving process keeps the index writer without a batch to write.
const WRITER_IDLE: Duration = Duration::from_millis(250);

fn index_error(e: impl std::fmt::Display) -> SearchError {
    SearchError::Index(e.to_string())
}

const CURRENT: &str = "CURRENT";
/// How long a batch waits for the writer lock another process holds.
const LOCK_WAIT: Duration = Duration::from_secs(10);

fn read_current(root: &Path) -> Result<Option<String>, SearchError> {
    match std::fs::read_to_string(root.join(CURRENT)) {
        Ok(name) => Ok(Some(name.trim().to_owned()).filter(|n| !n.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(index_error(e)),
    }
}

/// Points `CURRENT` at `name` atomically (write beside, then rename).
fn write_current(root: &Path, name: &str) -> Result<(), SearchError> {
    let temp = root.join(format!("{CURRENT}.{name}.tmp"));
    std::fs::write(&temp, name).map_err(index_error)?;
    std::fs::rename(&temp, root.join(CURRENT)).map_err(index_error)
}

fn new_generation_name() -> String {
    format!("gen-{}", Uuid::now_v7().simple())
}

impl Inner {
    fn open(root: &Path, name: &str) -> Result<Self, SearchError> {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).map_err(index_error)?;
        let (schema, f) = schema();
        let directory = UnsyncedDirectory::open(&dir).map_err(index_error)?;
        let index = Index::open_or_create(directory, schema).map_err(index_error)?;
        // Commits of this process reload at once (see `apply`); another process's within
        // half a second, or at once through `refresh`.
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()
            .map_err(index_error)?;
        Ok(Self {
            name: name.to_owned(),
            index,
            reader,
            writer: Mutex::new(WriterSlot::default()),
            f,
        })
    }

    /// A generation that serves: its writer is let go by a watcher thread once idle.
    fn open_live(root: &Path, name: &str) -> Result<Arc<Self>, SearchError> {
        let inner = Arc::new(Self::open(root, name)?);
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("index-writer-idle".into())
            .spawn(move || loop {
                std::thread::sleep(WRITER_IDLE / 2);
                let Some(inner) = weak.upgrade() else { return };
                inner.release_if_idle();
            })
            .map_err(index_error)?;
        Ok(inner)
    }

    /// Lets the writer go if no batch used it for [`WRITER_IDLE`].
    fn release_if_idle(&self) {
        let Ok(mut slot) = self.writer.lock() else {
            return;
        };
        if slot.writer.is_some() && slot.used.is_some_and(|t| t.elapsed() >= WRITER_IDLE) {
            if let Some(writer) = slot.writer.take() {
                if let Err(e) = writer.wait_merging_threads() {
                    tracing::warn!(error = %e, "search index merge failed");
                }
            }
        }
    }

    /// Runs `work` with the writer, opening it if needed; waits while another process holds
    /// the lock.
    fn with_writer<T>(
        &self,
        work: impl FnOnce(&mut IndexWriter) -> Result<T, SearchError>,
    ) -> Result<T, SearchError> {
        let mut slot = self
            .writer
            .lock()
            .map_err(|_| SearchError::Index("index writer poisoned".into()))?;
        if slot.writer.is_none() {
            let deadline = Instant::now() + LOCK_WAIT;
            loop {
                match self.index.writer_with_num_threads(1, 20_000_000) {
                    Ok(writer) => break slot.writer = Some(writer),
                    Err(tantivy::TantivyError::LockFailure(..)) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(tantivy::TantivyError::LockFailure(e, _)) => {
                        return Err(SearchError::Unavailable(format!(
                            "another process holds the index writer: {e}"
                        )))
                    }
                    Err(e) => return Err(index_error(e)),
                }
            }
        }
        let writer = slot
            .writer
            .as_mut()
            .ok_or_else(|| index_error("no writer"))?;
        let result = work(writer);
        slot.used = Some(Instant::now());
        if result.is_err() {
            // What the failed batch added is not committed; a fresh writer starts clean.
            if let Some(writer) = slot.writer.take() {
                writer.wait_merging_threads().map_err(index_error)?;
            }
        }
        result
    }

    fn release_writer(&self) -> Result<(), SearchError> {
        let mut slot = self
            .writer
            .lock()
            .map_err(|_| SearchError::Index("index writer poisoned".into()))?;
        if let Some(mut writer) = slot.writer.take() {
            writer.commit().map_err(index_error)?;
            writer.wait_merging_threads().map_err(index_error)?;
        }
        Ok(())
    }
}

impl TantivyIndex {
    /// Opens the index under `root` (the generation `CURRENT` names), creating it if missing.
    pub fn open(root: &Path) -> Result<Self, SearchError> {
        std::fs::create_dir_all(root).map_err(index_error)?;
        let name = match read_current(root)? {
            Some(name) => name,
            None => {
                let name = new_generation_name();
                Inner::open(root, &name)?;
                write_current(root, &name)?;
                name
            }
        };
        let inner = match Inner::open_live(root, &name) {
            Ok(inner) => inner,
            Err(e) => {
                // Unsynced writes lost to a power cut (see `tantivy_dir`): start empty; the
                // projector fills the new generation from the read models.
                tracing::warn!(index.generation = %name, error = %e,
                    "search index unreadable; starting a fresh generation");
                let fresh = new_generation_name();
                let inner = Inner::open_live(root, &fresh)?;
                write_current(root, &fresh)?;
                inner
            }
        };
        Ok(Self {
            root: Arc::new(root.to_owned()),
            live: Arc::new(RwLock::new(inner)),
            pinned: false,
            rebuilding: Arc::new(Mutex::new(None)),
        })
    }

    /// The live generation, switching to a new one another process swapped in.
    fn generation(&self) -> Result<Arc<Inner>, SearchError> {
        let held = self
            .live
            .read()
            .map_err(|_| index_error("index handle poisoned"))?
            .clone();
        if self.pinned {
            return Ok(held);
        }
        match read_current(&self.root)? {
            Some(name) if name != held.name => {
                let fresh = Inner::open_live(&self.root, &name)?;
                tracing::info!(index.generation = %name, "search index generation swapped in");
                *self
                    .live
                    .write()
                    .map_err(|_| index_error("index handle poisoned"))? = fresh.clone();
                Ok(fresh)
            }
            _ => Ok(held),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, SearchError> + Send + 'static,
    ) -> Result<T, SearchError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let inner = this.generation()?;
            work(&inner)
        })
        .await
        .map_err(index_error)?
    }

    fn begin_rebuild_blocking(&self) -> Result<TantivyIndex, SearchError> {
        let name = new_generation_name();
        let inner = Arc::new(Inner::open(&self.root, &name)?);
        *self
            .rebuilding
            .lock()
            .map_err(|_| index_error("index handle poisoned"))? = Some(inner.clone());
        Ok(TantivyIndex {
            root: self.root.clone(),
            live: Arc::new(RwLock::new(inner)),
            pinned: true,
            rebuilding: Arc::new(Mutex::new(None)),
        })
    }

    fn finish_rebuild_blocking(&self) -> Result<(), SearchError> {
        let shadow = self
            .rebuilding
            .lock()
            .map_err(|_| index_error("index handle poisoned"))?
            .take()
            .ok_or_else(|| index_error("finish_rebuild without begin_rebuild"))?;
        shadow.release_writer()?;
        write_current(&self.root, &shadow.name)?;
        self.generation()?;
        // Old generations go. A reader in another process keeps the files it has mapped until
        // it notices the swap (at its next search); a writer there fails its batch, which the
        // projector retries on the new generation.
        for entry in std::fs::read_dir(&*self.root).map_err(index_error)? {
            let entry = entry.map_err(index_error)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("gen-") && name != shadow.name {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        Ok(())
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
        let (hi, lo) = op.id().as_u64_pair();
        doc.add_u64(f.id_hi, hi);
        doc.add_u64(f.id_lo, lo);
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
        self.with_writer(|writer| self.write(writer, ops))
    }

    fn write(&self, writer: &mut IndexWriter, ops: &[IndexOp]) -> Result<IndexReport, SearchError> {
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

    /// The stored movie at `address`, read through the `searcher` that found it: a searcher
    /// taken later may follow a reload, and its segment ordinals mean other segments.
    fn source(
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

    fn search(&self, request: &SearchRequest) -> Result<SearchResponse, SearchError> {
        let searcher = self.reader.searcher();
        let names = matches!(request.sort, SearchSort::Name { .. });
        let Matches {
            list: mut matches,
            genres,
        } = searcher
            .search(&self.query(request), &AllMatches { names })
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
        let mut buckets = [0u64; 10];
        for m in &matches {
            let bucket = m.imdb_score.floor().clamp(0.0, 9.0) as usize;
            buckets[bucket] += 1;
        }
        let mut genres: Vec<GenreCount> = genres
            .into_iter()
            .map(|(genre, count)| GenreCount { genre, count })
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
        let searcher = self.reader.searcher();
        let mut matches = searcher
            .search(&query, &AllMatches { names: true })
            .map_err(index_error)?
            .list;
        // Names that start with the prefix first, then by popularity.
        let wanted = words.join(" ");
        let mut ranked: Vec<(bool, Match)> = matches
            .drain(..)
            .map(|m| (!crate::words(&m.name_key).join(" ").starts_with(&wanted), m))
            .collect();
        ranked.sort_by(|(a_later, a), (b_later, b)| {
            a_later
                .cmp(b_later)
                .then_with(|| b.popularity.total_cmp(&a.popularity))
                .then_with(|| a.name_key.cmp(&b.name_key))
                .then_with(|| a.id.cmp(&b.id))
        });
        let matches: Vec<Match> = ranked.into_iter().map(|(_, m)| m).collect();
        matches
            .iter()
            .take(limit)
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

    async fn versions(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, u64>, SearchError> {
        let ids = ids.to_vec();
        self.blocking(move |inner| {
            let mut found = HashMap::with_capacity(ids.len());
            for id in ids {
                if let Some(version) = inner.indexed_version(id)? {
                    found.insert(id, version);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn refresh(&self) -> Result<(), SearchError> {
        self.blocking(|inner| inner.reader.reload().map_err(index_error))
            .await
    }

    async fn record(&self, _events: Vec<EventDocument>) -> Result<(), SearchError> {
        Ok(())
    }

    async fn begin_rebuild(&self) -> Result<Arc<dyn SearchIndex>, SearchError> {
        let this = self.clone();
        let shadow = tokio::task::spawn_blocking(move || this.begin_rebuild_blocking())
            .await
            .map_err(index_error)??;
        Ok(Arc::new(shadow))
    }

    async fn finish_rebuild(&self) -> Result<(), SearchError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.finish_rebuild_blocking())
            .await
            .map_err(index_error)?
    }

    async fn ping(&self) -> Result<(), SearchError> {
        self.blocking(|_| Ok(())).await
    }
}

/// What a search needs of each hit to sort and page, read from fast fields.
struct Match {
    address: DocAddress,
    score: Score,
    /// The id as two numbers: their order is the order of the UUIDs' text.
    id: (u64, u64),
    /// The lower-case name, only when the caller asked for names (sorting by name, suggest).
    name_key: String,
    imdb_score: f64,
    popularity: f64,
}

/// Every hit, and the genre counts over them.
#[derive(Default)]
struct Matches {
    list: Vec<Match>,
    genres: HashMap<String, u64>,
}

/// Collects every hit (facets count them all). Text is read from the columns' dictionaries
/// once per distinct term and segment, in term order, not once per hit: that lookup is the
/// expensive part (see the search benchmark).
struct AllMatches {
    names: bool,
}

struct SegmentMatches {
    segment: SegmentOrdinal,
    id_hi: tantivy::columnar::Column<u64>,
    id_lo: tantivy::columnar::Column<u64>,
    name_key: Option<tantivy::columnar::StrColumn>,
    genre: Option<tantivy::columnar::StrColumn>,
    imdb_score: tantivy::columnar::Column<f64>,
    popularity: tantivy::columnar::Column<f64>,
    names: bool,
    hits: Vec<(DocId, Score, u64)>,
    genre_counts: HashMap<u64, u64>,
}

impl Collector for AllMatches {
    type Fruit = Matches;
    type Child = SegmentMatches;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentMatches> {
        let ff = reader.fast_fields();
        Ok(SegmentMatches {
            segment,
            id_hi: ff.u64("id_hi")?,
            id_lo: ff.u64("id_lo")?,
            name_key: ff.str("name_key")?,
            genre: ff.str("genre")?,
            imdb_score: ff.f64("imdb_score")?,
            popularity: ff.f64("popularity")?,
            names: self.names,
            hits: Vec::new(),
            genre_counts: HashMap::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Matches>) -> tantivy::Result<Matches> {
        let mut all = Matches::default();
        for fruit in fruits {
            all.list.extend(fruit.list);
            for (genre, count) in fruit.genres {
                *all.genres.entry(genre).or_default() += count;
            }
        }
        Ok(all)
    }
}

/// The text of each of `ords` (any order, repeats allowed) in `column`'s dictionary.
fn terms_of(
    column: &tantivy::columnar::StrColumn,
    ords: impl Iterator<Item = u64>,
) -> HashMap<u64, String> {
    let mut sorted: Vec<u64> = ords.collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut texts = Vec::with_capacity(sorted.len());
    let resolved = column
        .dictionary()
        .sorted_ords_to_term_cb(sorted.iter().copied(), |bytes| {
            texts.push(String::from_utf8_lossy(bytes).into_owned());
            Ok(())
        });
    if resolved.is_err() {
        return HashMap::new();
    }
    sorted.into_iter().zip(texts).collect()
}

impl SegmentCollector for SegmentMatches {
    type Fruit = Matches;

    fn collect(&mut self, doc: DocId, score: Score) {
        let name_ord = match (&self.name_key, self.names) {
            (Some(column), true) => column.ords().first(doc).unwrap_or(0),
            _ => 0,
        };
        self.hits.push((doc, score, name_ord));
        if let Some(genre) = &self.genre {
            for ord in genre.term_ords(doc) {
                *self.genre_counts.entry(ord).or_default() += 1;
            }
        }
    }

    fn harvest(self) -> Matches {
        let names = match (&self.name_key, self.names) {
            (Some(column), true) => terms_of(column, self.hits.iter().map(|h| h.2)),
            _ => HashMap::new(),
        };
        let genres = match &self.genre {
            Some(column) => {
                let texts = terms_of(column, self.genre_counts.keys().copied());
                self.genre_counts
                    .iter()
                    .filter_map(|(ord, count)| Some((texts.get(ord)?.clone(), *count)))
                    .collect()
            }
            None => HashMap::new(),
        };
        let list = self
            .hits
            .iter()
            .map(|&(doc, score, name_ord)| Match {
                address: DocAddress::new(self.segment, doc),
                score,
                id: (
                    self.id_hi.first(doc).unwrap_or(0),
                    self.id_lo.first(doc).unwrap_or(0),
                ),
                name_key: names.get(&name_ord).cloned().unwrap_or_default(),
                imdb_score: self.imdb_score.first(doc).unwrap_or(0.0),
                popularity: self.popularity.first(doc).unwrap_or(0.0),
            })
            .collect();
        Matches { list, genres }
    }
}
