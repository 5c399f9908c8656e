//! Structured logs: `RUST_LOG` filters (default `info`, with sqlx and tantivy at `warn`: their
//! INFO lines are per statement and per index meta file), `MOVIEDB_LOG_FORMAT=json` for JSON.

use crate::config::{LogFormat, Vars};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber for the environment `vars` read (`RUST_LOG`,
/// `MOVIEDB_LOG_FORMAT`) once; later calls do nothing. A filter that does not parse gives the
/// default.
pub fn init(vars: &Vars) {
    let filter = vars
        .log_filter
        .as_deref()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new("info,sqlx=warn,tantivy=warn,tower_http=info"));
    let json = vars.log_format == LogFormat::Json;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
