//! Searches sorted by a field whose total is counted to a bound: the first hits are found by
//! walking the segment's documents in the sort's order, not by reading the sort key of every
//! hit. A filter that a tenth of a million movies pass then costs the walk to its twentieth
//! hit (a few hundred documents) plus the count to the bound, where it cost a read of two
//! columns and a place in the top for each of the hundred thousand.

mod matching;

use super::collect::{ordered_bits, terms_of, Bounds, Ranked, RankedMatch, SegmentTop, TopMatches};
use super::{index_error, Inner};
use crate::{SearchError, SearchRequest, SearchSort};
use matching::{ColumnFilter, Matching, Ranges};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::ColumnValues;
use tantivy::index::SegmentId;
use tantivy::query::{EnableScoring, Query, Weight};
use tantivy::{DocAddress, DocId, Score, Searcher, SegmentReader};

/// A field a search can be sorted by, as kept in [`SortOrders`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum SortField {
    ImdbScore,
    Popularity,
    Name,
}

impl SortField {
    fn of(sort: SearchSort) -> Option<(Self, bool)> {
        match sort {
            SearchSort::Relevance => None,
            SearchSort::ImdbScore { descending } => Some((Self::ImdbScore, descending)),
            SearchSort::Popularity { descending } => Some((Self::Popularity, descending)),
            SearchSort::Name { descending } => Some((Self::Name, descending)),
        }
    }
}

/// A segment's documents in ascending (key, id) order.
type Order = Arc<Vec<DocId>>;

/// Each segment's documents in ascending (key, id) order, one list per sort field, made the
/// first time a search needs it and kept while the segment is searched (4 bytes a document:
/// 12 MB for the three fields at a million movies). Segments are immutable, so a list stays
/// true for its segment; a deleted document is left out by the walk, not by the list.
#[derive(Default)]
pub(super) struct SortOrders {
    lists: Mutex<HashMap<(SegmentId, SortField), Order>>,
}

/// The sort key columns of a segment, read without the optional-value index.
struct Keys {
    field: SortField,
    number: Option<Arc<dyn ColumnValues<f64>>>,
    name: Option<Arc<dyn ColumnValues<u64>>>,
}

impl Keys {
    fn of(reader: &SegmentReader, field: SortField) -> tantivy::Result<Self> {
        let ff = reader.fast_fields();
        let number = |name: &str| -> tantivy::Result<_> {
            Ok(Some(ff.f64(name)?.first_or_default_col(0.0)))
        };
        Ok(match field {
            SortField::ImdbScore => Self {
                field,
                number: number("imdb_score")?,
                name: None,
            },
            SortField::Popularity => Self {
                field,
                number: number("popularity")?,
                name: None,
            },
            SortField::Name => Self {
                field,
                number: None,
                name: ff
                    .str("name_key")?
                    .map(|c| c.ords().clone().first_or_default_col(0)),
            },
        })
    }

    /// The ascending key of `doc`: the bits of a number in order, or the name's ordinal.
    fn key(&self, doc: DocId) -> u64 {
        match (self.field, &self.number, &self.name) {
            (SortField::Name, _, Some(names)) => names.get_val(doc),
            (_, Some(numbers), _) => ordered_bits(numbers.get_val(doc)),
            _ => 0,
        }
    }
}

impl SortOrders {
    /// `reader`'s documents in ascending (key, id) order.
    fn list(&self, reader: &SegmentReader, keys: &Keys) -> tantivy::Result<Order> {
        let slot = (reader.segment_id(), keys.field);
        if let Some(list) = self.lists.lock().ok().and_then(|l| l.get(&slot).cloned()) {
            return Ok(list);
        }
        let ff = reader.fast_fields();
        let hi = ff.u64("id_hi")?.first_or_default_col(0);
        let lo = ff.u64("id_lo")?.first_or_default_col(0);
        let mut order: Vec<(u64, u64, u64, DocId)> = (0..reader.max_doc())
            .map(|doc| (keys.key(doc), hi.get_val(doc), lo.get_val(doc), doc))
            .collect();
        order.sort_unstable();
        let list = Arc::new(order.into_iter().map(|(.., doc)| doc).collect::<Vec<_>>());
        if let Ok(mut lists) = self.lists.lock() {
            lists.insert(slot, list.clone());
        }
        Ok(list)
    }

