//! The suggestion collector: names that start with what was typed, the most popular first,
//! at two column reads a hit.

use super::collect::{ordered_bits, terms_of};
use std::collections::HashMap;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

/// A suggestion kept by a segment, with what ranks it across segments.
pub(super) struct Match {
    pub(super) address: DocAddress,
    /// Whether the whole name (its words) starts with the prefix.
    pub(super) starts: bool,
    pub(super) popularity: f64,
    /// The lower-case name.
    pub(super) name_key: String,
    /// The id as two numbers: their order is the order of the UUIDs' text.
    pub(super) id: (u64, u64),
}

impl Match {
    /// Names that start with the prefix first, then the most popular, then by name and id.
    pub(super) fn order(a: &Match, b: &Match) -> std::cmp::Ordering {
        b.starts
            .cmp(&a.starts)
            .then_with(|| b.popularity.total_cmp(&a.popularity))
            .then_with(|| a.name_key.cmp(&b.name_key))
            .then_with(|| a.id.cmp(&b.id))
    }
}

/// The first `keep` suggestions of each segment. Every hit costs two column reads (its
/// normalized name's ordinal, its popularity); names and ids are read only for the hits kept
/// and those tied with the last one kept. Reading every hit's name made a suggestion at 100 000
/// movies cost ten times what it did at 10 000.
pub(super) struct TopSuggestions {
    pub(super) keep: usize,
    /// The prefix's words joined by single spaces, as `name_words` holds a name.
    pub(super) prefix: String,
}

pub(super) struct SegmentSuggestions {
    segment: SegmentOrdinal,
    keep: usize,
    name_words: Option<tantivy::columnar::StrColumn>,
    /// The ordinals of the normalized names that start with the prefix: sorted terms that
    /// share a prefix are one run of ordinals.
    starting: std::ops::Range<u64>,
    name_key: Option<tantivy::columnar::StrColumn>,
    popularity: tantivy::columnar::Column<f64>,
    id_hi: tantivy::columnar::Column<u64>,
    id_lo: tantivy::columnar::Column<u64>,
    /// (key, doc): the key orders names that start with the prefix first, then by popularity,
    /// descending.
    hits: Vec<(u128, DocId)>,
}

/// The ordinals of the terms of `column` that start with `prefix`, as a half-open range.
fn ords_starting_with(
    column: &tantivy::columnar::StrColumn,
    prefix: &str,
) -> tantivy::Result<std::ops::Range<u64>> {
    use std::ops::Bound;
    // No byte of UTF-8 is 0xFF, so every term that starts with the prefix sorts below it
    // followed by 0xFF, and every other term at or above the prefix sorts above that.
    let mut upper = prefix.as_bytes().to_vec();
    upper.push(0xFF);
    let (lo, hi) = column.dictionary().term_bounds_to_ord(
        Bound::Included(prefix.as_bytes()),
        Bound::Excluded(&upper[..]),
    )?;
    let lo = match lo {
        Bound::Included(o) => o,
        Bound::Excluded(o) => o.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let hi = match hi {
        Bound::Included(o) => o.saturating_add(1),
        Bound::Excluded(o) => o,
        Bound::Unbounded => u64::MAX,
    };
    Ok(lo..hi.max(lo))
}

impl Collector for TopSuggestions {
    type Fruit = Vec<Match>;
    type Child = SegmentSuggestions;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentSuggestions> {
        let ff = reader.fast_fields();
        let name_words = ff.str("name_words")?;
        let starting = match &name_words {
            Some(column) => ords_starting_with(column, &self.prefix)?,
            None => 0..0,
        };
        Ok(SegmentSuggestions {
            segment,
            keep: self.keep,
            name_words,
            starting,
            name_key: ff.str("name_key")?,
            popularity: ff.f64("popularity")?,
            id_hi: ff.u64("id_hi")?,
            id_lo: ff.u64("id_lo")?,
            hits: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Vec<Match>>) -> tantivy::Result<Vec<Match>> {
        let mut all: Vec<Match> = fruits.into_iter().flatten().collect();
        all.sort_by(Match::order);
        all.truncate(self.keep);
        Ok(all)
    }
}

impl SegmentCollector for SegmentSuggestions {
    type Fruit = Vec<Match>;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let starts = self
            .name_words
            .as_ref()
            .and_then(|c| c.ords().first(doc))
            .is_some_and(|ord| self.starting.contains(&ord));
        let popularity = self.popularity.first(doc).unwrap_or(0.0);
        let key = (u128::from(!starts) << 64) | u128::from(!ordered_bits(popularity));
        self.hits.push((key, doc));
    }

    fn harvest(mut self) -> Vec<Match> {
        if self.keep == 0 {
            return Vec::new();
        }
        if self.hits.len() > self.keep {
            // Every key below the bound is kept; name and id choose among those at the bound.
            self.hits.select_nth_unstable_by_key(self.keep - 1, |h| h.0);
            let bound = self.hits[self.keep - 1].0;
            self.hits.retain(|h| h.0 <= bound);
        }
        // Within a segment the name's ordinal orders as its text does, so the cut needs no text.
        let name_ord = |doc: DocId| {
            self.name_key
                .as_ref()
                .and_then(|c| c.ords().first(doc))
                .unwrap_or(0)
        };
        let mut ranked: Vec<(u128, u64, (u64, u64), DocId)> = self
            .hits
            .iter()
            .map(|&(key, doc)| {
                let id = (
                    self.id_hi.first(doc).unwrap_or(0),
                    self.id_lo.first(doc).unwrap_or(0),
                );
                (key, name_ord(doc), id, doc)
            })
            .collect();
        if ranked.len() > self.keep {
            ranked.select_nth_unstable(self.keep - 1);
            ranked.truncate(self.keep);
        }
        let names = match &self.name_key {
            Some(column) => terms_of(column, ranked.iter().map(|r| r.1)),
            None => HashMap::new(),
        };
        ranked
            .into_iter()
            .map(|(key, name_ord, id, doc)| Match {
                address: DocAddress::new(self.segment, doc),
                starts: key >> 64 == 0,
                popularity: self.popularity.first(doc).unwrap_or(0.0),
                name_key: names.get(&name_ord).cloned().unwrap_or_default(),
                id,
            })
            .collect()
    }
}
