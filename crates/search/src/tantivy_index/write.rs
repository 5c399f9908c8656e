//! Writes: index operations applied by stream version, so a late or repeated write never
//! wins.

use super::{index_error, Inner};
use crate::{IndexOp, IndexReport, SearchError};
use std::collections::HashMap;
use tantivy::schema::IndexRecordOption;
use tantivy::{DocSet, IndexWriter};
use uuid::Uuid;

impl Inner {
    /// The version of `id` in the index `searcher` sees: its posting read directly, segment by
    /// segment (a scored top-1 search did the same and was 2.4% of the service's CPU under a
    /// load of adds, one per movie indexed). An id is in at most one live document; should
    /// it be in two, the lower version is given, so that the next write of the movie at its
    /// current version (or the reconcile at start) deletes both and writes one.
    pub(super) fn indexed_version_in(
        &self,
        searcher: &tantivy::Searcher,
        id: Uuid,
    ) -> Result<Option<u64>, SearchError> {
        let (mut lowest, mut copies) = (None::<u64>, 0);
        self.live_versions_in(searcher, id, |version| {
            copies += 1;
            lowest = Some(lowest.map_or(version, |v| v.min(version)));
        })?;
        if copies > 1 {
            tracing::warn!(%id, copies, ?lowest,
                "a movie is live more than once in the search index; it is written again");
        }
        Ok(lowest)
    }

    /// Calls `each` with the version of every live document of `id` in `searcher`.
    fn live_versions_in(
        &self,
        searcher: &tantivy::Searcher,
        id: Uuid,
        mut each: impl FnMut(u64),
    ) -> Result<(), SearchError> {
        let term = self.term(self.f.id, &id.to_string());
        for segment in searcher.segment_readers() {
            let Some(mut postings) = segment
                .inverted_index(self.f.id)
                .map_err(index_error)?
                .read_postings(&term, IndexRecordOption::Basic)
                .map_err(index_error)?
            else {
                continue;
            };
            let alive = segment.alive_bitset();
            let versions = segment.fast_fields().u64("version").map_err(index_error)?;
            let mut doc = postings.doc();
            while doc != tantivy::TERMINATED {
                if alive.is_none_or(|alive| alive.is_alive(doc)) {
                    each(versions.first(doc).unwrap_or(0));
                }
                doc = postings.advance();
            }
        }
        Ok(())
    }

    pub(super) fn apply(&self, ops: &[IndexOp]) -> Result<IndexReport, SearchError> {
        self.with_writer(|writer| self.write(writer, ops))
    }

    pub(super) fn write(
        &self,
        writer: &mut IndexWriter,
        ops: &[IndexOp],
    ) -> Result<IndexReport, SearchError> {
        let mut report = IndexReport::default();
        let mut written: HashMap<Uuid, u64> = HashMap::new();
        let searcher = self.reader.searcher();
        for op in ops {
            let current = match written.get(&op.id()) {
                Some(v) => Some(*v),
                None => self.indexed_version_in(&searcher, op.id())?,
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
            self.merge_due(writer)?;
            self.reader.reload().map_err(index_error)?;
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tantivy_index::generation::merge_policy;
    use crate::MovieDocument;
    use tantivy::merge_policy::MergePolicy;

    fn movie(id: Uuid, version: u64) -> IndexOp {
        IndexOp::Upsert(MovieDocument {
            id,
            name: format!("Movie at {version}"),
            director: "D".into(),
            genres: vec!["Drama".into()],
            imdb_score: 5.0,
            popularity: 1.0,
            version,
            poster_path: None,
        })
    }

    fn live_copies(inner: &Inner, id: Uuid) -> Vec<u64> {
        let mut versions = Vec::new();
        inner
            .live_versions_in(&inner.reader.searcher(), id, |v| versions.push(v))
            .expect("read");
        versions.sort_unstable();
        versions
    }

    /// A movie live twice (as a delete lost to a merge once left it) reads as its lower
    /// version, so the next write at its current version is not taken as stale, and leaves
    /// it once.
    #[test]
    fn a_movie_live_twice_is_written_again_once() {
        let dir = tempfile::tempdir().expect("dir");
        let inner = Inner::open(dir.path(), "gen-test").expect("opens");
        let id = Uuid::now_v7();
        // Two live copies, added without the delete a write makes.
        inner
            .with_writer(|writer| {
                for version in [1, 2] {
                    writer
                        .add_document(inner.document(&movie(id, version)))
                        .map_err(index_error)?;
                    writer.commit().map_err(index_error)?;
                }
                Ok(())
            })
            .expect("written");
        inner.reader.reload().expect("reload");
        assert_eq!(live_copies(&inner, id), vec![1, 2]);
        assert_eq!(
            inner
                .indexed_version_in(&inner.reader.searcher(), id)
                .expect("read"),
            Some(1)
        );
        // An older write is still refused; one at the current version replaces both.
        assert_eq!(inner.apply(&[movie(id, 1)]).expect("applied").stale, 1);
        assert_eq!(inner.apply(&[movie(id, 2)]).expect("applied").applied, 1);
        assert_eq!(live_copies(&inner, id), vec![2]);
    }

    /// Merges are done inside the write that made them due, not by tantivy's threads beside
    /// the next writes: when `apply` returns, the policy proposes nothing, every id rewritten
    /// meanwhile is live once, and the writer's own policy merges nothing.
    #[test]
    fn merges_are_done_before_a_write_returns() {
        let dir = tempfile::tempdir().expect("dir");
        let inner = Inner::open(dir.path(), "gen-test").expect("opens");
        let mut ids: Vec<Uuid> = Vec::new();
        for round in 1..=12u64 {
            // New movies each round (segments pile up) and the first ones rewritten (each
            // commit deletes from older segments).
            ids.extend((0..300).map(|_| Uuid::now_v7()));
            let ops: Vec<IndexOp> = ids
                .iter()
                .enumerate()
                .filter(|(n, _)| *n < 100 || *n >= ids.len() - 300)
                .map(|(_, id)| movie(*id, round))
                .collect();
            inner.apply(&ops).expect("applied");
            let segments = inner.index.searchable_segment_metas().expect("metas");
            assert!(
                merge_policy()
                    .compute_merge_candidates(&segments)
                    .is_empty(),
                "round {round}: merges left due over {} segments",
                segments.len()
            );
        }
        for id in &ids[..100] {
            assert_eq!(live_copies(&inner, *id), vec![12]);
        }
        // And tantivy's merge threads are given nothing to do beside the writes.
        let policy = inner
            .with_writer(|writer| Ok(format!("{:?}", writer.get_merge_policy())))
            .expect("writer");
        assert!(policy.contains("NoMergePolicy"), "{policy}");
    }
}
