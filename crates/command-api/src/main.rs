//! The command API on its own, for the distributed deployment (`docker-compose.yml`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    moviedb_command_api::telemetry::init();
    let config = moviedb_command_api::Config::from_env()?;
    let app = moviedb_command_api::Application::build(config).await?;
    app.run_until_stopped(moviedb_command_api::shutdown_signal())
        .await?;
    Ok(())
}
