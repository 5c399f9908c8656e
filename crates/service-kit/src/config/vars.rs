//! Every environment variable moviedb reads, declared once with its type, default and bounds.
//! An empty variable counts as unset (compose files often pass `VAR=` through).

use clap::{CommandFactory, FromArgMatches, Parser};
use secrecy::{ExposeSecret, SecretString};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// The environment, parsed. Each field names its variable; [`super::Config`] and
/// [`crate::ServerLimits`] are built from it.
#[derive(Clone, Parser)]
#[command(name = "moviedb", about = "moviedb's environment")]
pub struct Vars {
    /// The data directory.
    #[arg(
        long,
        env = "MOVIEDB_DATA_DIR",
        value_name = "MOVIEDB_DATA_DIR",
        default_value = "./data"
    )]
    pub data_dir: PathBuf,
    /// Where to listen.
    #[arg(
        long,
        env = "MOVIEDB_LISTEN",
        value_name = "MOVIEDB_LISTEN",
        default_value = "0.0.0.0:9000"
    )]
    pub listen: SocketAddr,
    /// The event store: `sqlite://...` or `mysql://...`; default SQLite in the data directory.
    #[arg(
        long,
        env = "MOVIEDB_DATABASE_URL",
        value_name = "MOVIEDB_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// The read models; default a second SQLite file, or the event store's MySQL database.
    #[arg(
        long,
        env = "MOVIEDB_READ_DATABASE_URL",
        value_name = "MOVIEDB_READ_DATABASE_URL",
        hide_env_values = true
    )]
    pub read_database_url: Option<String>,
    /// Kafka brokers, `host:port,...`; unset, the embedded feed.
    #[arg(
        long,
        env = "MOVIEDB_KAFKA_BROKERS",
        value_name = "MOVIEDB_KAFKA_BROKERS"
    )]
    pub kafka_brokers: Option<String>,
    /// Topic prefix.
    #[arg(
        long,
        env = "MOVIEDB_KAFKA_TOPIC_PREFIX",
        value_name = "MOVIEDB_KAFKA_TOPIC_PREFIX",
        default_value = "moviedb"
    )]
    pub kafka_topic_prefix: String,
    /// Partitions of the topics created here.
    #[arg(long, env = "MOVIEDB_KAFKA_PARTITIONS", value_name = "MOVIEDB_KAFKA_PARTITIONS", default_value_t = 3, value_parser = clap::value_parser!(i32).range(1..))]
    pub kafka_partitions: i32,
    /// The projector's consumer group.
    #[arg(
        long,
        env = "MOVIEDB_KAFKA_GROUP",
        value_name = "MOVIEDB_KAFKA_GROUP",
        default_value = "moviedb-projector"
    )]
    pub kafka_group: String,
    /// librdkafka debug contexts, for example `cgrp,fetch`.
    #[arg(long, env = "MOVIEDB_KAFKA_DEBUG", value_name = "MOVIEDB_KAFKA_DEBUG")]
    pub kafka_debug: Option<String>,
    /// Elasticsearch, `http://host:9200`; unset, tantivy.
    #[arg(
        long,
        env = "MOVIEDB_ELASTICSEARCH_URL",
        value_name = "MOVIEDB_ELASTICSEARCH_URL",
        hide_env_values = true
    )]
    pub elasticsearch_url: Option<String>,
    /// Put before the Elasticsearch index names.
    #[arg(
        long,
        env = "MOVIEDB_ELASTICSEARCH_INDEX_PREFIX",
        value_name = "MOVIEDB_ELASTICSEARCH_INDEX_PREFIX",
        default_value = ""
    )]
    pub elasticsearch_index_prefix: String,
    /// The tantivy index directory; default `<data dir>/search`.
    #[arg(long, env = "MOVIEDB_SEARCH_DIR", value_name = "MOVIEDB_SEARCH_DIR")]
    pub search_dir: Option<PathBuf>,
    /// How long a query with a `Consistency-Token` may wait, in milliseconds.
    #[arg(
        long,
        env = "MOVIEDB_CONSISTENCY_WAIT_MS",
        value_name = "MOVIEDB_CONSISTENCY_WAIT_MS",
        default_value_t = 2000
    )]
    pub consistency_wait_ms: u64,
    /// HMAC key of the tokens, at least 32 characters; default generated into the data dir.
    #[arg(long, env = "MOVIEDB_JWT_SECRET", value_name = "MOVIEDB_JWT_SECRET", hide_env_values = true, value_parser = token_secret)]
    pub jwt_secret: Option<SecretString>,
    /// How long a token lives, in minutes.
    #[arg(long, env = "MOVIEDB_TOKEN_TTL_MINUTES", value_name = "MOVIEDB_TOKEN_TTL_MINUTES", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=525_600))]
    pub token_ttl_minutes: u64,
    /// Largest request body, in bytes.
    #[arg(long, env = "MOVIEDB_BODY_LIMIT_BYTES", value_name = "MOVIEDB_BODY_LIMIT_BYTES", default_value_t = super::DEFAULT_BODY_LIMIT)]
    pub body_limit_bytes: usize,
    /// The admin to create at start: e-mail.
    #[arg(long, env = "MOVIEDB_ADMIN_EMAIL", value_name = "MOVIEDB_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// The admin to create at start: password.
    #[arg(long, env = "MOVIEDB_ADMIN_PASSWORD", value_name = "MOVIEDB_ADMIN_PASSWORD", hide_env_values = true, value_parser = secret)]
    pub admin_password: Option<SecretString>,
    /// The admin to create at start: display name.
    #[arg(
        long,
        env = "MOVIEDB_ADMIN_NAME",
        value_name = "MOVIEDB_ADMIN_NAME",
        default_value = "admin"
    )]
    pub admin_name: String,
    /// The throttling window, in seconds.
    #[arg(long, env = "MOVIEDB_THROTTLE_WINDOW_SECS", value_name = "MOVIEDB_THROTTLE_WINDOW_SECS", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub throttle_window_secs: u32,
    /// Login attempts per account (e-mail) per window.
    #[arg(long, env = "MOVIEDB_THROTTLE_LOGIN_PER_ACCOUNT", value_name = "MOVIEDB_THROTTLE_LOGIN_PER_ACCOUNT", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub throttle_login_per_account: u32,
    /// Login attempts per client address per window.
    #[arg(long, env = "MOVIEDB_THROTTLE_LOGIN_PER_CLIENT", value_name = "MOVIEDB_THROTTLE_LOGIN_PER_CLIENT", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub throttle_login_per_client: u32,
    /// Registrations per client address per window.
    #[arg(long, env = "MOVIEDB_THROTTLE_REGISTER_PER_CLIENT", value_name = "MOVIEDB_THROTTLE_REGISTER_PER_CLIENT", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub throttle_register_per_client: u32,
    /// Peers whose `X-Forwarded-For` is believed (the gateway), comma-separated.
    #[arg(long, env = "MOVIEDB_TRUSTED_PROXIES", value_name = "MOVIEDB_TRUSTED_PROXIES", value_delimiter = ',', value_parser = ip_address)]
    pub trusted_proxies: Vec<IpAddr>,
    /// Time to receive a request head (and the keep-alive idle time), in milliseconds.
    #[arg(long, env = "MOVIEDB_HEADER_TIMEOUT_MS", value_name = "MOVIEDB_HEADER_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_ms: u64,
    /// Time to receive the body once the head is in, in milliseconds.
    #[arg(long, env = "MOVIEDB_BODY_TIMEOUT_MS", value_name = "MOVIEDB_BODY_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout_ms: u64,
    /// Time to answer a request, in milliseconds.
    #[arg(long, env = "MOVIEDB_REQUEST_TIMEOUT_MS", value_name = "MOVIEDB_REQUEST_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_ms: u64,
    /// Open connections at most.
    #[arg(long, env = "MOVIEDB_MAX_CONNECTIONS", value_name = "MOVIEDB_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
    /// Requests in progress at most.
    #[arg(long, env = "MOVIEDB_MAX_REQUESTS", value_name = "MOVIEDB_MAX_REQUESTS", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_requests: u64,
    /// How log lines are written: `text` or `json`.
    #[arg(long, env = "MOVIEDB_LOG_FORMAT", value_name = "MOVIEDB_LOG_FORMAT", value_enum, ignore_case = true, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Which log lines are written (tracing's filter syntax); default `info`, with sqlx and
    /// tantivy at `warn`.
    #[arg(long, env = "RUST_LOG", value_name = "RUST_LOG")]
    pub log_filter: Option<String>,
    /// Where posters are kept: unset, `<data dir>/images`; a path, `file:///path`, or
    /// `s3://bucket[/prefix]` (with the `AWS_*` settings below).
    #[arg(
        long,
        env = "MOVIEDB_OBJECT_STORE_URL",
        value_name = "MOVIEDB_OBJECT_STORE_URL"
    )]
    pub object_store_url: Option<String>,
    /// Where clients fetch images from (a CDN, or the bucket's public address), ending in the
    /// folder that holds the sizes; unset, this server's `/images/`.
    #[arg(
        long,
        env = "MOVIEDB_IMAGES_BASE_URL",
        value_name = "MOVIEDB_IMAGES_BASE_URL"
    )]
    pub images_base_url: Option<String>,
    /// Largest poster upload, in bytes.
    #[arg(long, env = "MOVIEDB_POSTER_MAX_BYTES", value_name = "MOVIEDB_POSTER_MAX_BYTES", default_value_t = 10 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..=(256 * 1024 * 1024)))]
    pub poster_max_bytes: u64,
    /// How long a poster no movie shows is kept before the sweep deletes it, so a CDN that
    /// fetches late still finds it.
    #[arg(
        long,
        env = "MOVIEDB_IMAGES_SWEEP_GRACE_SECS",
        value_name = "MOVIEDB_IMAGES_SWEEP_GRACE_SECS",
        default_value_t = 86_400
    )]
    pub images_sweep_grace_secs: u64,
    /// How often the projector sweeps (0: never; `moviedb sweep-images` still does).
    #[arg(
        long,
        env = "MOVIEDB_IMAGES_SWEEP_EVERY_SECS",
        value_name = "MOVIEDB_IMAGES_SWEEP_EVERY_SECS",
        default_value_t = 3_600
    )]
    pub images_sweep_every_secs: u64,
    /// An S3-compatible server's endpoint (`http://127.0.0.1:9000`); unset, AWS.
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,
    /// The bucket's region.
    #[arg(long, env = "AWS_REGION", value_name = "AWS_REGION")]
    pub aws_region: Option<String>,
    /// The access key.
    #[arg(long, env = "AWS_ACCESS_KEY_ID", value_name = "AWS_ACCESS_KEY_ID")]
    pub aws_access_key_id: Option<String>,
    /// Its secret.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", value_name = "AWS_SECRET_ACCESS_KEY", hide_env_values = true, value_parser = secret)]
    pub aws_secret_access_key: Option<SecretString>,
    /// Whether an `http://` endpoint is allowed (an S3-compatible server on a private network).
    #[arg(long, env = "AWS_ALLOW_HTTP", value_name = "AWS_ALLOW_HTTP", default_value_t = false, action = clap::ArgAction::Set)]
    pub aws_allow_http: bool,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Parses the environment alone (no command line): an empty variable counts as unset, and a
