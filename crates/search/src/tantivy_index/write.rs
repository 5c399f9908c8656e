//! Writes: index operations applied by stream version, so a late or repeated write never
//! wins.

use super::*;

impl Inner {
    pub(super) fn indexed_version(&self, id: Uuid) -> Result<Option<u64>, SearchError> {
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
}
