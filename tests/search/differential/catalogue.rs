//! The differential test's catalogue: the sample plus movies generated from a fixed seed.

use moviedb_search::MovieDocument;
use uuid::Uuid;

/// Movies generated beside the sample.
const GENERATED: usize = 3_000;

/// A small deterministic generator (xorshift64*), so every run indexes the same catalogue.
pub(super) struct Seeded(u64);

impl Seeded {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

pub(super) const WORDS: &[&str] = &[
    "the",
    "godfather",
    "part",
    "ii",
    "night",
    "dark",
    "knight",
    "star",
    "wars",
    "return",
    "of",
    "rain",
    "singin'",
    "love",
    "strange",
    "schindler's",
    "list",
    "amélie",
    "alien³",
    "e.t.",
    "wall·e",
    "dr.",
    "r2-d2",
    "café",
    "naïve",
    "über",
    "2001",
    "se7en",
    "crème",
    "brûlée",
    "garçon",
    "señor",
    "mañana",
    "Ωmega",
    "город",
    "tokyo",
    "story",
    "a",
    "space",
    "odyssey",
    "kill",
    "bill",
    "vol.",
    "1",
    "2",
    "3",
    "x²",
    "déjà",
    "vu",
    "l'avventura",
    "o'brien",
    "rock'n'roll",
    "fast",
    "furious",
    "mission",
    "impossible",
    "matrix",
    "reloaded",
    "toy",
    "ocean's",
    "eleven",
    "twelve",
    "thirteen",
    "am",
    "pm",
    "8½",
    "½",
    "up",
    "it",
    "us",
];

pub(super) const DIRECTORS: &[&str] = &[
    "Pedro Almodóvar",
    "Jean-Pierre Jeunet",
    "Bong Joon-ho",
    "Alejandro González Iñárritu",
    "Stanley Kubrick",
    "Alfred Hitchcock",
    "Agnès Varda",
    "François Truffaut",
    "Wong Kar-wai",
    "Steven Spielberg",
    "Akira Kurosawa",
    "Ingmar Bergman",
    "Federico Fellini",
    "Michelangelo Antonioni",
    "Chloé Zhao",
];

pub(super) const GENRES: &[&str] = &[
    "Drama",
    "Comedy",
    "Crime",
    "Horror",
    "Sci-Fi",
    "Family",
    "Musical",
    "War",
    "Romance",
    "Thriller",
    "Animation",
    "Adventure",
];

pub(super) fn catalogue() -> Vec<MovieDocument> {
    let sample: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("../../../samples/movies.json")).expect("sample");
    let mut random = Seeded(0x5EED_CAFE_F00D_0001);
    let mut counter = 0u64;
    let mut random_id = move || {
        counter += 1;
        0x8000_0000_0000_0000 | counter.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 1
    };
    let mut movies: Vec<MovieDocument> = sample
        .iter()
        .map(|m| MovieDocument {
            id: Uuid::from_u64_pair(0x0190_0000_0000_7000, random_id()),
            name: m["name"].as_str().expect("name").to_owned(),
            director: m["director"].as_str().expect("director").trim().to_owned(),
            genres: m["genre"]
                .as_array()
                .expect("genre")
                .iter()
                .map(|g| g.as_str().expect("genre").trim().to_owned())
                .collect(),
            imdb_score: m["imdb_score"].as_f64().expect("score"),
            popularity: m["99popularity"].as_f64().expect("popularity"),
            version: 1,
            poster_path: None,
        })
        .collect();
    for _ in 0..GENERATED {
        let words = 1 + random.below(4);
        let mut name = String::new();
        for i in 0..words {
            if i > 0 {
                name.push_str(if random.below(6) == 0 { ": " } else { " " });
            }
            let word = random.pick(WORDS);
            // Some words capitalised, as titles are.
            if random.below(2) == 0 {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    name.extend(first.to_uppercase());
                    name.push_str(chars.as_str());
                }
            } else {
                name.push_str(word);
            }
        }
        let genres = (0..1 + random.below(3))
            .map(|_| random.pick(GENRES).to_owned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        movies.push(MovieDocument {
            id: Uuid::from_u64_pair(0x0190_0000_0000_7000, random_id()),
            name,
            director: random.pick(DIRECTORS).to_owned(),
            genres,
            imdb_score: random.below(101) as f64 / 10.0,
            popularity: random.below(1001) as f64 / 10.0,
            version: 1,
            poster_path: None,
        });
    }
    movies
}
