//! The embedded search adapter: a tantivy index in a directory.

use crate::highlight::{allowed_typos, highlight};
use crate::tantivy_dir::UnsyncedDirectory;
use crate::{
    words, EventDocument, GenreCount, GenreFilter, Hit, IndexOp, IndexReport, MovieDocument,
    ScoreBucket, SearchError, SearchIndex, SearchRequest, SearchResponse, SearchSort, Suggestion,
};
use async_trait::async_trait;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tantivy::collector::{Collector, SegmentCollector, TopDocs};
use tantivy::query::{
    BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, PhrasePrefixQuery, Query, TermQuery,
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

/// Segments of one size that are merged into one (see [`merge_policy`]).
const MERGE_AT: usize = 3;

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
                    Ok(writer) => {
                        writer.set_merge_policy(Box::new(merge_policy()));
                        break slot.writer = Some(writer);
                    }
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

/// Fewer, larger segments than tantivy's default (which merges once 8 segments of a size
/// exist): a fuzzy query walks every segment's term dictionary, so at 100 000 movies the
/// segment count, not the hit count, dominated a search. Merging sooner costs the background
/// merge thread a little more work per write.
fn merge_policy() -> tantivy::merge_policy::LogMergePolicy {
    let mut policy = tantivy::merge_policy::LogMergePolicy::default();
    policy.set_min_num_segments(MERGE_AT);
    policy
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
        let per_page = request.per_page.max(1) as usize;
        let skip = (request.page.max(1) as usize - 1).saturating_mul(per_page);
        let Ranked {
            mut list,
            total,
            genres,
            histogram,
        } = searcher
            .search(
                &self.query(request),
                &TopMatches {
                    keep: skip.saturating_add(per_page),
                    sort: request.sort,
                    bounds: Bounds::of(request),
                },
            )
            .map_err(index_error)?;
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
            genres,
            imdb_score_histogram: histogram
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
        let mut matches = searcher.search(&query, &AllMatches).map_err(index_error)?;
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

    fn records_events(&self) -> bool {
        false
    }

    async fn record(&self, _events: &[EventDocument]) -> Result<(), SearchError> {
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

/// What a suggestion needs of each hit to rank it, read from fast fields.
struct Match {
    address: DocAddress,
    /// The id as two numbers: their order is the order of the UUIDs' text.
    id: (u64, u64),
    /// The lower-case name.
    name_key: String,
    popularity: f64,
}

/// Collects every hit of a suggestion with its name. Text is read from the name column's
/// dictionary once per distinct term and segment, in term order, not once per hit: that lookup
/// is the expensive part (see the search benchmark).
struct AllMatches;

struct SegmentMatches {
    segment: SegmentOrdinal,
    id_hi: tantivy::columnar::Column<u64>,
    id_lo: tantivy::columnar::Column<u64>,
    name_key: Option<tantivy::columnar::StrColumn>,
    popularity: tantivy::columnar::Column<f64>,
    hits: Vec<(DocId, u64)>,
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
            id_hi: ff.u64("id_hi")?,
            id_lo: ff.u64("id_lo")?,
            name_key: ff.str("name_key")?,
            popularity: ff.f64("popularity")?,
            hits: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<Match>>) -> tantivy::Result<Vec<Match>> {
        Ok(fruits.into_iter().flatten().collect())
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
    type Fruit = Vec<Match>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let name_ord = match &self.name_key {
            Some(column) => column.ords().first(doc).unwrap_or(0),
            None => 0,
        };
        self.hits.push((doc, name_ord));
    }

    fn harvest(self) -> Vec<Match> {
        let names = match &self.name_key {
            Some(column) => terms_of(column, self.hits.iter().map(|h| h.1)),
            None => HashMap::new(),
        };
        self.hits
            .iter()
            .map(|&(doc, name_ord)| Match {
                address: DocAddress::new(self.segment, doc),
                id: (
                    self.id_hi.first(doc).unwrap_or(0),
                    self.id_lo.first(doc).unwrap_or(0),
                ),
                name_key: names.get(&name_ord).cloned().unwrap_or_default(),
                popularity: self.popularity.first(doc).unwrap_or(0.0),
            })
            .collect()
    }
}

/// The order of two ranked hits under `sort`: the sort key, then the id.
fn ranked_order(sort: SearchSort, a: &RankedMatch, b: &RankedMatch) -> std::cmp::Ordering {
    let key = match sort {
        SearchSort::Name { descending } => {
            let o = a.name_key.cmp(&b.name_key);
            if descending {
                o.reverse()
            } else {
                o
            }
        }
        _ => a.key.cmp(&b.key),
    };
    key.then_with(|| a.id.cmp(&b.id))
}

/// An `f64` as a `u64` with the same order (negative numbers below positive ones).
fn ordered_bits(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// One hit kept for the page: where it is, its score, its sort key, its id.
struct RankedMatch {
    address: DocAddress,
    score: Score,
    /// The sort key as an ascending `u64` (descending orders are complemented); for the name
    /// order it is the segment's term ordinal, so `name_key` carries the order across segments.
    key: u64,
    /// The id as two numbers: their order is the order of the UUIDs' text.
    id: (u64, u64),
    /// The lower-case name, only for the name order.
    name_key: String,
}

/// The first `keep` hits in each segment, the number of hits, and the facets over all of them.
#[derive(Default)]
struct Ranked {
    list: Vec<RankedMatch>,
    total: u64,
    genres: HashMap<String, u64>,
    histogram: [u64; 10],
}

/// Keeps only as many hits per segment as the page needs (`page * per_page`), chosen in linear
/// time, while the total and the facets still count every hit. The cost of a search is then the
/// matching itself, not sorting and materialising every hit (which grew with the catalogue).
struct TopMatches {
    keep: usize,
    sort: SearchSort,
    bounds: Bounds,
}

/// The filter's inclusive ranges on the IMDb score and the popularity.
#[derive(Clone, Copy)]
struct Bounds {
    imdb_score: (f64, f64),
    popularity: Option<(f64, f64)>,
}

impl Bounds {
    fn of(request: &SearchRequest) -> Self {
        let f = &request.filter;
        let range = |gte: Option<f64>, lte: Option<f64>| {
            (
                gte.unwrap_or(f64::NEG_INFINITY),
                lte.unwrap_or(f64::INFINITY),
            )
        };
        Self {
            imdb_score: range(f.imdb_score_gte, f.imdb_score_lte),
            popularity: (f.popularity_gte.is_some() || f.popularity_lte.is_some())
                .then(|| range(f.popularity_gte, f.popularity_lte)),
        }
    }
}

struct SegmentTop {
    segment: SegmentOrdinal,
    keep: usize,
    sort: SearchSort,
    bounds: Bounds,
    id_hi: tantivy::columnar::Column<u64>,
    id_lo: tantivy::columnar::Column<u64>,
    name_key: Option<tantivy::columnar::StrColumn>,
    genre: Option<tantivy::columnar::StrColumn>,
    imdb_score: tantivy::columnar::Column<f64>,
    popularity: tantivy::columnar::Column<f64>,
    /// (key, id_hi, id_lo, doc, score)
    hits: Vec<(u64, u64, u64, DocId, Score)>,
    genre_counts: Vec<u64>,
    histogram: [u64; 10],
}

impl Collector for TopMatches {
    type Fruit = Ranked;
    type Child = SegmentTop;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentTop> {
        let ff = reader.fast_fields();
        let genre = ff.str("genre")?;
        let genre_terms = genre.as_ref().map_or(0, |g| g.num_terms());
        Ok(SegmentTop {
            segment,
            keep: self.keep,
            sort: self.sort,
            bounds: self.bounds,
            id_hi: ff.u64("id_hi")?,
            id_lo: ff.u64("id_lo")?,
            name_key: ff.str("name_key")?,
            genre,
            imdb_score: ff.f64("imdb_score")?,
            popularity: ff.f64("popularity")?,
            hits: Vec::new(),
            genre_counts: vec![0; genre_terms],
            histogram: [0; 10],
        })
    }

    fn requires_scoring(&self) -> bool {
        // A hit shows its score whenever the search has text, whatever the order.
        true
    }

    fn merge_fruits(&self, fruits: Vec<Ranked>) -> tantivy::Result<Ranked> {
        let mut all = Ranked::default();
        for fruit in fruits {
            all.list.extend(fruit.list);
            all.total += fruit.total;
            for (genre, count) in fruit.genres {
                *all.genres.entry(genre).or_default() += count;
            }
            for (sum, count) in all.histogram.iter_mut().zip(fruit.histogram) {
                *sum += count;
            }
        }
        Ok(all)
    }
}

impl SegmentCollector for SegmentTop {
    type Fruit = Ranked;

    fn collect(&mut self, doc: DocId, score: Score) {
        let imdb_score = self.imdb_score.first(doc).unwrap_or(0.0);
        let within = |x: f64, (lo, hi): (f64, f64)| lo <= x && x <= hi;
        if !within(imdb_score, self.bounds.imdb_score) {
            return;
        }
        let popularity = || self.popularity.first(doc).unwrap_or(0.0);
        if let Some(range) = self.bounds.popularity {
            if !within(popularity(), range) {
                return;
            }
        }
        self.histogram[imdb_score.floor().clamp(0.0, 9.0) as usize] += 1;
        if let Some(genre) = &self.genre {
            for ord in genre.term_ords(doc) {
                if let Some(count) = self.genre_counts.get_mut(ord as usize) {
                    *count += 1;
                }
            }
        }
        let (key, descending) = match self.sort {
            SearchSort::Relevance => (ordered_bits(f64::from(score)), true),
            SearchSort::ImdbScore { descending } => (ordered_bits(imdb_score), descending),
            SearchSort::Popularity { descending } => (ordered_bits(popularity()), descending),
            SearchSort::Name { descending } => (
                self.name_key
                    .as_ref()
                    .and_then(|c| c.ords().first(doc))
                    .unwrap_or(0),
                descending,
            ),
        };
        let key = if descending { !key } else { key };
        self.hits.push((
            key,
            self.id_hi.first(doc).unwrap_or(0),
            self.id_lo.first(doc).unwrap_or(0),
            doc,
            score,
        ));
    }

    fn harvest(mut self) -> Ranked {
        let total = self.hits.len() as u64;
        let order = |a: &(u64, u64, u64, DocId, Score), b: &(u64, u64, u64, DocId, Score)| {
            (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2))
        };
        if self.keep == 0 {
            self.hits.clear();
        } else if self.hits.len() > self.keep {
            self.hits.select_nth_unstable_by(self.keep - 1, order);
            self.hits.truncate(self.keep);
        }
        let names = match (&self.name_key, self.sort) {
            (Some(column), SearchSort::Name { descending }) => terms_of(
                column,
                self.hits
                    .iter()
                    .map(|h| if descending { !h.0 } else { h.0 }),
            ),
            _ => HashMap::new(),
        };
        let genres = match &self.genre {
            Some(column) => {
                let used = self
                    .genre_counts
                    .iter()
                    .enumerate()
                    .filter(|(_, count)| **count > 0)
                    .map(|(ord, _)| ord as u64);
                let texts = terms_of(column, used);
                texts
                    .into_iter()
                    .map(|(ord, text)| (text, self.genre_counts[ord as usize]))
                    .collect()
            }
            None => HashMap::new(),
        };
        let descending_name = matches!(self.sort, SearchSort::Name { descending: true });
        let list = self
            .hits
            .iter()
            .map(|&(key, hi, lo, doc, score)| RankedMatch {
                address: DocAddress::new(self.segment, doc),
                score,
                key,
                id: (hi, lo),
                name_key: names
                    .get(&(if descending_name { !key } else { key }))
                    .cloned()
                    .unwrap_or_default(),
            })
            .collect();
        Ranked {
            list,
            total,
            genres,
            histogram: self.histogram,
        }
    }
}
