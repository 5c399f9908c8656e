//! Configuration from the environment (documented in docs/operating.md and .env.example), read with
//! clap's `env` support into [`Vars`] and turned into [`Config`]: each variable is declared
//! once, with its type, default and bounds; secrets are held as [`SecretString`] so they print
//! as `[REDACTED]`.

mod vars;

pub use vars::{from_environment, LogFormat, Vars};

use anyhow::{bail, Context};
use rand::RngCore;
use secrecy::SecretString;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything the services need to start, from the environment. Each role reads what it needs.
#[derive(Clone)]
pub struct Config {
    /// The data directory (`MOVIEDB_DATA_DIR`, default `./data`).
    pub data_dir: PathBuf,
    /// The read models (`MOVIEDB_READ_DATABASE_URL`; default: a second SQLite file beside the
    /// event store's, or the event store's own MySQL database).
    pub read_database_url: String,
    /// Kafka (`MOVIEDB_KAFKA_BROKERS`); absent: the embedded feed.
    pub kafka: Option<KafkaConfig>,
    /// The search index: Elasticsearch if `MOVIEDB_ELASTICSEARCH_URL` is set, else tantivy.
    pub search: SearchConfig,
    /// How long a query with a `Consistency-Token` may wait (`MOVIEDB_CONSISTENCY_WAIT_MS`,
    /// default 2000).
    pub consistency_wait: Duration,
    /// Where to listen (`MOVIEDB_LISTEN`, default `0.0.0.0:9000`).
    pub listen: SocketAddr,
    /// `sqlite://...` or `mysql://...` (`MOVIEDB_DATABASE_URL`, default SQLite in the data dir).
    pub database_url: String,
    /// HMAC key of the tokens (`MOVIEDB_JWT_SECRET`, else generated into the data dir).
    pub jwt_secret: SecretString,
    /// How long a token lives (`MOVIEDB_TOKEN_TTL_MINUTES`, default 60).
    pub token_ttl: Duration,
    /// Largest request body (`MOVIEDB_BODY_LIMIT_BYTES`, default 1 MiB).
    pub body_limit: usize,
    /// The admin to create at start (`MOVIEDB_ADMIN_EMAIL`, `MOVIEDB_ADMIN_PASSWORD`,
    /// `MOVIEDB_ADMIN_NAME`).
    pub admin: Option<AdminSeed>,
    /// Login and registration throttling.
    pub throttle: ThrottleConfig,
    /// The HTTP server's time limits and caps (`MOVIEDB_*_TIMEOUT_MS`, `MOVIEDB_MAX_*`).
    pub limits: crate::ServerLimits,
    /// Where posters are kept and served from.
    pub images: ImagesConfig,
}

/// Where posters are kept and served from (`MOVIEDB_OBJECT_STORE_URL`, `MOVIEDB_IMAGES_*`,
/// `MOVIEDB_POSTER_MAX_BYTES`, `AWS_*`).
#[derive(Clone)]
pub struct ImagesConfig {
    /// The store's URL; unset, `<data dir>/images`.
    pub store_url: Option<String>,
    /// The store's S3 settings, for an `s3://` URL.
    pub s3: moviedb_images::S3Settings,
    /// Where clients fetch images; unset, this server's `/images/`.
    pub base_url: Option<String>,
    /// What an upload may be.
    pub limits: moviedb_images::Limits,
    /// How long an unused poster is kept.
    pub sweep_grace: Duration,
    /// How often the projector sweeps; `None`: never.
    pub sweep_every: Option<Duration>,
}

impl Default for ImagesConfig {
    /// `<data dir>/images`, served here, the default limits, a day's grace, a sweep an hour.
    fn default() -> Self {
        Self {
            store_url: None,
            s3: moviedb_images::S3Settings::default(),
            base_url: None,
            limits: moviedb_images::Limits::default(),
            sweep_grace: Duration::from_secs(86_400),
            sweep_every: Some(Duration::from_secs(3_600)),
        }
    }
}

impl ImagesConfig {
    /// Opens the store this configuration names (without asking it anything).
    pub fn open(&self, data_dir: &Path) -> anyhow::Result<moviedb_images::ImageStore> {
        moviedb_images::ImageStore::open(self.store_url.as_deref(), data_dir, &self.s3)
            .context("opening the image store")
    }
}

