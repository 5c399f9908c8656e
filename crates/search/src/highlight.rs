//! Highlights: the words of a field that a (typo-tolerant) query matched, in `<em>`.

use crate::analysis::{each_word, runs};

/// The edit distance a query word of this length may be off by: none for short words, one
/// from five letters, two from eight (the same rule the index uses).
pub(crate) fn allowed_typos(word: &str) -> u8 {
    match word.chars().count() {
        0..=4 => 0,
        5..=7 => 1,
        _ => 2,
    }
}

/// The Damerau-Levenshtein (optimal string alignment) distance of each prefix of `a` to `b`:
/// `[d(a[..0], b), d(a[..1], b), ..., d(a, b)]`, from one table kept three rows at a time.
fn prefix_distances(a: &[char], b: &[char]) -> Vec<usize> {
    let width = b.len() + 1;
    // Rows i - 2, i - 1 and i of the table, one after another.
    let mut rows = vec![0usize; 3 * width];
    let mut last_column = Vec::with_capacity(a.len() + 1);
    for (j, cell) in rows[2 * width..].iter_mut().enumerate() {
        *cell = j;
    }
    last_column.push(b.len());
    for i in 1..=a.len() {
        rows.copy_within(width.., 0);
        let (done, row) = rows.split_at_mut(2 * width);
        let (before, above) = done.split_at(width);
        row[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (above[j] + 1).min(row[j - 1] + 1).min(above[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            row[j] = best;
        }
        last_column.push(row[b.len()]);
    }
    last_column
}

/// Whether `word` (from a field, as the analysis gives it) matches `query` (a query word);
/// `prefix` for the query's last word, which may be unfinished.
pub(crate) fn matches(word: &str, query: &str, prefix: bool) -> bool {
    if word == query || (prefix && word.starts_with(query)) {
        return true;
    }
    let typos = usize::from(allowed_typos(query));
    if typos == 0 {
        return false;
    }
    let (w, q): (Vec<char>, Vec<char>) = (word.chars().collect(), query.chars().collect());
    // The first letter is never a typo, as in the search itself (`tantivy_index/word/`,
    // Elasticsearch's `prefix_length: 1`): the rest of each is compared.
    if w.first() != q.first() {
        return false;
    }
    let (w, q) = (&w[1..], &q[1..]);
    if !prefix && w.len().abs_diff(q.len()) > typos {
        return false;
    }
    let distances = prefix_distances(w, q);
    if distances[w.len()] <= typos {
        return true;
    }
    // The query word against the beginning of the field word, as long as it, or up to
    // `typos` letters longer or shorter (a typo may add or drop a letter).
    prefix
        && w.len() >= q.len()
        && (q.len().saturating_sub(typos)..=(q.len() + typos).min(w.len()))
            .any(|n| distances[n] <= typos)
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
    // Each word's bytes in `text`, and whether it or one of its runs matched.
    let mut ranges: Vec<(std::ops::Range<usize>, bool)> = Vec::new();
    each_word(text, |word, range| {
        let matched = hit(word) || runs(word).into_iter().any(hit);
        ranges.push((range, matched));
    });
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

    /// The plain table, for the test below.
    fn distance(a: &str, b: &str) -> usize {
        let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
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

    proptest::proptest! {
        /// The rolling rows give the whole table's distance for every prefix.
        #[test]
        fn prefix_distances_are_the_table_s(a in "[abc]{0,9}", b in "[abc]{0,9}") {
            let chars: Vec<char> = a.chars().collect();
            let found = prefix_distances(&chars, &b.chars().collect::<Vec<_>>());
            for n in 0..=chars.len() {
                let prefix: String = chars[..n].iter().collect();
                proptest::prop_assert_eq!(found[n], distance(&prefix, &b));
            }
        }
    }

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
        // Never a typo in the first letter, as the search finds words.
        assert!(matches("hitchcock", "hitchcok", false));
        assert!(!matches("hitchcock", "gitchcock", false));
        assert!(!matches("vertigo", "bertigo", true));
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
