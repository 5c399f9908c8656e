//! The same catalogue and the same requests on both engines give the same answers: totals,
//! facet counts, the first page of ids under every sort but relevance (ties broken by id),
//! and autocomplete lists. Relevance scores are the engines' own (BM25 over different index
//! statistics), so a relevance page is compared as a set only when it holds every hit.
//!
//! The catalogue is the sample (`samples/movies.json`) plus generated movies whose names mix
//! punctuation, diacritics, digits and superscripts, from a fixed seed.

use crate::adapters;
use moviedb_search::{
    GenreFilter, IndexOp, MovieDocument, MovieFilter, SearchIndex, SearchRequest, SearchResponse,
    SearchSort,
};
use uuid::Uuid;

/// Movies generated beside the sample.
const GENERATED: usize = 3_000;

/// A small deterministic generator (xorshift64*), so every run indexes the same catalogue.
struct Seeded(u64);

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

const WORDS: &[&str] = &[
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

const DIRECTORS: &[&str] = &[
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

const GENRES: &[&str] = &[
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

fn catalogue() -> Vec<MovieDocument> {
    let sample: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("../../samples/movies.json")).expect("sample");
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
        });
    }
    movies
}

/// The requests: texts as users type them (typos, prefixes, punctuation, diacritics,
/// superscripts), with and without filters, under each sort, over several pages.
fn requests() -> Vec<SearchRequest> {
    let texts = [
        "godfather",
        "godfahter",
        "the godf",
        "amelie",
        "Amélie",
        "AMÉLIE",
        "alien 3",
        "alien³",
        "alien3",
        "e.t.",
        "e t",
        "schindlers list",
        "Schindler's List",
        "wall-e",
        "wall·e",
        "singin in the rain",
        "dr strangelove",
        "dr.",
        "r2-d2",
        "r2d2",
        "cafe",
        "café",
        "naive",
        "uber",
        "2001",
        "se7en",
        "seven",
        "creme brulee",
        "garcon",
        "senor manana",
        "omega",
        "город",
        "nigth",
        "knigt",
        "dark knight",
        "star wars",
        "kill bill vol. 2",
        "x2",
        "deja vu",
        "l'avventura",
        "obrien",
        "o'brien",
        "rock n roll",
        "oceans eleven",
        "8 1/2",
        "8½",
        "up",
        "it",
        "the",
        "almodovar",
        "inarritu",
        "gonzalez",
        "jeunet",
        "kar-wai",
        "kubrik",
        "hitchcok",
        "ta",
        "mis",
        "miss impos",
        "sp",
        "spa odys",
    ];
    let mut all = Vec::new();
    for q in texts {
        all.push(SearchRequest {
            q: Some(q.into()),
            sort: SearchSort::Relevance,
            per_page: 100,
            facets: true,
            ..SearchRequest::default()
        });
        all.push(SearchRequest {
            q: Some(q.into()),
            sort: SearchSort::Name { descending: false },
            per_page: 10,
            ..SearchRequest::default()
        });
    }
    let sorts = [
        SearchSort::ImdbScore { descending: true },
        SearchSort::ImdbScore { descending: false },
        SearchSort::Popularity { descending: true },
        SearchSort::Popularity { descending: false },
        SearchSort::Name { descending: true },
    ];
    let filters = [
        MovieFilter::default(),
        MovieFilter {
            genres: Some(GenreFilter::All(vec!["Drama".into(), "Crime".into()])),
            ..MovieFilter::default()
        },
        MovieFilter {
            genres: Some(GenreFilter::Any(vec!["sci-fi".into(), "WAR".into()])),
            imdb_score_gte: Some(7.5),
            ..MovieFilter::default()
        },
        MovieFilter {
            popularity_gte: Some(20.0),
            popularity_lte: Some(40.5),
            imdb_score_lte: Some(5.0),
            ..MovieFilter::default()
        },
        MovieFilter {
            director: Some("pedro almodóvar".into()),
            ..MovieFilter::default()
        },
    ];
    for (i, filter) in filters.iter().enumerate() {
        for (j, sort) in sorts.iter().enumerate() {
            for page in [1, 3] {
                all.push(SearchRequest {
                    q: (j % 2 == 1).then(|| ["the", "love", "amelie", "2", "knight"][i].into()),
                    filter: filter.clone(),
                    sort: *sort,
                    page,
                    per_page: 7,
                    facets: true,
                });
            }
        }
    }
    all
}

