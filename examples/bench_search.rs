//! Search latency on 10 000 movies: a mix of queries (typos, prefixes, filters, sorts, deep
//! pages), each run against the tantivy index the embedded service uses, in-process, after a
//! warm-up. Prints the median and the 99th percentile per kind and overall.
//!
//! `cargo run --release --example bench_search [movies] [rounds]` (defaults 10000 and 200).
//!
//! `cargo run --release --example bench_search -- realistic [movies] [rounds] [dir]` indexes
//! the load harness's realistic catalogue instead (kept in `dir` when given, and reused by the
//! next run with the same `dir`) and runs the harness's 200 searches on one thread, parsed as
//! the query API parses them: the median per kind of search, and the whole mix's p50 and p99.

use moviedb_search::{
    GenreFilter, IndexOp, MovieDocument, MovieFilter, SearchIndex, SearchRequest, SearchSort,
    TantivyIndex,
};
use std::time::{Duration, Instant};
use uuid::Uuid;

// The load harness's word lists, so both benchmarks search the same kind of catalogue.
#[allow(dead_code)]
#[path = "bench_http/catalogue.rs"]
mod catalogue;
#[allow(dead_code)]
#[path = "bench_http/realistic.rs"]
mod realistic;
use catalogue::{DIRECTORS, GENRES, WORDS};

/// A deterministic pseudo-random sequence, so every run indexes the same catalogue.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() as usize) % from.len()]
    }
}

fn catalogue(n: usize) -> Vec<MovieDocument> {
    let mut rng = Lcg(42);
    (0..n)
        .map(|i| {
            let words = 1 + rng.next() % 3;
            let mut name: Vec<String> = (0..words)
                .map(|_| {
                    let w = rng.pick(&WORDS);
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_uppercase().chain(c).collect())
                        .unwrap_or_default()
                })
                .collect();
            name.push(format!("{}", i % 97));
            let genres = (0..1 + rng.next() % 3)
                .map(|_| rng.pick(&GENRES).to_owned())
                .collect();
            MovieDocument {
                id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + i as u128),
                name: format!("The {}", name.join(" ")),
                director: rng.pick(&DIRECTORS).to_owned(),
                genres,
                imdb_score: (rng.next() % 101) as f64 / 10.0,
                popularity: (rng.next() % 1001) as f64 / 10.0,
                version: 1,
                poster_path: None,
            }
        })
        .collect()
}

fn queries() -> Vec<(&'static str, SearchRequest)> {
    let text = |q: &str| SearchRequest {
        q: Some(q.into()),
        ..SearchRequest::default()
    };
    vec![
        ("one word", text("shadow")),
        ("typo", text("hitchcok")),
        ("two typos", text("kurosaaw")),
        ("prefix", text("moun")),
        ("two words", text("golden empire")),
        (
            "text + filters",
            SearchRequest {
                filter: MovieFilter {
                    genres: Some(GenreFilter::Any(vec!["War".into(), "Drama".into()])),
                    imdb_score_gte: Some(7.0),
                    ..MovieFilter::default()
                },
                ..text("night")
            },
        ),
        (
            "filters, by score",
            SearchRequest {
                filter: MovieFilter {
                    genres: Some(GenreFilter::All(vec!["Drama".into(), "Crime".into()])),
                    popularity_gte: Some(20.0),
                    ..MovieFilter::default()
                },
                sort: SearchSort::ImdbScore { descending: true },
                ..SearchRequest::default()
            },
        ),
        (
            "everything, by name, deep page",
            SearchRequest {
                sort: SearchSort::Name { descending: false },
                page: 200,
                per_page: 20,
                ..SearchRequest::default()
            },
        ),
    ]
}

/// How many segments the index has (one `.fast` file each).
fn segments(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                segments(&path)
            } else {
                usize::from(path.extension().is_some_and(|x| x == "fast"))
            }
        })
        .sum()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The realistic catalogue's `movies` movies as indexed documents.
fn realistic_documents(movies: usize) -> impl Iterator<Item = MovieDocument> {
    (0..movies as u64).map(|n| {
        let m = realistic::movie(n);
        MovieDocument {
            id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + u128::from(n)),
            name: m["name"].as_str().unwrap_or_default().to_owned(),
            director: m["director"].as_str().unwrap_or_default().to_owned(),
            genres: m["genre"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|g| g.as_str().map(str::to_owned))
                .collect(),
            imdb_score: m["imdb_score"].as_f64().unwrap_or(0.0),
            popularity: m["99popularity"].as_f64().unwrap_or(0.0),
            version: 1,
            poster_path: None,
        }
    })
}