    /// Forgets the lists of segments no longer searched (merged away, or a new generation).
    fn keep_only(&self, searcher: &Searcher) {
        if let Ok(mut lists) = self.lists.lock() {
            let live: Vec<SegmentId> = searcher
                .segment_readers()
                .iter()
                .map(SegmentReader::segment_id)
                .collect();
            lists.retain(|(segment, _), _| live.contains(segment));
        }
    }
}

impl Inner {
    /// A search sorted by a field, its total counted to `bound`: each segment's first hits
    /// found by walking its documents in the sort's order (see the module's comment).
    pub(super) fn search_sorted(
        &self,
        searcher: &Searcher,
        request: &SearchRequest,
        query: &dyn Query,
        keep: usize,
        bound: u64,
    ) -> Result<Option<Ranked>, SearchError> {
        let Some((field, descending)) = SortField::of(request.sort) else {
            return Ok(None);
        };
        self.sort_orders.keep_only(searcher);
        let unscored = query
            .weight(EnableScoring::disabled_from_searcher(searcher))
            .map_err(index_error)?;
        let scored = match request.q {
            Some(_) => Some(
                query
                    .weight(EnableScoring::enabled_from_searcher(searcher))
                    .map_err(index_error)?,
            ),
            None => None,
        };
        let bounds = Bounds::of(request);
        let mut ranked = Ranked::default();
        for (ord, reader) in searcher.segment_readers().iter().enumerate() {
            // Counted one past the bound: more than the bound is how "at least" is known.
            let up_to = (bound + 1).saturating_sub(ranked.total);
            let keys = Keys::of(reader, field).map_err(index_error)?;
            let ranges = Ranges::of(reader, bounds).map_err(index_error)?;
            let columns = ColumnFilter::of(reader, request, ranges).map_err(index_error)?;
            let walked = match &columns {
                Some(None) => continue,
                Some(Some(filter)) => {
                    let counted = filter
                        .count(unscored.as_ref(), reader, up_to)
                        .map_err(index_error)?;
                    ranked.total += counted;
                    if up_to > 0 && counted == 0 {
                        continue;
                    }
                    // Fewer than counted to: the segment's hits, all of them.
                    let hits = if counted < up_to { counted } else { u64::MAX };
                    let hit = |doc| filter.hit(doc);
                    self.walk(reader, &keys, hits, &hit, keep, descending)
                        .map_err(index_error)?
                }
                None => None,
            };
            let kept = match walked {
                Some(kept) => kept,
                None => {
                    let ranges = Ranges::of(reader, bounds).map_err(index_error)?;
                    // A column filter's walk that gave up has counted already.
                    let up_to = if columns.is_some() { 0 } else { up_to };
                    let matching = Matching::of(unscored.as_ref(), reader, ranges, up_to)
                        .map_err(index_error)?;
                    ranked.total += matching.counted;
                    if matching.docs.len() == 0 {
                        continue;
                    }
                    let hits = matching.docs.len() as u64;
                    let hit = |doc| matching.hit(doc);
                    match self
                        .walk(reader, &keys, hits, &hit, keep, descending)
                        .map_err(index_error)?
                    {
                        Some(kept) => kept,
                        None => self.select(ord as u32, reader, request, &matching, keep)?,
                    }
                }
            };
            let mut kept = kept;
            kept.sort_unstable();
            let scores = match &scored {
                Some(weight) => scores_of(weight.as_ref(), reader, &kept).map_err(index_error)?,
                None => vec![0.0; kept.len()],
            };
            ranked
                .list
                .extend(self.matches(ord as u32, reader, &keys, descending, &kept, &scores));
        }
        Ok(Some(ranked))
    }

