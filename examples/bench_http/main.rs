//! The load harness: moviedb against the limits of this machine, measured in one run.
//!
//! ```sh
//! cargo run --release --example bench_http                     # SQLite, 10 000 movies
//! cargo run --release --example bench_http -- --movies 100000
//! cargo run --release --example bench_http -- --db mariadb     # MariaDB on 127.0.0.1:3306
//! cargo run --release --example bench_http -- --db mariadb --kafka --only visibility
//! cargo run --release --example bench_http -- --search elasticsearch --only search,visibility
//! ```
//!
//! It builds and starts the release `moviedb` on a fresh data directory, a bare axum baseline
//! serving the same JSON from memory (this example, started again as `--baseline`), loads the
//! movies through the HTTP API and prints each figure beside its limit and the ratio.

mod backing;
mod baseline;
mod catalogue;
mod hostile;
mod import;
mod limits;
mod load;
mod posters;
mod realistic;
mod report;
mod server;
mod visibility;

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::Request;
use load::MakeRequest;
use report::Report;
use serde_json::{json, Value};
use server::Moviedb;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug, Clone)]
#[command(about = "moviedb load harness: every figure beside its limit, in one run")]
pub struct Args {
    /// Movies loaded through the API before measuring.
    #[arg(long, default_value_t = 10_000)]
    movies: u64,
    /// Database: sqlite (embedded default) or mariadb (127.0.0.1:3306, root).
    #[arg(long, default_value = "sqlite")]
    db: String,
    /// Seconds per throughput measurement.
    #[arg(long, default_value_t = 5)]
    secs: u64,
    /// The generated catalogue: realistic (names from a Zipf-like vocabulary of 6 000 words)
    /// or narrow (three of 40 words and a number: the worst case for search).
    #[arg(long, value_enum, default_value_t = catalogue::Kind::Narrow)]
    catalogue: catalogue::Kind,
    /// Keep the data (and the MariaDB database) in this directory, and on a later run with
    /// the same `--movies` measure it again without loading.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// Connections for the read measurements.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Write -> visible rounds.
    #[arg(long, default_value_t = 200)]
    rounds: usize,
    /// Seconds of mixed load before the memory figure.
    #[arg(long, default_value_t = 60)]
    mixed_secs: u64,
    /// Events generated for the rebuild figure (0: skip it).
    #[arg(long, default_value_t = 1_000_000)]
    rebuild_events: u64,
    /// With `--db mariadb`: events go through Kafka (the tansu broker `scripts/ensure-tansu`
    /// provides, started here): the outbox relay produces, a consumer group projects.
    #[arg(long)]
    kafka: bool,
    /// The search engine: tantivy (embedded default) or elasticsearch (the OpenSearch-compatible
    /// server `scripts/ensure-search-server` installs, started here; the Elasticsearch adapter).
    #[arg(long, default_value = "tantivy")]
    search: String,
    /// Only these parts (comma separated): reads, search, writes, bulk, hostile, posters
    /// (uploads, and images served beside nginx), visibility, mixed, rebuild, import
    /// (`moviedb import` of the catalogue into a fresh service).
    /// Default: all.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Do not run `cargo build --release --bin moviedb` first.
    #[arg(long)]
    no_build: bool,
    /// Print the catalogue's searches (query strings of `/v1/movies/search`), one per line,
    /// and exit: for a profiler or another load tool.
    #[arg(long)]
    print_searches: bool,
    /// Print the catalogue's `--movies` movies as a file for `moviedb import` (one JSON object
    /// per line) and exit.
    #[arg(long)]
    print_catalogue: bool,
    /// Internal: serve the baseline on this port with `--movies` movies.
    #[arg(long, hide = true)]
    baseline: Option<u16>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.print_searches {
        for search in args.catalogue.searches() {
            println!("{search}");
        }
        return Ok(());
    }
    if args.print_catalogue {
        return import::write_catalogue(&mut std::io::stdout().lock(), &args);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Some(port) = args.baseline {
        return runtime.block_on(baseline::serve(port, args.movies, args.catalogue));
    }
    runtime.block_on(run(args))
}

fn get(host: &str, path: &str) -> Request<Full<Bytes>> {
    Request::get(path)
        .header("host", host)
        .body(Full::new(Bytes::new()))
        .expect("a valid request")
}

fn post_json(
    host: &str,
    path: &str,
    token: &str,
    method: &str,
    body: &Value,
) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", host)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("a valid request")
}