/// bad value is an error naming its variable.
pub fn from_environment() -> anyhow::Result<Vars> {
    let command = Vars::command().no_binary_name(true).mut_args(|arg| {
        let empty = arg
            .get_env()
            .and_then(std::env::var_os)
            .is_some_and(|value| value.to_string_lossy().trim().is_empty());
        if empty {
            arg.env(None::<&'static str>)
        } else {
            arg
        }
    });
    let mut matches = command
        .try_get_matches_from(std::iter::empty::<String>())
        .map_err(refused)?;
    Vars::from_arg_matches_mut(&mut matches).map_err(refused)
}

/// A refused variable, said in the environment's terms: its name and why, and the value only
/// when it is not a secret (clap's own message names a flag and shows every value).
fn refused(error: clap::Error) -> anyhow::Error {
    use clap::error::{ContextKind, ContextValue};
    let name = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg
            .rsplit_once('<')
            .and_then(|(_, name)| name.strip_suffix('>'))
            .map(str::to_owned),
        _ => None,
    };
    let Some(name) = name else {
        return anyhow::anyhow!("the environment is not usable: {}", error.kind());
    };
    let why = std::error::Error::source(&error)
        .map_or_else(|| error.kind().to_string(), ToString::to_string);
    let secret = Vars::command().get_arguments().any(|a| {
        a.get_value_names()
            .is_some_and(|n| n.iter().any(|n| n == name.as_str()))
            && a.is_hide_env_values_set()
    });
    match error.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(value)) if !secret => {
            anyhow::anyhow!("{name}: {why} (got `{value}`)")
        }
        _ => anyhow::anyhow!("{name}: {why}"),
    }
}

