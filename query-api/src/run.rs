//! The query API as a process of its own (the `query-api` binary): it reads the read models
//! (made by the projector; `MOVIEDB_READ_DATABASE_URL` may name a read replica) and the search
//! index.

use crate::{QueryApplication, QueryParts, QueryState};
use anyhow::Context;
use moviedb_service_kit::{Config, SearchConfig};

/// Serves until SIGINT or SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    // Makes nothing if its user may not: a replica is waited for, not written. The event
    // log's heads (admin authority) come from the same database: the event store's, or a
    // replica of it.
    let (read, log) = moviedb_read_model::connect_existing_with_log(&config.read_database_url)
        .await
        .context("opening the read models")?;
    let backend = match &config.search {
        SearchConfig::Tantivy(dir) => moviedb_search::Backend::Tantivy(dir),
        SearchConfig::Elasticsearch { url, index_prefix } => {
            moviedb_search::Backend::Elasticsearch { url, index_prefix }
        }
    };
    let state = QueryState::new(QueryParts {
        read,
        log,
        search: moviedb_search::open(backend).await?,
        tokens: config.tokens(),
        wait: config.consistency_wait,
        progress: None,
        local: None,
        metrics: moviedb_service_kit::Metrics::new(),
        images: config
            .images
            .open(&config.data_dir)?
            .with_cache(crate::IMAGE_CACHE_BYTES),
        images_base_url: config.images.base_url.clone(),
    });
    let app =
        QueryApplication::build(config.listen, state, config.body_limit, config.limits).await?;
    app.run_until_stopped(moviedb_service_kit::shutdown_signal())
        .await?;
    Ok(())
}
