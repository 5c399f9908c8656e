//! Generations of the index (a rebuild writes a new one and swaps it in through `CURRENT`),
//! and the writer each keeps between batches.

use super::schema::{register_tokenizer, schema};
use super::{index_error, Inner, WriterSlot, WRITER_IDLE, WRITER_MEMORY};
use crate::tantivy_dir::UnsyncedDirectory;
use crate::SearchError;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tantivy::{Index, IndexWriter, ReloadPolicy};
use uuid::Uuid;

pub(super) const CURRENT: &str = "CURRENT";
/// How long a batch waits for the writer lock another process holds.
pub(super) const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Segments of one size that are merged into one (see [`merge_policy`]).
pub(super) const MERGE_AT: usize = 3;
/// Segments below this many documents are all of one size (see [`merge_policy`]): about what
/// one index commit holds under a steady flow of adds (one commit per 100 ms).
pub(super) const MERGE_LAYER: u32 = 500;

pub(super) fn read_current(root: &Path) -> Result<Option<String>, SearchError> {
    match std::fs::read_to_string(root.join(CURRENT)) {
        Ok(name) => Ok(Some(name.trim().to_owned()).filter(|n| !n.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(index_error(e)),
    }
}

/// Points `CURRENT` at `name` atomically (write beside, then rename).
pub(super) fn write_current(root: &Path, name: &str) -> Result<(), SearchError> {
    let temp = root.join(format!("{CURRENT}.{name}.tmp"));
    std::fs::write(&temp, name).map_err(index_error)?;
    std::fs::rename(&temp, root.join(CURRENT)).map_err(index_error)
}

pub(super) fn new_generation_name() -> String {
    format!("gen-{}", Uuid::now_v7().simple())
}

impl Inner {
    pub(super) fn open(root: &Path, name: &str) -> Result<Self, SearchError> {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).map_err(index_error)?;
        let (schema, f) = schema();
        let directory = UnsyncedDirectory::open(&dir).map_err(index_error)?;
        let index = Index::open_or_create(directory, schema).map_err(index_error)?;
        register_tokenizer(&index);
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
            writer_memory: WRITER_MEMORY,
            f,
            sort_orders: Default::default(),
        })
    }

    /// A generation that serves: its writer is let go by a watcher thread once idle.
    pub(super) fn open_live(root: &Path, name: &str) -> Result<Arc<Self>, SearchError> {
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
    pub(super) fn release_if_idle(&self) {
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
    pub(super) fn with_writer<T>(
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
                match self.index.writer_with_num_threads(1, self.writer_memory) {
                    Ok(writer) => {
                        // Merges run in `merge_due`, inside a batch's turn, never beside it.
                        writer.set_merge_policy(Box::new(tantivy::merge_policy::NoMergePolicy));
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

    /// Merges what [`merge_policy`] proposes, waiting for each merge, with the writer held:
    /// no batch writes meanwhile. Tantivy's background merges ran beside the next batches,
    /// and now and then a delete committed while a merge was running did not reach the
    /// merged segment: an id was then live twice (seen by the crash test, 2 runs in 22, both
    /// times on a merge that spanned a commit of the first batch after a restart). Called
    /// after a commit; the merged segment is committed by the merge itself.
    pub(super) fn merge_due(&self, writer: &mut IndexWriter) -> Result<(), SearchError> {
        use tantivy::merge_policy::MergePolicy;
        let policy = merge_policy();
        // Each merge changes the segments: ask again until nothing is proposed (a bound, in
        // case a policy kept proposing).
        for _ in 0..8 {
            let segments = self.index.searchable_segment_metas().map_err(index_error)?;
            let candidates = policy.compute_merge_candidates(&segments);
            if candidates.is_empty() {
                return Ok(());
            }
            for candidate in candidates {
                writer.merge(&candidate.0).wait().map_err(index_error)?;
            }
        }
        Ok(())
    }

    pub(super) fn release_writer(&self) -> Result<(), SearchError> {
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

/// Run by [`Inner::merge_due`], not by tantivy's merge threads. Fewer, larger segments than
/// tantivy's default (which merges once 8 segments of a size exist): a fuzzy query walks
/// every segment's term dictionary, so at 100 000 movies the segment count, not the hit
/// count, dominated a search. Merging sooner costs each write a little more merging.
///
/// Segments are grouped by size from [`MERGE_LAYER`] documents up, not from tantivy's default
/// of 10 000: below that default every segment is of one size, so under a steady flow of adds
/// each commit's small segment was merged again and again with the same segment of thousands
/// of movies (at 10 000 movies, with the whole catalogue). The merge threads took 17% of the
/// machine's CPU while MariaDB adds ran at 32 connections; see docs/performance.md.
pub(super) fn merge_policy() -> tantivy::merge_policy::LogMergePolicy {
    let mut policy = tantivy::merge_policy::LogMergePolicy::default();
    policy.set_min_num_segments(MERGE_AT);
    policy.set_min_layer_size(MERGE_LAYER);
    policy
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::index::SegmentId;
    use tantivy::merge_policy::MergePolicy;

    fn segments(index: &Index, sizes: &[u32]) -> Vec<tantivy::index::SegmentMeta> {
        sizes
            .iter()
            .map(|&docs| index.new_segment_meta(SegmentId::generate_random(), docs))
            .collect()
    }

    fn docs_merged(index: &Index, sizes: &[u32]) -> Vec<Vec<u32>> {
        let metas = segments(index, sizes);
        let mut merges: Vec<Vec<u32>> = merge_policy()
            .compute_merge_candidates(&metas)
            .into_iter()
            .map(|candidate| {
                let mut docs: Vec<u32> = candidate
                    .0
                    .iter()
                    .filter_map(|id| metas.iter().find(|m| m.id() == *id))
                    .map(|m| m.max_doc())
                    .collect();
                docs.sort_unstable();
                docs
            })
            .collect();
        merges.sort();
        merges
    }

    #[test]
    fn small_commits_are_merged_with_each_other_not_with_the_catalogue() {
        let index = Index::create_in_ram(schema().0);
        register_tokenizer(&index);
        // The catalogue in one segment and three commits' worth of adds.
        assert_eq!(
            docs_merged(&index, &[10_000, 300, 280, 310]),
            vec![vec![280, 300, 310]]
        );
        // Two small segments wait for a third; the large one is never rewritten for them.
        assert!(docs_merged(&index, &[9_000, 300, 310]).is_empty());
        // Segments of one size above the layer are still merged three at a time.
        assert_eq!(
            docs_merged(&index, &[30_000, 2_000, 2_100, 1_900]),
            vec![vec![1_900, 2_000, 2_100]]
        );
    }
}