impl std::fmt::Debug for ImagesConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImagesConfig")
            .field("store_url", &self.store_url)
            .field("s3_endpoint", &self.s3.endpoint)
            .field("base_url", &self.base_url)
            .field("limits", &self.limits)
            .field("sweep_grace", &self.sweep_grace)
            .finish_non_exhaustive()
    }
}

/// How often logins and registrations are allowed, in a sliding window (`MOVIEDB_THROTTLE_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// The window (`MOVIEDB_THROTTLE_WINDOW_SECS`, default 60).
    pub window: Duration,
    /// Login attempts per account (e-mail) per window (`MOVIEDB_THROTTLE_LOGIN_PER_ACCOUNT`,
    /// default 10).
    pub login_per_account: u32,
    /// Login attempts per client address per window (`MOVIEDB_THROTTLE_LOGIN_PER_CLIENT`,
    /// default 60).
    pub login_per_client: u32,
    /// Registrations per client address per window
    /// (`MOVIEDB_THROTTLE_REGISTER_PER_CLIENT`, default 20).
    pub register_per_client: u32,
    /// Peers whose `X-Forwarded-For` is believed: the gateway (`MOVIEDB_TRUSTED_PROXIES`,
    /// comma-separated addresses; default none, so the header is ignored).
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(60),
            login_per_account: 10,
            login_per_client: 60,
            register_per_client: 20,
            trusted_proxies: Vec::new(),
        }
    }
}

/// Where Kafka is and how moviedb uses it.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `host:port,...` (`MOVIEDB_KAFKA_BROKERS`).
    pub brokers: String,
    /// Topic prefix (`MOVIEDB_KAFKA_TOPIC_PREFIX`, default `moviedb`).
    pub topic_prefix: String,
    /// Partitions of topics created here (`MOVIEDB_KAFKA_PARTITIONS`, default 3).
    pub partitions: i32,
    /// The projector's consumer group (`MOVIEDB_KAFKA_GROUP`, default `moviedb-projector`).
    pub group: String,
    /// librdkafka debug contexts (`MOVIEDB_KAFKA_DEBUG`, for example `cgrp,fetch`), logged at
    /// the `librdkafka` target; unset, none.
    pub debug: Option<String>,
}

/// Where movie search lives.
#[derive(Clone)]
pub enum SearchConfig {
    /// A tantivy index in this directory (`MOVIEDB_SEARCH_DIR`, default `<data dir>/search`).
    Tantivy(PathBuf),
    /// Elasticsearch.
    Elasticsearch {
        /// `http://host:9200` (`MOVIEDB_ELASTICSEARCH_URL`).
        url: String,
        /// Put before the index names `movies` and `movie-events`
        /// (`MOVIEDB_ELASTICSEARCH_INDEX_PREFIX`, default none).
        index_prefix: String,
    },
}

impl std::fmt::Debug for SearchConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SearchConfig::Tantivy(dir) => f.debug_tuple("Tantivy").field(dir).finish(),
            // The URL may carry a password.
            SearchConfig::Elasticsearch { url, index_prefix } => f
                .debug_struct("Elasticsearch")
                .field("url", &redact_url(url))
                .field("index_prefix", index_prefix)
                .finish(),
        }
    }
}

/// An admin to create if missing.
#[derive(Clone)]
pub struct AdminSeed {
    /// Display name.
    pub name: String,
    /// Login address.
    pub email: String,
    /// Password in clear; checked against the policy, hashed, never logged.
    pub password: SecretString,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("read_database_url", &redact_url(&self.read_database_url))
            .field("kafka", &self.kafka)
            .field("search", &self.search)
            .field("consistency_wait", &self.consistency_wait)
            .field("token_ttl", &self.token_ttl)
            .field("body_limit", &self.body_limit)
            .field("admin", &self.admin.as_ref().map(|a| &a.email))
            .field("throttle", &self.throttle)
            .field("limits", &self.limits)
            .field("images", &self.images)
            .finish_non_exhaustive()
    }
}

/// The default request body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

impl Config {
    /// The token issuer and checker of this configuration's key and lifetime.
    pub fn tokens(&self) -> crate::auth::Tokens {
        use secrecy::ExposeSecret;
        crate::auth::Tokens::new(self.jwt_secret.expose_secret().as_bytes(), self.token_ttl)
    }

