//! Which documents of a segment a sorted search finds: a bit set of the query's hits, or,
//! for a search with neither text nor a director, a check of each document's columns.

use super::super::collect::Bounds;
use crate::{GenreFilter, SearchRequest};
use std::sync::Arc;
use tantivy::columnar::{Column, ColumnValues, StrColumn};
use tantivy::fastfield::AliveBitSet;
use tantivy::query::Weight;
use tantivy::{DocId, DocSet, SegmentReader, TERMINATED};
use tantivy_common::BitSet;

/// The filter's score and popularity ranges, checked on a segment's columns.
pub(super) struct Ranges {
    pub(super) bounds: Bounds,
    imdb_score: Arc<dyn ColumnValues<f64>>,
    popularity: Arc<dyn ColumnValues<f64>>,
}

impl Ranges {
    pub(super) fn of(reader: &SegmentReader, bounds: Bounds) -> tantivy::Result<Self> {
        let ff = reader.fast_fields();
        Ok(Self {
            bounds,
            imdb_score: ff.f64("imdb_score")?.first_or_default_col(0.0),
            popularity: ff.f64("popularity")?.first_or_default_col(0.0),
        })
    }

    /// Whether any range is set (otherwise every document is within).
    fn any(&self) -> bool {
        self.bounds.popularity.is_some()
            || self.bounds.imdb_score != (f64::NEG_INFINITY, f64::INFINITY)
    }

    pub(super) fn within(&self, doc: DocId) -> bool {
        let within = |x: f64, (lo, hi): (f64, f64)| lo <= x && x <= hi;
        within(self.imdb_score.get_val(doc), self.bounds.imdb_score)
            && self
                .bounds
                .popularity
                .is_none_or(|range| within(self.popularity.get_val(doc), range))
    }
}

/// The documents of one segment the query matches, as a bit set, and how many of them are
/// within the ranges, counted to a bound.
pub(super) struct Matching {
    pub(super) docs: BitSet,
    /// The hits in document order while they are few (see [`FEW`]), for choosing among them.
    few: Option<Vec<DocId>>,
    /// The hits within the ranges, counted to the bound asked.
    pub(super) counted: u64,
    pub(super) ranges: Ranges,
}

/// Up to this many hits a segment's hits are also kept as a list.
const FEW: usize = 1 << 16;

impl Matching {
    /// The hits of `weight` in `reader`, those within the ranges counted up to `up_to`.
    pub(super) fn of(
        weight: &dyn Weight,
        reader: &SegmentReader,
        ranges: Ranges,
        up_to: u64,
    ) -> tantivy::Result<Self> {
        let mut this = Self {
            docs: BitSet::with_max_value(reader.max_doc()),
            few: Some(Vec::new()),
            counted: 0,
            ranges,
        };
        let alive = reader.alive_bitset();
        let ranged = this.ranges.any();
        weight.for_each_no_score(reader, &mut |found| {
            for &doc in found {
                if alive.is_none_or(|a| a.is_alive(doc)) {
                    this.docs.insert(doc);
                    if this.counted < up_to && (!ranged || this.ranges.within(doc)) {
                        this.counted += 1;
                    }
                    if let Some(few) = &mut this.few {
                        if few.len() < FEW {
                            few.push(doc);
                        } else {
                            this.few = None;
                        }
                    }
                }
            }
        })?;
        Ok(this)
    }

    pub(super) fn hit(&self, doc: DocId) -> bool {
        self.docs.contains(doc) && self.ranges.within(doc)
    }

    /// Every hit, in document order (ranges not applied).
    pub(super) fn each(&self, mut f: impl FnMut(DocId)) {
        match &self.few {
            Some(few) => few.iter().for_each(|&doc| f(doc)),
            None => {
                let mut docs = tantivy::query::BitSetDocSet::from(self.docs.clone());
                let mut doc = docs.doc();
                while doc != TERMINATED {
                    f(doc);
                    doc = docs.advance();
                }
            }
        }
    }
}

/// A search with neither text nor a director, checked on each document's columns: live (a
/// tombstone has no popularity), its genres, the ranges. A walk in sort order then needs no
/// set of the hits, and the count reads the query's hits only up to the bound: the most
/// popular movies of a genre, or of the whole catalogue, cost a walk of a few hundred
/// documents, where the set cost a pass over every hit.
pub(super) struct ColumnFilter {
    /// The segment's deletions (a replaced movie's earlier document among them).
    alive: Option<AliveBitSet>,
    live: Column<f64>,
    genre: Option<StrColumn>,
    /// The genres' ordinals in this segment's genre column.
    wanted: Vec<u64>,
    every: bool,
    pub(super) ranges: Ranges,
}

impl ColumnFilter {
    /// The filter of `request` on `reader`, if the request can be checked on columns;
    /// `Ok(Some(None))` when a genre it needs is in no document of the segment.
    pub(super) fn of(
        reader: &SegmentReader,
        request: &SearchRequest,
        ranges: Ranges,
    ) -> tantivy::Result<Option<Option<Self>>> {
        if request.q.is_some() || request.filter.director.is_some() {
            return Ok(None);
        }
        let ff = reader.fast_fields();
        let genre = ff.str("genre")?;
        let (names, every) = match &request.filter.genres {
            // Matches nothing, as the query does: left to the query.
            Some(GenreFilter::Any(names)) if names.is_empty() => return Ok(None),
            Some(GenreFilter::All(names)) => (names.as_slice(), true),
            Some(GenreFilter::Any(names)) => (names.as_slice(), false),
            None => (&[][..], true),
        };
        let mut wanted = Vec::with_capacity(names.len());
        for name in names {
            let key = name.trim().to_lowercase();
            let ord = match &genre {
                Some(column) => column.dictionary().term_ord(key.as_bytes())?,
                None => None,
            };
            match ord {
                Some(ord) => wanted.push(ord),
                None if every => return Ok(Some(None)),
                None => {}
            }
        }
        if !names.is_empty() && wanted.is_empty() {
            return Ok(Some(None));
        }
        Ok(Some(Some(Self {
            alive: reader.alive_bitset().cloned(),
            live: ff.f64("popularity")?,
            genre,
            wanted,
            every,
            ranges,
        })))
    }

    pub(super) fn hit(&self, doc: DocId) -> bool {
        if self.alive.as_ref().is_some_and(|a| a.is_deleted(doc))
            || self.live.first(doc).is_none()
            || !self.ranges.within(doc)
        {
            return false;
        }
        if self.wanted.is_empty() {
            return true;
        }
        let Some(genre) = &self.genre else {
            return false;
        };
        if self.every {
            self.wanted
                .iter()
                .all(|wanted| genre.term_ords(doc).any(|ord| ord == *wanted))
        } else {
            genre.term_ords(doc).any(|ord| self.wanted.contains(&ord))
        }
    }

    /// The hits of `weight` (the same search) within the ranges, counted up to `up_to`,
    /// reading the query's hits only until then.
    pub(super) fn count(
        &self,
        weight: &dyn Weight,
        reader: &SegmentReader,
        up_to: u64,
    ) -> tantivy::Result<u64> {
        if up_to == 0 {
            return Ok(0);
        }
        let mut scorer = weight.scorer(reader, 1.0)?;
        let alive = reader.alive_bitset();
        let mut n = 0;
        let mut doc = scorer.doc();
        while doc != TERMINATED && n < up_to {
            if alive.is_none_or(|a| a.is_alive(doc)) && self.ranges.within(doc) {
                n += 1;
            }
            doc = scorer.advance();
        }
        Ok(n)
    }
}
