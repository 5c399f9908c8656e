//! Structured logs: `RUST_LOG` filters (default `info`, with sqlx and tantivy at `warn`: their
//! INFO lines are per statement and per index meta file), `MOVIEDB_LOG_FORMAT=json` for JSON.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls do nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tantivy=warn,tower_http=info"));
    let json = std::env::var("MOVIEDB_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
