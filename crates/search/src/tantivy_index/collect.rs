//! Collectors: every match of a search (for its total and facets) and the top of a page.

use crate::{SearchRequest, SearchSort};
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
    /// (key, doc, score): the ids are read only for the hits kept (see `kept`).
    pub(super) hits: Vec<(u64, DocId, Score)>,
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
        self.hits.push((key, doc, score));
    }

    fn harvest(mut self) -> Ranked {
        let total = self.hits.len() as u64;
        let kept = self.kept();
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
