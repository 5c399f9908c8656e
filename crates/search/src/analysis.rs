//! The one text analysis of search, written once: the tantivy tokenizer, the documents the
//! Elasticsearch adapter sends (pre-analysed fields) and the query side all use it, so both
//! engines match the same words (docs/decisions/0001-one-text-analysis.md).
//!
//! A text becomes words by Unicode compatibility decomposition (NFKD: `³` is `3`, `ﬁ` is
//! `fi`, full-width letters are plain), lower case, dropping combining marks (diacritics:
//! `é` is `e`), and splitting on anything that is then not a letter or a digit (apostrophes,
//! dots, middle dots, hyphens, colons, white space). "Schindler's" is `schindler s`,
//! "E.T." is `e t`, "WALL·E" is `wall e`, "Amélie" is `amelie`, "Alien³" is `alien3`.
//!
//! The index holds more terms than the words: a word that mixes letters and digits is also
//! indexed as its runs (`alien3`, `alien`, `3`), so "alien 3" and "alien3" both find
//! "Alien³", and "seven" still finds "Se7en" with one typo.

use std::ops::Range;
use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// Names the analysis in the index: an index built with another is rebuilt (tantivy: its
/// schema names the tokenizer; Elasticsearch: the template's `_meta.analysis`).
pub const ANALYSIS: &str = "moviedb-text-1";

/// Calls `emit` with each word of `text` (see the module documentation) and the byte range
/// of the original text it came from.
pub(crate) fn each_word(text: &str, mut emit: impl FnMut(&str, Range<usize>)) {
    let mut word = String::new();
    // Where the word began, and where the last character that gave it a letter ended.
    let (mut start, mut end) = (0, 0);
    let mut flush = |word: &mut String, range: Range<usize>| {
        if !word.is_empty() {
            emit(word, range);
            word.clear();
        }
    };
    for (i, c) in text.char_indices() {
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                if word.is_empty() {
                    start = i;
                }
                word.push(c.to_ascii_lowercase());
                end = i + 1;
            } else {
                flush(&mut word, start..end);
            }
            continue;
        }
        // One character at a time, so every word knows where it came from; marks are
        // dropped, so the canonical reordering a whole-text NFKD would do changes nothing.
        decompose_compatible(c, |d| {
            for l in d.to_lowercase() {
                if is_combining_mark(l) {
                    continue;
                }
                if l.is_alphanumeric() {
                    if word.is_empty() {
                        start = i;
                    }
                    word.push(l);
                    end = i + c.len_utf8();
                } else {
                    flush(&mut word, start..end);
                }
            }
        });
    }
    flush(&mut word, start..end);
}

/// The words of `text`, as a query is read and as [`completions`] join them.
pub fn words(text: &str) -> Vec<String> {
    let mut all = Vec::new();
    each_word(text, |w, _| all.push(w.to_owned()));
    all
}

/// The runs of letters and of digits in `word`, when it has both (else none).
pub(crate) fn runs(word: &str) -> Vec<&str> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut digits = None;
    for (i, c) in word.char_indices() {
        let digit = c.is_numeric();
        if digits.is_some_and(|d| d != digit) {
            runs.push(&word[start..i]);
            start = i;
        }
        digits = Some(digit);
    }
    if runs.is_empty() {
        return runs;
    }
    runs.push(&word[start..]);
    runs
}

/// One term of an indexed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The term.
    pub text: String,
    /// Which word it belongs to (0-based); a word's runs share its position.
    pub position: usize,
    /// The bytes of the original text its word came from.
    pub offsets: Range<usize>,
}

/// The terms `text` is indexed under: each word, and each run of a word that mixes letters
/// and digits, at the word's position.
pub fn terms(text: &str) -> Vec<Term> {
    let mut all = Vec::new();
    let mut position = 0;
    each_word(text, |w, offsets| {
        all.push(Term {
            text: w.to_owned(),
            position,
            offsets: offsets.clone(),
        });
        for run in runs(w) {
            all.push(Term {
                text: run.to_owned(),
                position,
                offsets: offsets.clone(),
            });
        }
        position += 1;
    });
    all
}

