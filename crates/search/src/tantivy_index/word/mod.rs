//! A word of a search over the name and the director: typo-tolerant, its first letter never
//! a typo (Elasticsearch's `prefix_length: 1`; Meilisearch counts a typo there as two), the
//! last word of a search also a prefix. Finding the near terms walks the term dictionary with
//! a Levenshtein automaton (`automaton.rs`): with the first letter free it entered every
//! branch of the dictionary, which at a million movies (nine segments, two fields) was a
//! quarter of all search time; with it fixed it enters one. Scoring them is `scorers.rs`.

mod automaton;
mod scorers;
#[cfg(test)]
mod tests;

use automaton::{builder, FirstLetterFixed};
use scorers::{near_scorer, Plus, Sum};
use std::sync::Arc;
use tantivy::query::{
    AutomatonWeight, EmptyScorer, EnableScoring, Explanation, Query, Scorer, TermQuery, Weight,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, DocSet, Score, SegmentReader, Term};

/// One word of a search over the name and the director: in each field the terms within
/// `typos` edits of it (a transposition is one; never the first letter), or starting with
/// such a term when `prefix`, all scored alike (the field's `near` boost), plus BM25 of the
/// word itself (its `exact` boost). The score is the sum over both fields, as a boolean
/// query of the four clauses would give; but per segment no field without a near term
/// costs anything, and a field whose only near term is the word itself is one posting list
/// scored once, not the union of two lists of the same documents. A very common word
/// ("the": a quarter of a million movies) paid most of its time to that union.
#[derive(Clone, Debug)]
pub(super) struct Word {
    pub(super) word: String,
    pub(super) typos: u8,
    pub(super) prefix: bool,
    /// (field, near boost, exact boost).
    pub(super) fields: Vec<(Field, Score, Score)>,
}

impl Word {
    fn automaton(&self) -> FirstLetterFixed {
        let mut chars = self.word.chars();
        let first = chars.next().map(String::from).unwrap_or_default();
        let rest = chars.as_str();
        let builder = builder(self.typos);
        let rest = if self.prefix {
            builder.build_prefix_dfa(rest)
        } else {
            builder.build_dfa(rest)
        };
        FirstLetterFixed {
            first: first.into_bytes(),
            rest,
        }
    }
}

impl Query for Word {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let automaton = Arc::new(self.automaton());
        let fields = self
            .fields
            .iter()
            .map(|&(field, near, exact)| {
                let term = Term::from_field_text(field, &self.word);
                let weight =
                    TermQuery::new(term.clone(), IndexRecordOption::WithFreqs).weight(scoring)?;
                Ok(FieldWeight {
                    field,
                    near,
                    exact,
                    term,
                    exact_weight: weight,
                    terms: AutomatonWeight::new(field, automaton.clone()),
                })
            })
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(Box::new(WordWeight { fields }))
    }
}

struct FieldWeight {
    field: Field,
    near: Score,
    exact: Score,
    term: Term,
    exact_weight: Box<dyn Weight>,
    terms: AutomatonWeight<FirstLetterFixed>,
}

struct WordWeight {
    fields: Vec<FieldWeight>,
}

impl FieldWeight {
    /// This field's scorers in `reader`: none, one, or the near terms' and the word's.
    fn scorers(
        &self,
        reader: &SegmentReader,
        boost: Score,
        into: &mut Vec<Box<dyn Scorer>>,
    ) -> tantivy::Result<()> {
        let infos = self.terms.get_match_term_infos(reader)?;
        if infos.is_empty() {
            return Ok(());
        }
        let index = reader.inverted_index(self.field)?;
        let exact = index.get_term_info(&self.term)?;
        let exact_scorer = || self.exact_weight.scorer(reader, boost * self.exact);
        if let ([only], Some(word)) = (infos.as_slice(), &exact) {
            if only == word {
                into.push(Box::new(Plus {
                    inner: exact_scorer()?,
                    add: boost * self.near,
                }));
                return Ok(());
            }
        }
        into.push(near_scorer(reader, &index, &infos, boost * self.near)?);
        if exact.is_some() {
            into.push(exact_scorer()?);
        }
        Ok(())
    }
}

impl Weight for WordWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut parts = Vec::with_capacity(4);
        for field in &self.fields {
            field.scorers(reader, boost, &mut parts)?;
        }
        Ok(match parts.len() {
            0 => Box::new(EmptyScorer),
            1 => parts.pop().unwrap_or_else(|| Box::new(EmptyScorer)),
            _ => Box::new(Sum::new(parts)),
        })
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) == doc {
            Ok(Explanation::new("a word, near or exact", scorer.score()))
        } else {
            Err(tantivy::TantivyError::InvalidArgument(format!(
                "document {doc} does not match the word"
            )))
        }
    }
}
