//! The table the harness prints: each figure, its limit measured in the same run, the ratio
//! and the goal of issue 9.

use crate::load::summary;
use crate::load::Outcome;
use crate::Args;
use std::time::Duration;

struct Row {
    measure: String,
    ours: String,
    limit: String,
    ratio: String,
    goal: &'static str,
}

pub struct Report {
    header: String,
    rows: Vec<Row>,
    pub rss_idle: f64,
    pub rss_loaded: f64,
    pub rss_mixed: f64,
    /// After the mixed load: (anonymous, mapped files), MB.
    pub rss_mixed_parts: (f64, f64),
    pub mixed: Option<(f64, f64, u64)>,
    pub rebuild: Option<(u64, Duration)>,
    pub import: Option<crate::import::Imported>,
    /// Movies in the catalogue when the mixed load started (the write figures add some).
    pub mixed_catalogue: u64,
    mixed_secs: u64,
}

fn pct(ours: f64, limit: f64) -> String {
    if limit.is_finite() && limit > 0.0 {
        format!("{:.0}%", 100.0 * ours / limit)
    } else {
        "-".into()
    }
}

impl Report {
    pub fn new(args: &Args) -> Self {
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        Self {
            header: format!(
                "moviedb on {}{}, {} movies ({:?} catalogue), {} cores, {} s per figure, \
                 {} connections for reads",
                args.db,
                if args.kafka { " + Kafka (tansu)" } else { "" },
                args.movies,
                args.catalogue,
                cpus,
                args.secs,
                args.connections
            ),
            rows: Vec::new(),
            rss_idle: f64::NAN,
            rss_loaded: f64::NAN,
            rss_mixed: f64::NAN,
            rss_mixed_parts: (f64::NAN, f64::NAN),
            mixed: None,
            rebuild: None,
            import: None,
            mixed_catalogue: 0,
            mixed_secs: args.mixed_secs,
        }
    }

    fn row(
        &mut self,
        measure: impl Into<String>,
        ours: String,
        limit: String,
        ratio: String,
        goal: &'static str,
    ) {
        let measure = measure.into();
        eprintln!("  {measure}: {ours} (limit {limit}, {ratio})");
        self.rows.push(Row {
            measure,
            ours,
            limit,
            ratio,
            goal,
        });
    }

    pub fn reads(&mut self, what: &str, ours: &mut Outcome, limit: &mut Outcome) {
        let (o, l) = (ours.ok_per_sec(), limit.ok_per_sec());
        self.row(
            format!("{what}, req/s"),
            format!(
                "{o:.0} (p99 {:.2} ms, {} failed)",
                ours.percentile_ms(99.0),
                ours.failed
            ),
            format!("{l:.0} bare axum (p99 {:.2} ms)", limit.percentile_ms(99.0)),
            pct(o, l),
            ">= 50%",
        );
    }

    /// Upload to every size stored and shown, one at a time; microseconds each.
    pub fn poster_uploads(&mut self, took_us: &mut [u64], bytes: usize) {
        let (p50, p99) = (
            crate::load::percentile_ms(took_us, 50.0),
            crate::load::percentile_ms(took_us, 99.0),
        );
        self.row(
            "poster upload to every size, ms",
            format!(
                "p50 {p50:.0}, p99 {p99:.0} ({} JPEGs of 1 000 x 1 500, {} KB each)",
                took_us.len(),
                bytes / 1024
            ),
            "-".into(),
            "-".into(),
            "measured (no goal set)",
        );
    }

    /// An image served by moviedb, and by nginx from disk when there is one.
    pub fn images(&mut self, bytes: usize, ours: &mut Outcome, nginx: Option<&mut Outcome>) {
        let o = ours.ok_per_sec();
        let (limit, ratio) = match nginx {
            Some(n) => (
                format!(
                    "{:.0} nginx (p99 {:.2} ms)",
                    n.ok_per_sec(),
                    n.percentile_ms(99.0)
                ),
                pct(o, n.ok_per_sec()),
            ),
            None => ("no nginx".into(), "-".into()),
        };
        self.row(
            format!("GET /images/w342/… ({} KB), req/s", bytes / 1024),
            format!(
                "{o:.0} (p99 {:.2} ms, {} failed)",
                ours.percentile_ms(99.0),
                ours.failed
            ),
            limit,
            ratio,
            ">= 50% of nginx",
        );
    }

    pub fn latency(&mut self, what: &str, ours: &mut Outcome) {
        self.row(
            format!("{what}, ms"),
            format!(
                "p50 {:.2}, p99 {:.2} ({:.0} req/s, {} failed)",
                ours.percentile_ms(50.0),
                ours.percentile_ms(99.0),
                ours.ok_per_sec(),
                ours.failed
            ),
            "-".into(),
            "-".into(),
            "p99 <= 5 ms at 10k, <= 10 ms at 100k",
        );
    }

    pub fn writes(&mut self, clients: usize, ours: &Outcome, limit: Option<f64>) {
        let o = ours.ok_per_sec();
        let l = limit.unwrap_or(f64::NAN);
        self.row(
            format!("add one movie at {clients} conns, ok/s"),
            format!("{o:.0} ({} failed)", ours.failed),
            limit.map_or("- (sysbench not installed)".into(), |l| {
                format!("{l:.0} durable single-row commits/s")
            }),
            pct(o, l),
            ">= 100% (SQLite) / 40% (MariaDB) at 32",
        );
    }

