//! Highlights: the words of a field that a (typo-tolerant) query matched, in `<em>`.

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
pub(crate) fn highlight(text: &str, query: &[String]) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 16);
    let mut found = false;
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String, found: &mut bool| {
        if word.is_empty() {
            return;
        }
        let lower = word.to_lowercase();
        let last = query.len().saturating_sub(1);
        if query
            .iter()
            .enumerate()
            .any(|(i, q)| matches(&lower, q, i == last))
        {
            *found = true;
            out.push_str("<em>");
            out.push_str(word);
            out.push_str("</em>");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out, &mut found);
            out.push(c);
        }
    }
    flush(&mut word, &mut out, &mut found);
    found.then_some(out)
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
}
