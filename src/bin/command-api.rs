//! The command API alone, for the distributed deployment (`docker-compose.yml`); configured by
//! the environment like `moviedb` (see README.md).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    moviedb_http::telemetry::init();
    moviedb::roles::command_api(moviedb::Config::from_env()?).await
}
