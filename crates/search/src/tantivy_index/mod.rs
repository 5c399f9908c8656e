//! The embedded search adapter: a tantivy index in a directory, split as the Elasticsearch
//! adapter is: schema, generations (and the writer), writes, queries, collectors.

use crate::{
    EventDocument, IndexOp, IndexReport, SearchError, SearchIndex, SearchRequest, SearchResponse,
    Suggestion,
};
use async_trait::async_trait;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tantivy::{Index, IndexReader, IndexWriter};
use uuid::Uuid;

mod collect;
mod generation;
mod query;
mod schema;
mod sorted;
mod suggest;
mod tokenizer;
mod word;
mod write;

use generation::{new_generation_name, read_current, write_current};
use schema::Fields;

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
    /// The writer's indexing memory: what it holds before it writes a segment.
    writer_memory: usize,
    f: Fields,
    /// Each segment's documents in the order of each sort, for sorted searches.
    sort_orders: sorted::SortOrders,
}

/// A serving generation's writer memory: batches are small and the process's memory counts.
const WRITER_MEMORY: usize = 20_000_000;

/// A rebuild's writer memory: the whole catalogue goes through it, and each segment it writes
/// is merged again later (at 1 000 000 movies, with 20 MB, merging and building the segments'
/// term dictionaries were most of the rebuild). `moviedb rebuild` runs as a process of its own.
const REBUILD_WRITER_MEMORY: usize = 200_000_000;

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
    /// The threads searches and suggestions run on (see [`SearchThreads`]).
    reads: Arc<SearchThreads>,
}

type Job = Box<dyn FnOnce() + Send>;

