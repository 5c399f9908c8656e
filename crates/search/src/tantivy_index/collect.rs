//! The search collector: the top of a page, with the total and the facets over every hit.

use crate::{SearchRequest, SearchSort};
use std::collections::HashMap;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

/// The text of each of `ords` (any order, repeats allowed) in `column`'s dictionary.
pub(super) fn terms_of(
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

/// The order of two ranked hits under `sort`: the sort key, then the id.
pub(super) fn ranked_order(
    sort: SearchSort,
    a: &RankedMatch,
    b: &RankedMatch,
) -> std::cmp::Ordering {
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
pub(super) fn ordered_bits(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// One hit kept for the page: where it is, its score, its sort key, its id.
pub(super) struct RankedMatch {
    pub(super) address: DocAddress,
    pub(super) score: Score,
    /// The sort key as an ascending `u64` (descending orders are complemented); for the name
    /// order it is the segment's term ordinal, so `name_key` carries the order across segments.
    pub(super) key: u64,
    /// The id as two numbers: their order is the order of the UUIDs' text.
    pub(super) id: (u64, u64),
    /// The lower-case name, only for the name order.
    pub(super) name_key: String,
}

/// The first `keep` hits in each segment, the number of hits, and the facets over all of them.
#[derive(Default)]
pub(super) struct Ranked {
    pub(super) list: Vec<RankedMatch>,
    pub(super) total: u64,
    pub(super) genres: HashMap<String, u64>,
    pub(super) histogram: [u64; 10],
}

/// Keeps only as many hits per segment as the page needs (`page * per_page`), chosen in linear
/// time, while the total and the facets still count every hit. The cost of a search is then the
/// matching itself, not sorting and materialising every hit (which grew with the catalogue).
pub(super) struct TopMatches {
    pub(super) keep: usize,
    pub(super) sort: SearchSort,
    pub(super) bounds: Bounds,
    /// Count genres and the histogram.
    pub(super) facets: bool,
    /// Whether the hits' scores are read: only a search with text shows them.
    pub(super) scoring: bool,
}

/// The filter's inclusive ranges on the IMDb score and the popularity.
#[derive(Clone, Copy)]
pub(super) struct Bounds {
    pub(super) imdb_score: (f64, f64),
    pub(super) popularity: Option<(f64, f64)>,
}

impl Bounds {
    pub(super) fn of(request: &SearchRequest) -> Self {
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

pub(super) struct SegmentTop {
    pub(super) segment: SegmentOrdinal,
    pub(super) keep: usize,
    pub(super) sort: SearchSort,
    pub(super) bounds: Bounds,
    pub(super) facets: bool,
    /// Whether a hit's IMDb score is read at all: for its range, the histogram or the order.
    pub(super) reads_score: bool,
    pub(super) id_hi: tantivy::columnar::Column<u64>,
    pub(super) id_lo: tantivy::columnar::Column<u64>,
    pub(super) name_key: Option<tantivy::columnar::StrColumn>,
    pub(super) genre: Option<tantivy::columnar::StrColumn>,
    pub(super) imdb_score: tantivy::columnar::Column<f64>,
    pub(super) popularity: tantivy::columnar::Column<f64>,
    /// (key, doc, score): the ids are read only for the hits kept (see `kept`). Cut back to
    /// the first `keep` whenever it holds [`BUFFERED`] times as many.
    pub(super) hits: Vec<(u64, DocId, Score)>,
    /// No hit with a larger key can be among the first `keep`: `keep` hits at or below it
    /// were seen (`u64::MAX` until then).
    pub(super) worst: u64,
    /// The hits, all of them.
    pub(super) total: u64,
    pub(super) genre_counts: Vec<u64>,
    pub(super) histogram: [u64; 10],
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
            facets: self.facets,
            reads_score: self.facets
                || self.bounds.imdb_score != (f64::NEG_INFINITY, f64::INFINITY)
                || matches!(self.sort, SearchSort::ImdbScore { .. }),
            id_hi: ff.u64("id_hi")?,
            id_lo: ff.u64("id_lo")?,
            name_key: ff.str("name_key")?,
            genre,
            imdb_score: ff.f64("imdb_score")?,
            popularity: ff.f64("popularity")?,
            hits: Vec::new(),
            worst: u64::MAX,
            total: 0,
            genre_counts: vec![0; genre_terms],
            histogram: [0; 10],
        })
    }

    fn requires_scoring(&self) -> bool {
        // A hit shows its score whenever the search has text, whatever the order; without
        // text tantivy hands the hits over in blocks, unscored.
        self.scoring
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

/// How many times `keep` hits a segment's buffer holds before it is cut back to the first
/// `keep`: a search of a quarter of a million hits kept and sorted them all.
const BUFFERED: usize = 8;

impl SegmentTop {
    /// The first `keep` hits in (key, id) order, with their ids: (key, id_hi, id_lo, doc,
    /// score). The ids are read for the hits kept and for those tied with the last one kept,
    /// not for every hit: those two column reads were a good part of a search's cost.
    fn kept(&mut self) -> Vec<(u64, u64, u64, DocId, Score)> {
        let with_id = |&(key, doc, score): &(u64, DocId, Score)| {
            let hi = self.id_hi.first(doc).unwrap_or(0);
            let lo = self.id_lo.first(doc).unwrap_or(0);
            (key, hi, lo, doc, score)
        };
        if self.keep == 0 {
            return Vec::new();
        }
        if self.hits.len() <= self.keep {
            return self.hits.iter().map(with_id).collect();
        }
        self.hits.select_nth_unstable_by_key(self.keep - 1, |h| h.0);
        let bound = self.hits[self.keep - 1].0;
        // Every key below the bound is kept; the ids choose among the hits at the bound.
        let mut kept: Vec<_> = self
            .hits
            .iter()
            .filter(|h| h.0 < bound)
            .map(with_id)
            .collect();
        let mut tied: Vec<_> = self
            .hits
            .iter()
            .filter(|h| h.0 == bound)
            .map(with_id)
            .collect();
        let room = self.keep - kept.len();
        if tied.len() > room {
            tied.select_nth_unstable_by(room - 1, |a, b| (a.1, a.2).cmp(&(b.1, b.2)));
            tied.truncate(room);
        }
        kept.append(&mut tied);
        kept
    }
}

impl SegmentCollector for SegmentTop {
    type Fruit = Ranked;

    fn collect(&mut self, doc: DocId, score: Score) {
        let imdb_score = if self.reads_score {
            self.imdb_score.first(doc).unwrap_or(0.0)
        } else {
            0.0
        };
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
        if self.facets {
            // The bucket is the score's whole part: a float-to-int cast truncates (the same as
            // `floor` for scores, which are never negative) and saturates, without `floor`'s
            // call, which was 4% of a search with a quarter of a million hits.
            self.histogram[(imdb_score as usize).min(9)] += 1;
            if let Some(genre) = &self.genre {
                for ord in genre.term_ords(doc) {
                    if let Some(count) = self.genre_counts.get_mut(ord as usize) {
                        *count += 1;
                    }
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
        self.total += 1;
        if key > self.worst || self.keep == 0 {
            return;
        }
        self.hits.push((key, doc, score));
        if self.hits.len() >= self.keep.saturating_mul(BUFFERED).max(1_024) {
            let kept = self.kept();
            self.worst = kept.iter().map(|k| k.0).max().unwrap_or(u64::MAX);
            self.hits = kept
                .into_iter()
                .map(|(key, _, _, doc, score)| (key, doc, score))
                .collect();
        }
    }

    fn harvest(mut self) -> Ranked {
        let total = self.total;
        let kept = self.kept();
        let names = match (&self.name_key, self.sort) {
            (Some(column), SearchSort::Name { descending }) => terms_of(
                column,
                kept.iter().map(|h| if descending { !h.0 } else { h.0 }),
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
        let list = kept
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
