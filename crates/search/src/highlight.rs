//! Highlights: the words of a field that a (typo-tolerant) query matched, in `<em>`.

use crate::analysis::terms;

/// The edit distance a query word of this length may be off by: none for short words, one
/// from five letters, two from eight (the same rule the index uses).
pub(crate) fn allowed_typos(word: &str) -> u8 {
    match word.chars().count() {
        0..=4 => 0,
        5..=7 => 1,
        _ => 2,
    }
}

/// Damerau-Levenshtein (optimal string alignment) distance.
fn distance(a: &[char], b: &[char]) -> usize {
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// Whether `word` (lower case, from a field) matches `query` (lower case, from the query);
/// `prefix` for the query's last word, which may be unfinished.
pub(crate) fn matches(word: &str, query: &str, prefix: bool) -> bool {
    let typos = usize::from(allowed_typos(query));
    let (w, q): (Vec<char>, Vec<char>) = (word.chars().collect(), query.chars().collect());
    if distance(&w, &q) <= typos {
        return true;
    }
    prefix && w.len() >= q.len() && {
        // The query word against the beginning of the field word, as long as it, or one
        // letter longer or shorter (a typo may add or drop a letter).
        (q.len().saturating_sub(typos)..=(q.len() + typos).min(w.len()))
            .any(|n| distance(&w[..n], &q) <= typos)
    }
}

/// `text` with every word matched by a query word wrapped in `<em>`, or `None` if none was.
/// Words are the analysis's ([`crate::analysis`]): a word matches when it, or one of its
/// letter and digit runs, matches a query word.
pub(crate) fn highlight(text: &str, query: &[String]) -> Option<String> {
    let last = query.len().saturating_sub(1);
    let hit = |term: &str| {
        query
            .iter()
            .enumerate()
            .any(|(i, q)| matches(term, q, i == last))
    };
    // Each word's bytes in `text`, once: a word's runs share its range.
    let mut ranges: Vec<(std::ops::Range<usize>, bool)> = Vec::new();
    for term in terms(text) {
        let matched = hit(&term.text);
        match ranges.last_mut() {
            Some((range, m)) if *range == term.offsets => *m |= matched,
            _ => ranges.push((term.offsets, matched)),
        }
    }
    if !ranges.iter().any(|(_, m)| *m) {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut at = 0;
    for (range, matched) in ranges {
        // Two words from one character (a fraction, say) share its bytes: marked once.
        if !matched || range.start < at {
            continue;
        }
        out.push_str(&text[at..range.start]);
        out.push_str("<em>");
        out.push_str(&text[range.clone()]);
        out.push_str("</em>");
        at = range.end;
    }
    out.push_str(&text[at..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_and_prefixes_are_highlighted() {
        let q = vec!["hitchcok".to_owned()];
        assert_eq!(
            highlight("Alfred Hitchcock", &q).as_deref(),
            Some("Alfred <em>Hitchcock</em>")
        );
        let q = vec!["the".to_owned(), "godf".to_owned()];
        assert_eq!(
            highlight("The Godfather: Part II", &q).as_deref(),
            Some("<em>The</em> <em>Godfather</em>: Part II")
        );
        assert_eq!(highlight("Vertigo", &["psycho".to_owned()]), None);
    }

    #[test]
    fn punctuation_diacritics_and_digit_runs_are_highlighted_in_the_original_text() {
        let q = |words: &[&str]| words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            highlight("Schindler's List", &q(&["schindlers", "list"])).as_deref(),
            Some("<em>Schindler</em>'s <em>List</em>")
        );
        assert_eq!(
            highlight("Amélie", &q(&["amelie"])).as_deref(),
            Some("<em>Amélie</em>")
        );
        assert_eq!(
            highlight("Alien³", &q(&["alien", "3"])).as_deref(),
            Some("<em>Alien³</em>")
        );
    }
}