    pub fn bulk(&mut self, created: usize, took: Duration) {
        self.row(
            "bulk add of 1 000 movies, movies/s",
            format!(
                "{:.0} ({created} created in {:.0} ms)",
                created as f64 / took.as_secs_f64(),
                took.as_secs_f64() * 1000.0
            ),
            "-".into(),
            "-".into(),
            ">= 10k/s SQLite, >= 3k/s MariaDB",
        );
    }

    pub fn hostile(&mut self, cases: usize, hostile: &mut Outcome, health: &mut Outcome) {
        let answered = hostile.latencies_us.len();
        self.row(
            format!("1 MiB hostile bodies ({cases} route x shape pairs) at 2 conns, ms"),
            format!(
                "p50 {:.2}, p99 {:.2}, max {:.2} ({answered} answered, {} 2xx, {} 5xx)",
                hostile.percentile_ms(50.0),
                hostile.percentile_ms(99.0),
                hostile.percentile_ms(100.0),
                hostile.ok,
                hostile.server_errors
            ),
            "-".into(),
            "-".into(),
            "every one a 4xx in milliseconds (hardening issue)",
        );
        self.row(
            "GET /health/live meanwhile, ms",
            format!(
                "p50 {:.2}, p99 {:.2}, max {:.2} ({} failed)",
                health.percentile_ms(50.0),
                health.percentile_ms(99.0),
                health.percentile_ms(100.0),
                health.failed
            ),
            "-".into(),
            "-".into(),
            "unaffected",
        );
    }

    pub fn visibility(&mut self, mut plain: Vec<u64>, mut with_token: Vec<u64>) {
        let (p50, p99, max) = summary(&mut plain);
        self.row(
            "write -> visible to a plain GET (polling), ms",
            format!("p50 {p50:.2}, p99 {p99:.2}, max {max:.2}"),
            "-".into(),
            "-".into(),
            "p50 <= 5, p99 <= 25 embedded; p99 <= 100 MariaDB + Kafka",
        );
        let (p50, p99, max) = summary(&mut with_token);
        self.row(
            "GET with the write's Consistency-Token, ms",
            format!("p50 {p50:.2}, p99 {p99:.2}, max {max:.2}"),
            "-".into(),
            "-".into(),
            "p99 <= 10 embedded",
        );
    }

    pub fn searchable(&mut self, mut plain: Vec<u64>, mut with_token: Vec<u64>) {
        let (p50, p99, max) = summary(&mut plain);
        self.row(
            "add -> found by search (polling), ms",
            format!("p50 {p50:.2}, p99 {p99:.2}, max {max:.2}"),
            "-".into(),
            "-".into(),
            "-",
        );
        let (p50, p99, max) = summary(&mut with_token);
        self.row(
            "search with the add's Consistency-Token, ms",
            format!("p50 {p50:.2}, p99 {p99:.2}, max {max:.2}"),
            "-".into(),
            "-".into(),
            "-",
        );
    }

    pub fn print(mut self) {
        if let Some((events, took)) = self.rebuild {
            self.row(
                "moviedb rebuild, events/s",
                format!(
                    "{:.0} ({events} events in {:.1} s)",
                    events as f64 / took.as_secs_f64(),
                    took.as_secs_f64()
                ),
                "-".into(),
                "-".into(),
                ">= 100k/s SQLite, >= 30k/s MariaDB",
            );
        }
        if let Some(import) = self.import.take() {
            self.row(
                "`moviedb import` of the catalogue (one movie per line) into a fresh service, until listed and searchable",
                format!(
                    "{:.1} s for {} movies ({:.0}/s; stored in {:.1} s, import's peak memory \
                     {:.0} MB); {:.0} MB on disk after",
                    import.searchable.as_secs_f64(),
                    import.movies,
                    import.movies as f64 / import.searchable.as_secs_f64(),
                    import.stored.as_secs_f64(),
                    import.import_rss_mb,
                    import.disk_mb
                ),
                "-".into(),
                "-".into(),
                "1 000 000 in <= 30 s; <= 750 MB",
            );
        }
        let mixed = self.mixed.map_or(String::new(), |(r, w, f)| {
            format!(
                "; mixed load {} s on {} movies (the write figures grow the catalogue): \
                 {r:.0} reads/s + {w:.0} writes/s, {f} failed",
                self.mixed_secs, self.mixed_catalogue
            )
        });
        let (anon, file) = self.rss_mixed_parts;
        let rss = format!(
            "{:.0} MB after loading, {:.0} MB after mixed load ({anon:.0} anonymous, \
             {file:.0} mapped files){mixed}",
            self.rss_loaded, self.rss_mixed
        );
        let idle = format!("{:.0} MB idle", self.rss_idle);
        // No service was loaded when only parts with services of their own ran.
        if self.rss_loaded.is_finite() {
            self.row(
                "resident memory",
                rss,
                idle,
                "-".into(),
                "<= 150 MB at 100k after 5 min mixed",
            );
        }
        println!("\n{}\n", self.header);
        println!("| measure | moviedb | limit in the same run | ratio | goal |");
        println!("|---|---|---|---|---|");
        for r in &self.rows {
            println!(
                "| {} | {} | {} | {} | {} |",
                r.measure, r.ours, r.limit, r.ratio, r.goal
            );
        }
    }
}