/// The harness's realistic searches, by kind, on one thread.
async fn realistic_run(
    mut args: impl Iterator<Item = String>,
) -> Result<(), Box<dyn std::error::Error>> {
    let movies: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5);
    let temp = tempfile::tempdir()?;
    let dir = args
        .next()
        .map_or_else(|| temp.path().to_owned(), std::path::PathBuf::from);
    let index = TantivyIndex::open(&dir)?;
    let every = SearchRequest {
        total_up_to: None,
        ..SearchRequest::default()
    };
    let indexed = index.search(&every).await?.total as usize;
    if indexed < movies {
        let started = Instant::now();
        let docs: Vec<MovieDocument> = realistic_documents(movies).skip(indexed).collect();
        for chunk in docs.chunks(20_000) {
            index
                .apply(chunk.iter().cloned().map(IndexOp::Upsert).collect())
                .await?;
        }
        println!(
            "indexed {} movies in {:.1} s",
            movies - indexed,
            started.elapsed().as_secs_f64()
        );
    }
    index.refresh().await?;
    println!("{} segments", segments(&dir));
    const KINDS: [&str; 5] = [
        "common word",
        "one typo",
        "prefix",
        "word + genre + score",
        "filters, by popularity",
    ];
    let searches: Vec<SearchRequest> = realistic::searches()
        .iter()
        .map(|q| moviedb_query_api::params::search_request(Some(q)).map(|(r, _)| r))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{e:?}"))?;
    // `BENCH_SEARCH_KIND=n` runs only the searches of kind n (0 to 4), for a profile of one.
    let only: Option<usize> = std::env::var("BENCH_SEARCH_KIND")
        .ok()
        .and_then(|k| k.parse().ok());
    for q in &searches {
        index.search(q).await?;
    }
    let mut by_kind: Vec<Vec<Duration>> = vec![Vec::new(); KINDS.len()];
    let mut hits = vec![0u64; KINDS.len()];
    let mut all = Vec::new();
    for _ in 0..rounds {
        for (i, q) in searches.iter().enumerate() {
            if only.is_some_and(|k| k != i % KINDS.len()) {
                continue;
            }
            let t = Instant::now();
            let found = index.search(q).await?;
            let took = t.elapsed();
            by_kind[i % KINDS.len()].push(took);
            hits[i % KINDS.len()] += found.total;
            all.push(took);
        }
    }
    println!(
        "{:<32} {:>10} {:>10} {:>10}",
        "search", "mean hits", "median ms", "p99 ms"
    );
    for (k, times) in by_kind.iter_mut().enumerate() {
        if times.is_empty() {
            continue;
        }
        times.sort();
        println!(
            "{:<32} {:>10} {:>10.3} {:>10.3}",
            KINDS[k],
            hits[k] / times.len() as u64,
            ms(percentile(times, 0.5)),
            ms(percentile(times, 0.99))
        );
    }
    if std::env::var_os("BENCH_SEARCH_EACH").is_some() {
        // The slowest searches, one by one: where the tail comes from.
        let raws = realistic::searches();
        let mut each: Vec<(Duration, &String)> = Vec::new();
        for (q, raw) in searches.iter().zip(raws.iter()) {
            let t = Instant::now();
            index.search(q).await?;
            each.push((t.elapsed(), raw));
        }
        each.sort_by_key(|b| std::cmp::Reverse(b.0));
        for (took, raw) in each.iter().take(15) {
            println!("  {:>8.3} ms  {raw}", ms(*took));
        }
    }
    all.sort();
    let mean = all.iter().sum::<Duration>() / all.len() as u32;
    println!(
        "{:<32} {:>10} {:>10.3} {:>10.3}   mean {:.3} ms",
        "all",
        all.len(),
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.99)),
        ms(mean)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().is_some_and(|a| a == "realistic") {
        args.next();
        return realistic_run(args).await;
    }
    let movies: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let dir = tempfile::tempdir()?;
    let index = TantivyIndex::open(dir.path())?;
    let started = Instant::now();
    for chunk in catalogue(movies).chunks(1000) {
        index
            .apply(chunk.iter().cloned().map(IndexOp::Upsert).collect())
            .await?;
    }
    println!(
        "indexed {movies} movies in {:.0} ms, {} segments",
        ms(started.elapsed()),
        segments(dir.path())
    );
    let queries = queries();
    for (_, q) in &queries {
        index.search(q).await?;
    }
    let mut all = Vec::new();
    println!(
        "{:<32} {:>8} {:>10} {:>10}",
        "query", "hits", "median ms", "p99 ms"
    );
    for (name, q) in &queries {
        let mut times = Vec::with_capacity(rounds);
        let mut hits = 0;
        for _ in 0..rounds {
            let t = Instant::now();
            hits = index.search(q).await?.total;
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "{name:<32} {hits:>8} {:>10.3} {:>10.3}",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99))
        );
        all.extend(times);
    }
    let mut suggest = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let t = Instant::now();
        index
            .suggest(["sh", "the go", "mo", "e"][i % 4], 10)
            .await?;
        suggest.push(t.elapsed());
    }
    suggest.sort();
    println!(
        "{:<32} {:>8} {:>10.3} {:>10.3}",
        "suggest",
        "-",
        ms(percentile(&suggest, 0.5)),
        ms(percentile(&suggest, 0.99))
    );
    all.sort();
    println!(
        "{:<32} {:>8} {:>10.3} {:>10.3}",
        "all searches",
        all.len(),
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.99))
    );
    Ok(())
}