/// The longest prefix of a term indexed for the typo-tolerant prefix match on Elasticsearch
/// (tantivy needs none: its fuzzy prefix automaton reads the terms). Longer query words are
/// still matched whole.
pub const MAX_PREFIX_CHARS: usize = 24;

/// Every prefix of each of `terms` (a text's [`terms`]), up to [`MAX_PREFIX_CHARS`]
/// characters, each once: Elasticsearch finds the query's last word in these with a fuzzy term
/// query, which is what tantivy's fuzzy prefix query does over the terms.
pub fn prefixes(terms: &[Term]) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for term in terms {
        let mut end = 0;
        for (n, c) in term.text.chars().enumerate() {
            if n == MAX_PREFIX_CHARS {
                break;
            }
            end += c.len_utf8();
            all.push(term.text[..end].to_owned());
        }
    }
    all.sort_unstable();
    all.dedup();
    all
}

/// What autocomplete matches a name by, from its [`words`]: each run of them to the end
/// ("the godfather part ii", "godfather part ii", "part ii", "ii"), joined by single spaces,
/// and the same over the letter and digit runs when a word has both; a prefix given as words
/// matches the name when one of these starts with it.
pub fn completions(words: &[String]) -> Vec<String> {
    let mut all = suffixes(words);
    if words.iter().any(|w| !runs(w).is_empty()) {
        let split: Vec<String> = words
            .iter()
            .flat_map(|w| {
                let parts = runs(w);
                if parts.is_empty() {
                    vec![w.clone()]
                } else {
                    parts.into_iter().map(str::to_owned).collect()
                }
            })
            .collect();
        all.extend(suffixes(&split));
    }
    all.sort_unstable();
    all.dedup();
    all
}

fn suffixes(words: &[String]) -> Vec<String> {
    (0..words.len()).map(|i| words[i..].join(" ")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(terms: Vec<Term>) -> Vec<String> {
        terms.into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn punctuation_splits_words_and_case_and_diacritics_fold() {
        assert_eq!(words("Schindler's List"), ["schindler", "s", "list"]);
        assert_eq!(
            words("E.T. the Extra-Terrestrial"),
            ["e", "t", "the", "extra", "terrestrial"]
        );
        assert_eq!(words("WALL·E"), ["wall", "e"]);
        assert_eq!(
            words("Singin' in the Rain"),
            ["singin", "in", "the", "rain"]
        );
        assert_eq!(words("Dr. Strangelove"), ["dr", "strangelove"]);
        assert_eq!(words("Amélie"), ["amelie"]);
        assert_eq!(words("AMÉLIE"), words("amelie"));
        assert_eq!(words("Alien³"), ["alien3"]);
        assert_eq!(
            words("Ｌéon: The Professional"),
            ["leon", "the", "professional"]
        );
        assert_eq!(words("İstanbul"), ["istanbul"]);
        assert_eq!(words("  ...  "), Vec::<String>::new());
    }

    #[test]
    fn words_that_mix_letters_and_digits_are_indexed_with_their_runs_too() {
        let t = terms("Alien³ R2-D2");
        assert_eq!(
            texts(t.clone()),
            ["alien3", "alien", "3", "r2", "r", "2", "d2", "d", "2"]
        );
        assert_eq!(t[1].position, 0);
        assert_eq!(t[3].position, 1);
        assert_eq!(
            t[0].offsets,
            0..7,
            "the superscript's two bytes are in the word"
        );
        assert_eq!(
            texts(terms("Se7en 2001")),
            ["se7en", "se", "7", "en", "2001"]
        );
    }

    #[test]
    fn prefixes_and_completions_cover_every_word_start() {
        assert_eq!(prefixes(&terms("Up Up")), ["u", "up"]);
        assert_eq!(
            completions(&words("The Godfather: Part II")),
            [
                "godfather part ii",
                "ii",
                "part ii",
                "the godfather part ii"
            ]
        );
        assert_eq!(completions(&words("Alien³")), ["3", "alien 3", "alien3"]);
        let long = "a".repeat(40);
        assert_eq!(prefixes(&terms(&long)).len(), MAX_PREFIX_CHARS);
    }
}
