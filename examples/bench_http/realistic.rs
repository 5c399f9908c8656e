//! The realistic catalogue (`--catalogue realistic`): names of one to four words drawn from a
//! vocabulary of 6 000 words with a Zipf-like frequency (the word of rank r is drawn in
//! proportion to 1/r), so "the", "of" and "love" are in a large share of names while most
//! words are rare, as in real titles. 20 000 directors, ten genres. The same movies on every
//! run; a name that its director already has gets a sequel number, so (name, director) stays
//! unique without a number in every name.

use crate::catalogue::{mix, GENRES};
use serde_json::{json, Value};
use std::sync::OnceLock;

/// The most frequent title words, in rank order; the rest of the vocabulary is made of
/// syllables.
const COMMON: [&str; 64] = [
    "the",
    "of",
    "love",
    "night",
    "man",
    "in",
    "a",
    "and",
    "story",
    "last",
    "life",
    "day",
    "girl",
    "time",
    "house",
    "world",
    "dead",
    "dark",
    "city",
    "king",
    "war",
    "blood",
    "lost",
    "black",
    "return",
    "dream",
    "woman",
    "heart",
    "secret",
    "summer",
    "little",
    "home",
    "red",
    "road",
    "death",
    "game",
    "american",
    "big",
    "new",
    "blue",
    "girls",
    "star",
    "true",
    "wild",
    "white",
    "island",
    "shadow",
    "fire",
    "family",
    "devil",
    "christmas",
    "river",
    "ghost",
    "moon",
    "golden",
    "street",
    "angel",
    "kill",
    "murder",
    "rain",
    "lady",
    "empire",
    "child",
    "storm",
];
const ONSETS: [&str; 20] = [
    "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "br", "st",
    "tr", "gl",
];
const NUCLEI: [&str; 8] = ["a", "e", "i", "o", "u", "ai", "ou", "ea"];
const CODAS: [&str; 6] = ["", "n", "r", "s", "l", "nd"];

/// Words in the vocabulary.
pub const VOCABULARY: usize = 6_000;
const DIRECTORS: u64 = 20_000;

struct Tables {
    words: Vec<String>,
    /// Cumulative Zipf weights, the last being 1.
    cumulative: Vec<f64>,
}

fn syllable(x: u64) -> String {
    format!(
        "{}{}{}",
        ONSETS[(x % 20) as usize],
        NUCLEI[((x / 20) % 8) as usize],
        CODAS[((x / 160) % 6) as usize]
    )
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut words: Vec<String> = COMMON.iter().map(|w| (*w).to_owned()).collect();
        let mut seen: std::collections::HashSet<String> = words.iter().cloned().collect();
        let mut n = 0u64;
        while words.len() < VOCABULARY {
            let r = mix(n ^ 0x5eed);
            n += 1;
            let word = format!("{}{}", syllable(r), syllable(r >> 12));
            let word = if r >> 40 & 1 == 1 {
                format!("{word}{}", syllable(r >> 24))
            } else {
                word
            };
            if seen.insert(word.clone()) {
                words.push(word);
            }
        }
        let mut total = 0.0;
        let mut cumulative: Vec<f64> = (1..=words.len())
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        for c in &mut cumulative {
            *c /= total;
        }
        Tables { words, cumulative }
    })
}

/// The word of rank `rank` (0 is the most frequent).
pub fn word(rank: usize) -> &'static str {
    &tables().words[rank % VOCABULARY]
}

/// A word's rank drawn from 32 random bits.
fn zipf(bits: u64) -> usize {
    let u = (bits & 0xffff_ffff) as f64 / 4_294_967_296.0;
    tables()
        .cumulative
        .partition_point(|&c| c < u)
        .min(VOCABULARY - 1)
}

/// The word ranks of the `n`-th movie's name.
fn name_ranks(n: u64) -> Vec<usize> {
    let r = mix(n.wrapping_mul(31).wrapping_add(7));
    let s = mix(r);
    let len = match r % 20 {
        0..=2 => 1,
        3..=10 => 2,
        11..=16 => 3,
        _ => 4,
    };
    (0..len)
        .map(|i| {
            zipf(if i < 2 {
                r >> (8 + i * 24)
            } else {
                s >> ((i - 2) * 32)
            })
        })
        .collect()
}

fn capitalised(word: &str) -> String {
    let mut c = word.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn director(d: u64) -> String {
    let r = mix(d ^ 0xd1ec);
    format!(
        "{} {}",
        capitalised(&syllable(r)),
        capitalised(&format!("{}{}", syllable(r >> 16), syllable(r >> 32)))
    )
}

/// The `n`-th movie of the realistic catalogue.
pub fn movie(n: u64) -> Value {
    let ranks = name_ranks(n);
    // The movies of a director are n, n + DIRECTORS, ...: a name the director already has
    // becomes a sequel.
    let earlier = (0..n / DIRECTORS)
        .filter(|k| name_ranks(n % DIRECTORS + k * DIRECTORS) == ranks)
        .count();
    let mut name = ranks
        .iter()
        .map(|&rank| capitalised(word(rank)))
        .collect::<Vec<_>>()
        .join(" ");
    if earlier > 0 {
        name.push_str(&format!(" {}", earlier + 1));
    }
    let r = mix(n ^ 0x9e11);
    let mut genres: Vec<&str> = (0..1 + (r >> 40) % 3)
        .map(|i| GENRES[((r >> (44 + i * 4)) % GENRES.len() as u64) as usize])
        .collect();
    genres.sort_unstable();
    genres.dedup();
    json!({
        "name": name,
        "director": director(n % DIRECTORS),
        "genre": genres,
        "imdb_score": ((r >> 8) % 101) as f64 / 10.0,
        "99popularity": ((r >> 20) % 1001) as f64 / 10.0,
    })
}

/// 200 searches as clients type them: very common words alone, one typo in a word of middling
/// frequency, a prefix, a word with a genre and a score, and filters alone.
pub fn searches() -> Vec<String> {
    let typo = |w: &str| {
        // One letter dropped from the middle: an edit distance of one.
        let mid = w.len() / 2;
        format!("{}{}", &w[..mid], &w[mid + 1..])
    };
    let mut out = Vec::with_capacity(200);
    for i in 0..200usize {
        let rank = 20 + (mix(i as u64) % 2_000) as usize;
        let w = word(rank);
        let genre = GENRES[i % GENRES.len()];
        out.push(match i % 5 {
            0 => format!("q={}", word(i % 12)),
            1 => format!("q={}", typo(w)),
            2 => format!("q={}", &w[..w.len().min(4)]),
            3 => format!("q={w}&genre={genre}&imdb_score.gte={}", i % 8),
            _ => format!(
                "genre={genre}&imdb_score.gte={}&sort_by=99popularity.desc",
                i % 9
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vocabulary_is_zipf_like_and_names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        let mut the = 0;
        for n in 0..50_000 {
            let m = movie(n);
            let name = m["name"].as_str().unwrap().to_owned();
            the += name.split(' ').filter(|w| *w == "The").count().min(1);
            assert!(seen.insert((name, m["director"].as_str().unwrap().to_owned())));
        }
        assert!((2_000..15_000).contains(&the), "{the}");
    }
}