const PREFIXES: &[&str] = &[
    "the",
    "the g",
    "the godf",
    "god",
    "ame",
    "amé",
    "alien",
    "alien 3",
    "alien³",
    "e.t",
    "e t",
    "wall",
    "wall·e",
    "wall-e",
    "schindler's l",
    "singin'",
    "dr. s",
    "r2",
    "r2-d",
    "café",
    "cafe",
    "über",
    "ub",
    "2001",
    "se7",
    "8½",
    "8 1",
    "om",
    "гор",
    "x",
    "kill bill vol",
];

/// What two engines must agree on for a request.
fn comparable(request: &SearchRequest, found: &SearchResponse) -> String {
    let ids: Vec<Uuid> = found.hits.iter().map(|h| h.movie.id).collect();
    let page = if request.sort == SearchSort::Relevance {
        if found.total as usize <= ids.len() {
            let mut set = ids;
            set.sort();
            format!("every hit {set:?}")
        } else {
            "scores differ: page not compared".to_owned()
        }
    } else {
        format!("{ids:?}")
    };
    format!(
        "total {}, genres {:?}, scores {:?}, page {page}",
        found.total, found.genres, found.imdb_score_histogram
    )
}

#[tokio::test]
async fn both_engines_answer_the_same_requests_alike() {
    let adapters = adapters().await;
    if adapters.len() < 2 {
        eprintln!("SKIPPED: the differential test needs both engines");
        return;
    }
    let movies = catalogue();
    let requests = requests();
    assert!(requests.len() >= 100, "{} requests", requests.len());
    let mut answers: Vec<Vec<String>> = Vec::new();
    for adapter in &adapters {
        let index: &dyn SearchIndex = adapter.index.as_ref();
        for chunk in movies.chunks(1_000) {
            index
                .apply(chunk.iter().cloned().map(IndexOp::Upsert).collect())
                .await
                .expect("indexed");
        }
        index.refresh().await.expect("refreshed");
        let mut mine = Vec::new();
        for request in &requests {
            let found = index
                .search(request)
                .await
                .unwrap_or_else(|e| panic!("{}: {request:?}: {e}", adapter.name));
            mine.push(comparable(request, &found));
        }
        for prefix in PREFIXES {
            let names: Vec<String> = index
                .suggest(prefix, 10)
                .await
                .expect("suggest")
                .into_iter()
                .map(|s| format!("{} {}", s.id, s.name))
                .collect();
            mine.push(format!("{names:?}"));
        }
        answers.push(mine);
    }
    let labels: Vec<String> = requests
        .iter()
        .map(|r| format!("{r:?}"))
        .chain(PREFIXES.iter().map(|p| format!("suggest {p:?}")))
        .collect();
    let differ: Vec<String> = labels
        .iter()
        .zip(answers[0].iter().zip(&answers[1]))
        .filter(|(_, (a, b))| a != b)
        .map(|(label, (a, b))| format!("{label}\n  tantivy:       {a}\n  elasticsearch: {b}"))
        .collect();
    let found = answers[0]
        .iter()
        .filter(|a| !a.starts_with("total 0,") && !a.starts_with("[]"))
        .count();
    let whole = answers[0]
        .iter()
        .filter(|a| a.contains("every hit"))
        .count();
    eprintln!(
        "differential: {} movies, {} requests + {} autocompletes, {} with answers, {} relevance \
         pages compared whole, {} differ",
        movies.len(),
        requests.len(),
        PREFIXES.len(),
        found,
        whole,
        differ.len()
    );
    assert!(
        differ.is_empty(),
        "{} answers differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
    // Not a vacuous agreement: the requests find things.
    let empty = answers[0]
        .iter()
        .filter(|a| a.starts_with("total 0,"))
        .count();
    assert!(empty < requests.len() / 4, "{empty} requests found nothing");
}