fn secret(raw: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(raw.to_owned()))
}

fn token_secret(raw: &str) -> Result<SecretString, String> {
    let secret = secret(raw)?;
    if secret.expose_secret().len() < 32 {
        return Err("must be at least 32 characters".into());
    }
    Ok(secret)
}

fn ip_address(raw: &str) -> Result<IpAddr, String> {
    raw.trim()
        .parse()
        .map_err(|_| format!("`{}` is not an IP address", raw.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<Vars, String> {
        let mut command = Vars::command().no_binary_name(true);
        // The same declarations, fed explicitly instead of from the process environment.
        let mut args = Vec::new();
        for (name, value) in vars {
            let arg = command
                .get_arguments()
                .find(|a| a.get_env().is_some_and(|e| e == *name))
                .unwrap_or_else(|| panic!("{name} is not declared"));
            args.push(format!("--{}={value}", arg.get_long().unwrap_or_default()));
        }
        command.build();
        command
            .try_get_matches_from(args)
            .and_then(|mut m| Vars::from_arg_matches_mut(&mut m))
            .map_err(|e| refused(e).to_string())
    }

    #[test]
    fn defaults_hold_without_variables() {
        let vars = parse(&[]).expect("defaults");
        assert_eq!(vars.listen, "0.0.0.0:9000".parse().expect("address"));
        assert_eq!(vars.kafka_partitions, 3);
        assert_eq!(vars.throttle_login_per_account, 10);
        assert!(vars.trusted_proxies.is_empty());
        assert!(vars.jwt_secret.is_none());
    }

    #[test]
    fn bad_values_are_refused_naming_the_variable() {
        for (name, value) in [
            ("MOVIEDB_LISTEN", "nowhere"),
            ("MOVIEDB_KAFKA_PARTITIONS", "0"),
            ("MOVIEDB_THROTTLE_WINDOW_SECS", "0"),
            ("MOVIEDB_MAX_REQUESTS", "-1"),
            ("MOVIEDB_JWT_SECRET", "short"),
            ("MOVIEDB_TRUSTED_PROXIES", "10.0.0.1,gateway"),
        ] {
            let Err(error) = parse(&[(name, value)]) else {
                panic!("{name}={value} was accepted");
            };
            assert!(error.starts_with(&format!("{name}: ")), "{name}: {error}");
            if name == "MOVIEDB_JWT_SECRET" {
                assert!(!error.contains(value), "a secret is not shown: {error}");
            } else {
                // A list is checked item by item: the bad item is shown.
                let item = value.rsplit(',').next().unwrap_or(value);
                assert!(error.contains(&format!("(got `{item}`)")), "{error}");
            }
        }
    }

    #[test]
    fn secrets_and_passwords_in_urls_do_not_print() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().display().to_string();
        let vars = parse(&[
            ("MOVIEDB_DATA_DIR", &data_dir),
            (
                "MOVIEDB_JWT_SECRET",
                "0123456789abcdef0123456789abcdef-secret",
            ),
            ("MOVIEDB_ADMIN_EMAIL", "root@example.com"),
            ("MOVIEDB_ADMIN_PASSWORD", "Sup3r_secret"),
            (
                "MOVIEDB_DATABASE_URL",
                "mysql://moviedb:db-password@db/moviedb",
            ),
        ])
        .expect("parsed");
        let config = super::super::Config::from_vars(vars).expect("config");
        let shown = format!("{config:?}");
        for secret in ["-secret", "Sup3r_secret", "db-password"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("root@example.com"), "{shown}");
    }
}