/// As many threads for searches and suggestions as the machine has cores, taking them in the
/// order they came. Run each on a blocking thread of its own, as many searches ran at once as
/// clients sent, each (a millisecond of CPU at 100 000 movies) time-sliced with the others, and
/// the slowest took four times the median. Here a thread that finishes a search takes the next
/// one waiting at once. Elasticsearch bounds its search thread pool the same way.
struct SearchThreads {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl SearchThreads {
    fn start() -> Result<Self, SearchError> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("search-{n}"))
                .spawn(move || loop {
                    // The lock is held only to take a job; the channel closes with the index.
                    let job = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    match job {
                        // A search that panics answers with an error (its answer is dropped)
                        // and the thread goes on to the next.
                        Ok(job) => {
                            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                        }
                        Err(_) => return,
                    }
                })
                .map_err(index_error)?;
        }
        Ok(Self { jobs })
    }

    /// Runs `work` on one of the threads and waits for its answer.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, SearchError> + Send + 'static,
    ) -> Result<T, SearchError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // A caller that stopped waiting (a client gone, a request timed out) no longer
            // takes a thread: under overload the queue would otherwise fill with answers no
            // one reads.
            if !answer.is_closed() {
                let _ = answer.send(work());
            }
        });
        self.jobs
            .send(job)
            .map_err(|_| index_error("the search threads stopped"))?;
        answered
            .await
            .map_err(|_| index_error("the search stopped without an answer (it panicked)"))?
    }
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
                // Unsynced writes lost to a power cut (see `tantivy_dir`), or an index written
                // with an older schema: start empty; the projector fills the new generation
                // from the read models.
                tracing::warn!(index.generation = %name, error = %e,
                    "search index unreadable; starting a fresh generation");
                let fresh = new_generation_name();
                let inner = Inner::open_live(root, &fresh)?;
                write_current(root, &fresh)?;
                if let Err(e) = std::fs::remove_dir_all(root.join(&name)) {
                    tracing::warn!(index.generation = %name, error = %e,
                        "could not remove the unreadable search index generation");
                }
                inner
            }
        };
        Ok(Self {
            root: Arc::new(root.to_owned()),
            live: Arc::new(RwLock::new(inner)),
            pinned: false,
            rebuilding: Arc::new(Mutex::new(None)),
            reads: Arc::new(SearchThreads::start()?),
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

    /// [`Self::blocking`] on the search threads (see [`SearchThreads`]).
    async fn searching<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T, SearchError> + Send + 'static,
    ) -> Result<T, SearchError> {
        let this = self.clone();
        self.reads
            .run(move || {
                let inner = this.generation()?;
                work(&inner)
            })
            .await
    }

    fn begin_rebuild_blocking(&self) -> Result<TantivyIndex, SearchError> {
        let name = new_generation_name();
        let mut inner = Inner::open(&self.root, &name)?;
        inner.writer_memory = REBUILD_WRITER_MEMORY;
        let inner = Arc::new(inner);
        *self
            .rebuilding
            .lock()
            .map_err(|_| index_error("index handle poisoned"))? = Some(inner.clone());
        Ok(TantivyIndex {
            root: self.root.clone(),
            live: Arc::new(RwLock::new(inner)),
            pinned: true,
            rebuilding: Arc::new(Mutex::new(None)),
            reads: self.reads.clone(),
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

#[async_trait]
impl SearchIndex for TantivyIndex {
    async fn apply(&self, ops: Vec<IndexOp>) -> Result<IndexReport, SearchError> {
        self.blocking(move |inner| inner.apply(&ops)).await
    }

    async fn search(&self, request: &SearchRequest) -> Result<SearchResponse, SearchError> {
        let request = request.clone();
        self.searching(move |inner| inner.search(&request)).await
    }

    async fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError> {
        let prefix = prefix.to_owned();
        self.searching(move |inner| inner.suggest(&prefix, limit))
            .await
    }

    async fn versions(&self, ids: &[Uuid]) -> Result<HashMap<Uuid, u64>, SearchError> {
        let ids = ids.to_vec();
        self.blocking(move |inner| {
            let mut found = HashMap::with_capacity(ids.len());
            let searcher = inner.reader.searcher();
            for id in ids {
                if let Some(version) = inner.indexed_version_in(&searcher, id)? {
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

#[cfg(test)]
mod search_thread_tests {
    use super::*;
    use std::future::Future;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Barrier;
    use std::task::{Context, Waker};

    /// A search whose caller stopped waiting before a thread was free is skipped, and the
    /// threads go on with the next.
    #[tokio::test]
    async fn a_search_no_one_waits_for_is_skipped() {
        let pool = SearchThreads::start().expect("threads");
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        // Every thread busy until released.
        let (release, released) = std::sync::mpsc::channel::<()>();
        let released = Arc::new(Mutex::new(released));
        let mut busy = Vec::new();
        for _ in 0..threads {
            let released = released.clone();
            busy.push(Box::pin(pool.run(move || {
                let _ = released.lock().map(|r| r.recv());
                Ok(())
            })));
        }
        let mut cx = Context::from_waker(Waker::noop());
        for job in &mut busy {
            assert!(job.as_mut().poll(&mut cx).is_pending(), "queued");
        }
        // Queued behind them, then abandoned.
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        let mut abandoned = Box::pin(pool.run(move || {
            flag.store(true, Ordering::SeqCst);
            Ok(())
        }));
        assert!(abandoned.as_mut().poll(&mut cx).is_pending(), "queued");
        drop(abandoned);
        for _ in 0..threads {
            release.send(()).expect("release");
        }
        for job in busy {
            job.await.expect("a busy job answered");
        }
        // Once every thread has met at the barrier, each has finished what it took before,
        // the abandoned search included.
        let barrier = Arc::new(Barrier::new(threads));
        let pool = Arc::new(pool);
        let mut last = tokio::task::JoinSet::new();
        for _ in 0..threads {
            let (barrier, pool) = (barrier.clone(), pool.clone());
            last.spawn(async move {
                pool.run(move || {
                    barrier.wait();
                    Ok(())
                })
                .await
            });
        }
        while let Some(done) = last.join_next().await {
            done.expect("joined").expect("answered");
        }
        assert!(!ran.load(Ordering::SeqCst), "the abandoned search ran");
        assert_eq!(pool.run(|| Ok(7)).await.expect("answered"), 7);
    }
}
