//! A typo-tolerant word whose first letter is never a typo (Elasticsearch's `prefix_length:
//! 1`; Meilisearch counts a typo there as two). Finding the near terms walks the term
//! dictionary with a Levenshtein automaton: with the first letter free it enters every
//! branch of the dictionary, which at a million movies (nine segments, two fields) was a
//! quarter of all search time; with it fixed it enters one.

use levenshtein_automata::{Distance, LevenshteinAutomatonBuilder, DFA, SINK_STATE};
use std::sync::{Arc, OnceLock};
use tantivy::query::{
    AutomatonWeight, BitSetDocSet, ConstScorer, EmptyScorer, EnableScoring, Explanation, Query,
    Scorer, Weight,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED};
use tantivy_common::BitSet;
use tantivy_fst::Automaton;

/// The terms of `field` within `typos` edits of `word` (a transposition is one), or that
/// start with such a term when `prefix`; their first letter is the word's.
#[derive(Clone, Debug)]
pub(super) struct NearWord {
    pub(super) field: Field,
    pub(super) word: String,
    pub(super) typos: u8,
    pub(super) prefix: bool,
}

fn builder(typos: u8) -> &'static LevenshteinAutomatonBuilder {
    static BUILDERS: [OnceLock<LevenshteinAutomatonBuilder>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let typos = typos.min(2);
    BUILDERS[usize::from(typos)].get_or_init(|| LevenshteinAutomatonBuilder::new(typos, true))
}

impl Query for NearWord {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let mut chars = self.word.chars();
        let first = chars.next().map(String::from).unwrap_or_default();
        let rest = chars.as_str();
        let builder = builder(self.typos);
        let rest = if self.prefix {
            builder.build_prefix_dfa(rest)
        } else {
            builder.build_dfa(rest)
        };
        let automaton = FirstLetterFixed {
            first: first.into_bytes(),
            rest,
        };
        Ok(Box::new(NearWordWeight {
            field: self.field,
            terms: AutomatonWeight::new(self.field, Arc::new(automaton)),
        }))
    }
}

/// The documents of the near terms, every one scored alike (the boost), as tantivy's
/// automaton weight scores them, but not always gathered in a bit set of the whole segment:
/// no near term is no documents, one is its postings read as they go, and a few rare ones a
/// sorted list. A bit set of a million documents per segment and field was most of the cost
/// of a word that few movies have.
struct NearWordWeight {
    field: Field,
    terms: AutomatonWeight<FirstLetterFixed>,
}

impl Weight for NearWordWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let infos = self.terms.get_match_term_infos(reader)?;
        let index = reader.inverted_index(self.field)?;
        let docs: u64 = infos.iter().map(|t| u64::from(t.doc_freq)).sum();
        Ok(match infos.as_slice() {
            [] => Box::new(EmptyScorer),
            [one] => Box::new(ConstScorer::new(
                index.read_postings_from_terminfo(one, IndexRecordOption::Basic)?,
                boost,
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
                Box::new(ConstScorer::new(ListDocSet { docs: list, at: 0 }, boost))
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
                Box::new(ConstScorer::new(BitSetDocSet::from(set), boost))
            }
        })
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.terms.explain(reader, doc)
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

/// The first letter's bytes exactly, then the rest of the word by its automaton.
struct FirstLetterFixed {
    first: Vec<u8>,
    rest: DFA,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// This many bytes of the first letter read.
    First(usize),
    /// In the rest's automaton.
    Rest(u32),
    /// Cannot match.
    Dead,
}

impl Automaton for FirstLetterFixed {
    type State = State;

    fn start(&self) -> State {
        if self.first.is_empty() {
            State::Rest(self.rest.initial_state())
        } else {
            State::First(0)
        }
    }

    fn is_match(&self, state: &State) -> bool {
        match state {
            State::Rest(s) => matches!(self.rest.distance(*s), Distance::Exact(_)),
            _ => false,
        }
    }

    fn can_match(&self, state: &State) -> bool {
        match state {
            State::First(_) => true,
            State::Rest(s) => *s != SINK_STATE,
            State::Dead => false,
        }
    }

    fn accept(&self, state: &State, byte: u8) -> State {
        match *state {
            State::First(read) if self.first.get(read) == Some(&byte) => {
                if read + 1 == self.first.len() {
                    State::Rest(self.rest.initial_state())
                } else {
                    State::First(read + 1)
                }
            }
            State::Rest(s) => State::Rest(self.rest.transition(s, byte)),
            _ => State::Dead,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(word: &str, typos: u8, prefix: bool, term: &str) -> bool {
        let mut chars = word.chars();
        let first = chars.next().map(String::from).unwrap_or_default();
        let b = builder(typos);
        let rest = if prefix {
            b.build_prefix_dfa(chars.as_str())
        } else {
            b.build_dfa(chars.as_str())
        };
        let a = FirstLetterFixed {
            first: first.into_bytes(),
            rest,
        };
        let mut state = a.start();
        for &byte in term.as_bytes() {
            state = a.accept(&state, byte);
        }
        a.is_match(&state)
    }

    #[test]
    fn typos_anywhere_but_the_first_letter() {
        assert!(matches("hitchcok", 2, false, "hitchcock"));
        assert!(matches("kurosaaw", 2, false, "kurosawa"));
        assert!(
            matches("shadwo", 1, false, "shadow"),
            "a transposition is one typo"
        );
        assert!(
            !matches("gitchcock", 2, false, "hitchcock"),
            "not the first letter"
        );
        assert!(!matches("hitchcok", 0, false, "hitchcock"));
        assert!(matches("moun", 0, true, "mountain"));
        assert!(!matches("moun", 0, false, "mountain"));
        assert!(matches("mountian", 1, true, "mountains"));
        assert!(!matches("nountain", 1, true, "mountains"));
        assert!(
            matches("émile", 1, false, "émil"),
            "a first letter of two bytes"
        );
        assert!(!matches("émile", 1, false, "èmile"));
    }
}