async fn run(args: Args) -> anyhow::Result<()> {
    let part = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let mut report = Report::new(&args);
    let secs = Duration::from_secs(args.secs);
    let conns = args.connections;

    // Parts that make a service of their own need no loaded one.
    let own_service = ["rebuild", "import"];
    if !args.only.is_empty() && args.only.iter().all(|o| own_service.contains(&o.as_str())) {
        server::moviedb_binary(&args)?;
        return own_services(&args, report, part).await;
    }
    let moviedb = Moviedb::start(&args).await?;
    let base = baseline::Baseline::start(args.movies, args.catalogue)?;
    eprintln!("moviedb pid {}", moviedb.pid());
    let token = moviedb.login().await?;
    let idle_rss = moviedb.rss_mb();

    eprintln!("loading {} movies through the API", args.movies);
    let started = Instant::now();
    // The ids from the bulk answers: paging through 100 000 movies with offsets took longer
    // than loading them.
    let ids = Arc::new(moviedb.load(&token, args.movies, args.catalogue).await?);
    eprintln!("loaded in {:.1} s", started.elapsed().as_secs_f64());
    report.rss_loaded = moviedb.rss_mb();

    // Reads.
    let (addr, host) = (moviedb.addr, moviedb.host());
    if part("reads") {
        let base_ids = Arc::new(base.ids().await?);
        let by_id = |ids: Arc<Vec<String>>, host: String| -> MakeRequest {
            Arc::new(move |n| {
                get(
                    &host,
                    &format!("/v1/movies/{}", ids[(n as usize * 7919) % ids.len()]),
                )
            })
        };
        let mut ours = load::run(addr, conns, secs, by_id(ids.clone(), host.clone())).await;
        let mut limit = load::run(base.addr, conns, secs, by_id(base_ids, base.host())).await;
        report.reads("GET /v1/movies/{id}", &mut ours, &mut limit);

        let pages = (args.movies / 20).clamp(1, 50);
        let list = |host: String| -> MakeRequest {
            Arc::new(move |n| {
                get(
                    &host,
                    &format!("/v1/movies?page={}&per_page=20", n % pages + 1),
                )
            })
        };
        let mut ours = load::run(addr, conns, secs, list(host.clone())).await;
        let mut limit = load::run(base.addr, conns, secs, list(base.host())).await;
        report.reads("GET /v1/movies page of 20", &mut ours, &mut limit);
    }
    drop(base);
    if part("search") {
        eprintln!("measuring search");
        let h = host.clone();
        let searches = args.catalogue.searches();
        let search: MakeRequest = Arc::new(move |n| {
            let q = &searches[n as usize % searches.len()];
            get(&h, &format!("/v1/movies/search?{q}"))
        });
        let mut ours = load::run(addr, conns, secs, search).await;
        report.latency("search with typos and filters", &mut ours);
    }

    // Writes.
    for clients in [1usize, 8, 32].into_iter().filter(|_| part("writes")) {
        let (h, t) = (host.clone(), token.clone());
        let add: MakeRequest = Arc::new(move |n| {
            post_json(
                &h,
                "/v1/movies",
                &t,
                "POST",
                &catalogue::movie(n, &format!("a{clients}-")),
            )
        });
        let ours = load::run(addr, clients, secs, add).await;
        let limit = moviedb.write_limit(clients, secs).await?;
        report.writes(clients, &ours, limit);
    }
    if part("bulk") {
        let bulk: Vec<Value> = (0..1000).map(|n| catalogue::movie(n, "bulk-")).collect();
        let started = Instant::now();
        let answer = moviedb
            .post(&token, "/v1/movies", &Value::Array(bulk))
            .await?;
        let took = started.elapsed();
        let created = answer["created"].as_u64().unwrap_or(0) as usize;
        report.bulk(created, took);
    }

    if part("hostile") {
        eprintln!("sending hostile bodies");
        let user = moviedb.user_id().await?;
        let (cases, hostile) = hostile::requests(host.clone(), token.clone(), &ids[0], &user);
        let h = host.clone();
        let health: MakeRequest = Arc::new(move |_| get(&h, "/health/live"));
        let (mut bad, mut live) = tokio::join!(
            load::run(addr, 2, secs, hostile),
            load::run(addr, 1, secs, health)
        );
        report.hostile(cases, &mut bad, &mut live);
    }

    if part("posters") {
        posters::measure(&moviedb, &token, &ids, conns, secs, &mut report).await?;
    }

    // Visibility.
    if part("visibility") {
        let (plain, with_token) = moviedb.visibility(&token, &ids, args.rounds).await?;
        report.visibility(plain, with_token);
        let (plain, with_token) = moviedb.searchable(&token, args.rounds).await?;
        report.searchable(plain, with_token);
    }

    // Memory after mixed load.
    if args.mixed_secs > 0 && part("mixed") {
        eprintln!("mixed load for {} s", args.mixed_secs);
        let (h, ids2) = (host.clone(), ids.clone());
        let searches = args.catalogue.searches();
        let reads: MakeRequest = Arc::new(move |n| match n % 4 {
            0 => get(&h, &format!("/v1/movies?page={}&per_page=20", n % 500 + 1)),
            1 => get(
                &h,
                &format!(
                    "/v1/movies/search?{}",
                    searches[n as usize % searches.len()]
                ),
            ),
            _ => get(
                &h,
                &format!("/v1/movies/{}", ids2[(n as usize * 31) % ids2.len()]),
            ),
        });
        let (h, t, ids3) = (host.clone(), token.clone(), ids.clone());
        let writes: MakeRequest = Arc::new(move |n| {
            let id = &ids3[(n as usize * 13) % ids3.len()];
            post_json(
                &h,
                &format!("/v1/movies/{id}"),
                &t,
                "PATCH",
                &json!({ "99popularity": (n % 1001) as f64 / 10.0 }),
            )
        });
        let mixed = Duration::from_secs(args.mixed_secs);
        report.mixed_catalogue = moviedb.total().await?;
        let (r, w) = tokio::join!(
            load::run(addr, conns, mixed, reads),
            load::run(addr, 2, mixed, writes)
        );
        report.mixed = Some((r.ok_per_sec(), w.ok_per_sec(), r.failed + w.failed));
    }
    report.rss_mixed = moviedb.rss_mb();
    report.rss_mixed_parts = moviedb.rss_parts_mb();
    report.rss_idle = idle_rss;
    drop(moviedb);
    own_services(&args, report, part).await
}

/// The parts that run on a service and data of their own, then the table.
async fn own_services(
    args: &Args,
    mut report: Report,
    part: impl Fn(&str) -> bool,
) -> anyhow::Result<()> {
    if args.rebuild_events > 0 && part("rebuild") {
        report.rebuild = Some(backing::rebuild(args).await?);
    }
    if part("import") {
        report.import = Some(import::import(args).await?);
    }
    report.print();
    Ok(())
}
