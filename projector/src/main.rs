//! The projector alone, for the distributed deployment (`docker-compose.yml`); configured by
//! the environment (see docs/operating.md).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    moviedb_service_kit::telemetry::init();
    moviedb_projector::run(moviedb_service_kit::Config::from_env()?).await
}
