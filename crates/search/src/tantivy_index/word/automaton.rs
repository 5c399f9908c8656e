//! The automaton of a word's near terms: the first letter's bytes exactly, then the rest of
//! the word within its typos (a Levenshtein automaton, as tantivy's fuzzy query builds it).

use levenshtein_automata::{Distance, LevenshteinAutomatonBuilder, DFA, SINK_STATE};
use std::sync::OnceLock;
use tantivy_fst::Automaton;

/// The automaton builder for `typos` edits (a transposition is one), made once.
pub(super) fn builder(typos: u8) -> &'static LevenshteinAutomatonBuilder {
    static BUILDERS: [OnceLock<LevenshteinAutomatonBuilder>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let typos = typos.min(2);
    BUILDERS[usize::from(typos)].get_or_init(|| LevenshteinAutomatonBuilder::new(typos, true))
}

/// The first letter's bytes exactly, then the rest of the word by its automaton.
pub(super) struct FirstLetterFixed {
    pub(super) first: Vec<u8>,
    pub(super) rest: DFA,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum State {
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
