//! The scorers of a word in a segment: its near terms' documents, each scored alike, and the
//! sum of a few scorers.

use tantivy::index::InvertedIndexReader;
use tantivy::postings::TermInfo;
use tantivy::query::{BitSetDocSet, ConstScorer, EmptyScorer, Scorer};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED};
use tantivy_common::BitSet;

/// The documents of the near terms, every one scored `score`, as tantivy's automaton weight
/// scores them, but not always gathered in a bit set of the whole segment: one term is its
/// postings read as they go, a few rare ones a sorted list. A bit set of a million documents
/// per segment and field was most of the cost of a word that few movies have.
pub(super) fn near_scorer(
    reader: &SegmentReader,
    index: &InvertedIndexReader,
    infos: &[TermInfo],
    score: Score,
) -> tantivy::Result<Box<dyn Scorer>> {
    let docs: u64 = infos.iter().map(|t| u64::from(t.doc_freq)).sum();
    Ok(match infos {
        [] => Box::new(EmptyScorer),
        [one] => Box::new(ConstScorer::new(
            index.read_postings_from_terminfo(one, IndexRecordOption::Basic)?,
            score,
        )),
        // Fewer documents than the bit set has 32-bit words: a list costs less.
        many if docs < u64::from(reader.max_doc() / 32) => {
            let mut list = Vec::with_capacity(docs as usize);
            for info in many {
                let mut block =
                    index.read_block_postings_from_terminfo(info, IndexRecordOption::Basic)?;
                while !block.docs().is_empty() {
                    list.extend_from_slice(block.docs());
                    block.advance();
                }
            }
            list.sort_unstable();
            list.dedup();
            Box::new(ConstScorer::new(ListDocSet { docs: list, at: 0 }, score))
        }
        many => {
            let mut set = BitSet::with_max_value(reader.max_doc());
            for info in many {
                let mut block =
                    index.read_block_postings_from_terminfo(info, IndexRecordOption::Basic)?;
                while !block.docs().is_empty() {
                    block.docs().iter().for_each(|&doc| set.insert(doc));
                    block.advance();
                }
            }
            Box::new(ConstScorer::new(BitSetDocSet::from(set), score))
        }
    })
}

/// A scorer's documents, each scored `add` more.
pub(super) struct Plus {
    pub(super) inner: Box<dyn Scorer>,
    pub(super) add: Score,
}

impl DocSet for Plus {
    fn advance(&mut self) -> DocId {
        self.inner.advance()
    }
    fn seek(&mut self, target: DocId) -> DocId {
        self.inner.seek(target)
    }
    fn doc(&self) -> DocId {
        self.inner.doc()
    }
    fn size_hint(&self) -> u32 {
        self.inner.size_hint()
    }
}

impl Scorer for Plus {
    fn score(&mut self) -> Score {
        self.inner.score() + self.add
    }
}

/// The union of a few scorers, each document scored the sum of theirs.
pub(super) struct Sum {
    parts: Vec<Box<dyn Scorer>>,
    doc: DocId,
}

impl Sum {
    pub(super) fn new(parts: Vec<Box<dyn Scorer>>) -> Self {
        let doc = parts.iter().map(|p| p.doc()).min().unwrap_or(TERMINATED);
        Self { parts, doc }
    }
}

impl DocSet for Sum {
    fn advance(&mut self) -> DocId {
        let at = self.doc;
        let mut next = TERMINATED;
        for part in &mut self.parts {
            let doc = if part.doc() == at {
                part.advance()
            } else {
                part.doc()
            };
            next = next.min(doc);
        }
        self.doc = next;
        next
    }
    fn seek(&mut self, target: DocId) -> DocId {
        let mut next = TERMINATED;
        for part in &mut self.parts {
            let doc = if part.doc() < target {
                part.seek(target)
            } else {
                part.doc()
            };
            next = next.min(doc);
        }
        self.doc = next;
        next
    }
    fn doc(&self) -> DocId {
        self.doc
    }
    fn size_hint(&self) -> u32 {
        self.parts.iter().map(|p| p.size_hint()).max().unwrap_or(0)
    }
}

impl Scorer for Sum {
    fn score(&mut self) -> Score {
        let at = self.doc;
        self.parts
            .iter_mut()
            .filter(|p| p.doc() == at)
            .map(|p| p.score())
            .sum()
    }
}

/// Documents in a sorted list (tantivy's own is for its tests only).
struct ListDocSet {
    docs: Vec<DocId>,
    at: usize,
}

impl DocSet for ListDocSet {
    fn advance(&mut self) -> DocId {
        self.at += 1;
        self.doc()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        let rest = self.docs.get(self.at..).unwrap_or_default();
        self.at += rest.partition_point(|&doc| doc < target);
        self.doc()
    }

    fn doc(&self) -> DocId {
        self.docs.get(self.at).copied().unwrap_or(TERMINATED)
    }

    fn size_hint(&self) -> u32 {
        self.docs.len() as u32
    }
}