    /// The configuration `vars` describe; creates the data directory and, if needed, the
    /// token secret.
    pub fn from_vars(vars: Vars) -> anyhow::Result<Self> {
        let limits = crate::ServerLimits::from_vars(&vars);
        let images = ImagesConfig {
            store_url: vars.object_store_url.clone(),
            s3: moviedb_images::S3Settings {
                endpoint: vars.aws_endpoint_url.clone(),
                region: vars.aws_region.clone(),
                access_key_id: vars.aws_access_key_id.clone(),
                secret_access_key: vars
                    .aws_secret_access_key
                    .as_ref()
                    .map(|s| secrecy::ExposeSecret::expose_secret(s).to_owned()),
                allow_http: vars.aws_allow_http,
            },
            base_url: vars.images_base_url.clone(),
            limits: moviedb_images::Limits {
                max_bytes: usize::try_from(vars.poster_max_bytes).unwrap_or(usize::MAX),
                ..moviedb_images::Limits::default()
            },
            sweep_grace: Duration::from_secs(vars.images_sweep_grace_secs),
            sweep_every: (vars.images_sweep_every_secs > 0)
                .then(|| Duration::from_secs(vars.images_sweep_every_secs)),
        };
        let data_dir = vars.data_dir;
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let database_url = vars
            .database_url
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("moviedb.db").display()));
        let read_database_url = vars.read_database_url.unwrap_or_else(|| {
            if database_url.starts_with("sqlite:") {
                format!("sqlite://{}", data_dir.join("read-models.db").display())
            } else {
                database_url.clone()
            }
        });
        let kafka = vars.kafka_brokers.map(|brokers| KafkaConfig {
            brokers,
            topic_prefix: vars.kafka_topic_prefix,
            partitions: vars.kafka_partitions,
            group: vars.kafka_group,
            debug: vars.kafka_debug,
        });
        let search = match vars.elasticsearch_url {
            Some(url) => SearchConfig::Elasticsearch {
                url,
                index_prefix: vars.elasticsearch_index_prefix,
            },
            None => {
                SearchConfig::Tantivy(vars.search_dir.unwrap_or_else(|| data_dir.join("search")))
            }
        };
        let jwt_secret = match vars.jwt_secret {
            Some(secret) => secret,
            None => secret_file(&data_dir.join("jwt-secret"))?,
        };
        let admin = match (vars.admin_email, vars.admin_password) {
            (Some(email), Some(password)) => Some(AdminSeed {
                name: vars.admin_name,
                email,
                password,
            }),
            (None, None) => None,
            _ => bail!("set both MOVIEDB_ADMIN_EMAIL and MOVIEDB_ADMIN_PASSWORD, or neither"),
        };
        Ok(Self {
            data_dir,
            read_database_url,
            kafka,
            search,
            consistency_wait: Duration::from_millis(vars.consistency_wait_ms),
            listen: vars.listen,
            database_url,
            jwt_secret,
            token_ttl: Duration::from_secs(vars.token_ttl_minutes * 60),
            body_limit: vars.body_limit_bytes,
            admin,
            throttle: ThrottleConfig {
                window: Duration::from_secs(vars.throttle_window_secs.into()),
                login_per_account: vars.throttle_login_per_account,
                login_per_client: vars.throttle_login_per_client,
                register_per_client: vars.throttle_register_per_client,
                trusted_proxies: vars.trusted_proxies,
            },
            limits,
            images,
        })
    }
}

/// Reads the secret kept in the data directory, or makes one (owner-only) on first start.
fn secret_file(path: &Path) -> anyhow::Result<SecretString> {
    match std::fs::read_to_string(path) {
        Ok(secret) if secret.trim().len() >= 32 => return Ok(secret.trim().into()),
        Ok(_) => bail!(
            "{} holds a secret shorter than 32 characters",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let mut bytes = [0u8; 48];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => file
            .write_all(secret.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?,
        // Another process made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return secret_file(path),
        Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
    }
    tracing::info!(path = %path.display(), "generated a token secret");
    Ok(secret.into())
}

/// A database URL with its password replaced, fit for logs and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