    /// The first `keep` hits of a segment in sort order, walking the segment's documents in
    /// that order; `None` when the walk would visit more documents than there are hits, for a
    /// narrow filter, where choosing among the hits costs less.
    /// `hits` is how many documents `hit` takes (`u64::MAX`: more than were counted).
    fn walk(
        &self,
        reader: &SegmentReader,
        keys: &Keys,
        hits: u64,
        hit: &dyn Fn(DocId) -> bool,
        keep: usize,
        descending: bool,
    ) -> tantivy::Result<Option<Vec<DocId>>> {
        let hits = usize::try_from(hits).unwrap_or(usize::MAX);
        let docs = reader.max_doc() as usize;
        // The walk meets a hit every docs / hits documents; beyond the hits' own number of
        // steps, choosing among the hits is cheaper.
        if keep.saturating_mul(docs) / hits.max(1) > hits {
            return Ok(None);
        }
        let order = self.sort_orders.list(reader, keys)?;
        // A walk that has not found its hits by then gives up: the ranges left fewer hits
        // than counted, or they lie at the far end of the order. Of hits not counted (the
        // bound was reached), an eighth of the segment.
        let mut budget = if hits > docs { docs / 8 } else { hits }.max(keep.saturating_mul(4));
        let mut kept = Vec::with_capacity(keep);
        if descending {
            // Largest key first, ties by ascending id: the list's runs of one key, from the
            // last run back, each read forwards.
            let mut end = order.len();
            while end > 0 && kept.len() < keep {
                let key = keys.key(order[end - 1]);
                let mut start = end - 1;
                while start > 0 && keys.key(order[start - 1]) == key {
                    start -= 1;
                }
                for &doc in &order[start..end] {
                    if hit(doc) {
                        kept.push(doc);
                        if kept.len() == keep {
                            break;
                        }
                    }
                }
                budget = budget.saturating_sub(end - start);
                if budget == 0 && kept.len() < keep {
                    return Ok(None);
                }
                end = start;
            }
        } else {
            for &doc in order.iter() {
                if kept.len() == keep {
                    break;
                }
                if budget == 0 {
                    return Ok(None);
                }
                budget -= 1;
                if hit(doc) {
                    kept.push(doc);
                }
            }
        }
        Ok(Some(kept))
    }

    /// The first `keep` hits of a segment chosen among all its hits, by the search collector.
    fn select(
        &self,
        ord: u32,
        reader: &SegmentReader,
        request: &SearchRequest,
        matching: &Matching,
        keep: usize,
    ) -> Result<Vec<DocId>, SearchError> {
        let collector = TopMatches {
            keep,
            sort: request.sort,
            bounds: matching.ranges.bounds,
            facets: false,
            scoring: false,
        };
        let mut top: SegmentTop = collector.for_segment(ord, reader).map_err(index_error)?;
        matching.each(|doc| top.collect(doc, 0.0));
        Ok(top
            .harvest()
            .list
            .iter()
            .map(|m| m.address.doc_id)
            .collect())
    }

    /// The kept documents (ascending) as ranked matches, keyed as the collector keys them.
    fn matches(
        &self,
        ord: u32,
        reader: &SegmentReader,
        keys: &Keys,
        descending: bool,
        kept: &[DocId],
        scores: &[Score],
    ) -> Vec<RankedMatch> {
        let ff = reader.fast_fields();
        let hi = ff.u64("id_hi").ok().map(|c| c.first_or_default_col(0));
        let lo = ff.u64("id_lo").ok().map(|c| c.first_or_default_col(0));
        let names = match (keys.field, ff.str("name_key").ok().flatten()) {
            (SortField::Name, Some(column)) => {
                terms_of(&column, kept.iter().map(|&doc| keys.key(doc)))
            }
            _ => HashMap::new(),
        };
        kept.iter()
            .zip(scores)
            .map(|(&doc, &score)| {
                let key = keys.key(doc);
                RankedMatch {
                    address: DocAddress::new(ord, doc),
                    score,
                    key: if descending { !key } else { key },
                    id: (
                        hi.as_ref().map_or(0, |c| c.get_val(doc)),
                        lo.as_ref().map_or(0, |c| c.get_val(doc)),
                    ),
                    name_key: names.get(&key).cloned().unwrap_or_default(),
                }
            })
            .collect()
    }
}

/// The relevance score of each of `docs` (ascending), for hits shown with their score.
fn scores_of(
    weight: &dyn Weight,
    reader: &SegmentReader,
    docs: &[DocId],
) -> tantivy::Result<Vec<Score>> {
    let mut scorer = weight.scorer(reader, 1.0)?;
    Ok(docs
        .iter()
        .map(|&doc| {
            if scorer.doc() <= doc && scorer.seek(doc) == doc {
                scorer.score()
            } else {
                0.0
            }
        })
        .collect())
}
