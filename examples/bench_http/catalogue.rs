//! A deterministic generated catalogue: the same movies on every run, with names made of
//! real words so that searches with typos have something to find.

use moviedb_domain::movie::MovieFields;
use serde::Serialize;
use serde_json::{json, Value};

pub const WORDS: [&str; 40] = [
    "shadow", "river", "night", "king", "empire", "last", "dream", "city", "star", "fire",
    "silent", "golden", "dark", "love", "war", "journey", "secret", "ghost", "storm", "heart",
    "lost", "blood", "winter", "summer", "iron", "glass", "broken", "wild", "hidden", "paper",
    "moon", "ocean", "mountain", "garden", "machine", "letter", "island", "crown", "echo", "road",
];
pub const DIRECTORS: [&str; 12] = [
    "Alfred Hitchcock",
    "Stanley Kubrick",
    "Akira Kurosawa",
    "Agnes Varda",
    "Billy Wilder",
    "Francis Ford Coppola",
    "Sofia Coppola",
    "Orson Welles",
    "Ingmar Bergman",
    "Jane Campion",
    "Fritz Lang",
    "Victor Fleming",
];
pub const GENRES: [&str; 10] = [
    "Drama",
    "Comedy",
    "Thriller",
    "Horror",
    "War",
    "Crime",
    "Family",
    "Adventure",
    "Mystery",
    "Romance",
];

/// Searches with typos and filters, as a client types them.
pub const SEARCHES: [&str; 8] = [
    "q=shadw&genre=Drama",
    "q=goldn%20rivr&imdb_score.gte=5",
    "q=hitchcok&genre=Thriller|Horror",
    "q=mountian&99popularity.gte=20",
    "q=sielnt%20nigth",
    "q=kurosawa&genre=War&sort_by=imdb_score.desc",
    "q=ghots&imdb_score.gte=3&imdb_score.lte=8",
    "q=journ",
];

pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The fields of the `n`-th movie; `salt` makes a different (and still unique) series.
pub fn movie(n: u64, salt: &str) -> Value {
    let r = mix(n);
    let word = |i: u32| WORDS[((r >> (i * 6)) % WORDS.len() as u64) as usize];
    let name = format!("The {} {} {} {salt}{n}", word(0), word(1), word(2));
    let mut genres: Vec<&str> = (0..1 + (r >> 40) % 3)
        .map(|i| GENRES[((r >> (44 + i * 4)) % GENRES.len() as u64) as usize])
        .collect();
    genres.sort_unstable();
    genres.dedup();
    json!({
        "name": name,
        "director": DIRECTORS[((r >> 20) % DIRECTORS.len() as u64) as usize],
        "genre": genres,
        "imdb_score": ((r >> 24) % 101) as f64 / 10.0,
        "99popularity": ((r >> 32) % 1001) as f64 / 10.0,
    })
}

/// Which generated catalogue the harness loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Names of three words from 40, and a number: every word is in about 7% of the names.
    /// The worst case for search.
    Narrow,
    /// Names from a Zipf-like vocabulary of 6 000 words ([`crate::realistic`]).
    Realistic,
}

impl Kind {
    /// The `n`-th movie of this catalogue.
    pub fn movie(self, n: u64) -> Value {
        match self {
            Kind::Narrow => movie(n, ""),
            Kind::Realistic => crate::realistic::movie(n),
        }
    }

    /// The searches measured on this catalogue.
    pub fn searches(self) -> Vec<String> {
        match self {
            Kind::Narrow => SEARCHES.iter().map(|s| (*s).to_owned()).collect(),
            Kind::Realistic => crate::realistic::searches(),
        }
    }
}

/// A movie as the query API answers it, for the baseline to serve from memory.
#[derive(Debug, Clone, Serialize)]
pub struct MovieJson {
    pub id: uuid::Uuid,
    pub name: String,
    pub director: String,
    pub genre: Vec<String>,
    pub imdb_score: f64,
    #[serde(rename = "99popularity")]
    pub popularity: f64,
    pub version: u64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// The `n`-th movie's fields, as the domain holds them.
pub fn fields(n: u64, salt: &str) -> MovieFields {
    fields_of(&movie(n, salt))
}

fn fields_of(input: &Value) -> MovieFields {
    let text = |k: &str| input[k].as_str().unwrap_or_default().to_owned();
    MovieFields {
        name: text("name"),
        director: text("director"),
        genres: input["genre"]
            .as_array()
            .map(|g| {
                g.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        imdb_score: input["imdb_score"].as_f64().unwrap_or_default(),
        popularity: input["99popularity"].as_f64().unwrap_or_default(),
    }
}

impl MovieJson {
    /// The `n`-th movie of `kind` as the query API would answer it.
    pub fn generated(kind: Kind, n: u64) -> Self {
        let fields = fields_of(&kind.movie(n));
        let now = chrono::Utc::now();
        Self {
            id: uuid::Uuid::now_v7(),
            name: fields.name,
            director: fields.director,
            genre: fields.genres,
            imdb_score: fields.imdb_score,
            popularity: fields.popularity,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }
}
