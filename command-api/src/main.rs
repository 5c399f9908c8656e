//! The command API alone, for the distributed deployment (`docker-compose.yml`); configured by
//! the environment (see docs/operating.md).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let vars = moviedb_service_kit::config::from_environment()?;
    moviedb_service_kit::telemetry::init(&vars);
    moviedb_command_api::run(moviedb_command_api::Config::from_vars(vars)?).await
}
