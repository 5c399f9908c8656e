//! Boots the real service (every role, one port) on port 0 against fresh databases, and talks
//! HTTP to it.

use moviedb::embedded::Embedded;
use moviedb_command_api::{AdminSeed, Config};
use moviedb_event_store::test_support::MySqlTestDatabase;
use moviedb_event_store::{EventStore, StoredEvent};
use moviedb_read_model::ReadModelWriter;
use moviedb_search::SearchIndex;
use moviedb_service_kit::SearchConfig;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

pub const ADMIN_EMAIL: &str = "root@example.com";
pub const ADMIN_PASSWORD: &str = "Admin_pass1";
pub const PASSWORD: &str = "Secret_123";
pub const JWT_SECRET: &[u8] = b"test-secret-test-secret-test-secret-0123";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn EventStore>,
    pub read: Arc<dyn ReadModelWriter>,
    pub search: Arc<dyn SearchIndex>,
    pub projector: moviedb_projector::Projector,
    /// Where this service keeps posters.
    pub images_dir: std::path::PathBuf,
    _shutdown: tokio::sync::oneshot::Sender<()>,
    _keep: Box<dyn std::any::Any + Send>,
}

impl TestApp {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("moviedb.db").display());
        let read = format!("sqlite://{}", dir.path().join("read-models.db").display());
        Self::spawn(url, read, Box::new(dir)).await
    }

    pub async fn mysql() -> Self {
        let db = MySqlTestDatabase::new();
        let url = db.url().to_owned();
        Self::spawn(url.clone(), url, Box::new(db)).await
    }

    /// The service on MySQL, reaching the database through `proxy` (host:port), so a test
    /// can cut it.
    pub async fn mysql_through(proxy: &str) -> Self {
        let db = MySqlTestDatabase::new();
        let url = db.url().to_owned();
        let (scheme, rest) = url.split_once("://").expect("a URL");
        let (userinfo, path) = match rest.split_once('@') {
            Some((user, rest)) => (format!("{user}@"), rest),
            None => (String::new(), rest),
        };
        let (_, database) = path.split_once('/').expect("a database name");
        let url = format!("{scheme}://{userinfo}{proxy}/{database}");
        Self::spawn(url.clone(), url, Box::new(db)).await
    }

    /// The service on SQLite with these throttling settings.
    pub async fn sqlite_throttled(throttle: moviedb_service_kit::ThrottleConfig) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("moviedb.db").display());
        let read = format!("sqlite://{}", dir.path().join("read-models.db").display());
        Self::spawn_with(url, read, Box::new(dir), throttle).await
    }

    pub async fn spawn(
        database_url: String,
        read_database_url: String,
        keep: Box<dyn std::any::Any + Send>,
    ) -> Self {
        Self::spawn_with(database_url, read_database_url, keep, Default::default()).await
    }

    /// The service on SQLite with search on the search server `scripts/test` started (under an
    /// index prefix of its own); `None`, said, without one.
    pub async fn sqlite_on_elasticsearch() -> Option<Self> {
        let url = crate::search_server::shared_url()?;
        let dir = tempfile::tempdir().expect("temp dir");
        let database = format!("sqlite://{}", dir.path().join("moviedb.db").display());
        let read = format!("sqlite://{}", dir.path().join("read-models.db").display());
        let search = SearchConfig::Elasticsearch {
            url,
            index_prefix: format!("moviedb-test-{}-", uuid::Uuid::now_v7().simple()),
        };
        Some(
            Self::spawn_on(
                database,
                read,
                Box::new(dir),
                Default::default(),
                Some(search),
            )
            .await,
        )
    }

    pub async fn spawn_with(
        database_url: String,
        read_database_url: String,
        keep: Box<dyn std::any::Any + Send>,
        throttle: moviedb_service_kit::ThrottleConfig,
    ) -> Self {
        Self::spawn_on(database_url, read_database_url, keep, throttle, None).await
    }

    /// The service on SQLite with posters kept as `images` says.
    pub async fn sqlite_with_images(images: moviedb_service_kit::config::ImagesConfig) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("moviedb.db").display());
        let read = format!("sqlite://{}", dir.path().join("read-models.db").display());
        Self::spawn_configured(
            url,
            read,
            Box::new(dir),
            Default::default(),
            None,
            Some(images),
        )
        .await
    }

    /// The service with `search` (tantivy in a temporary directory when `None`).
    pub async fn spawn_on(
        database_url: String,
        read_database_url: String,
        keep: Box<dyn std::any::Any + Send>,
        throttle: moviedb_service_kit::ThrottleConfig,
        search: Option<SearchConfig>,
    ) -> Self {
        Self::spawn_configured(
            database_url,
            read_database_url,
            keep,
            throttle,
            search,
            None,
        )
        .await
    }

    /// The service with `search` and `images` (a temporary folder when `None`).
    pub async fn spawn_configured(
        database_url: String,
        read_database_url: String,
        keep: Box<dyn std::any::Any + Send>,
        throttle: moviedb_service_kit::ThrottleConfig,
        search: Option<SearchConfig>,
        images: Option<moviedb_service_kit::config::ImagesConfig>,
    ) -> Self {
        let search_dir = tempfile::tempdir().expect("temp dir");
        let images_dir = tempfile::tempdir().expect("temp dir");
        let config = Config {
            data_dir: std::env::temp_dir(),
            read_database_url,
            kafka: None,
            search: search.unwrap_or_else(|| SearchConfig::Tantivy(search_dir.path().to_owned())),
            consistency_wait: Duration::from_secs(2),
            listen: "127.0.0.1:0".parse().expect("address"),
            database_url,
            jwt_secret: String::from_utf8_lossy(JWT_SECRET).into_owned().into(),
            token_ttl: Duration::from_secs(3600),
            body_limit: moviedb_command_api::config::DEFAULT_BODY_LIMIT,
            admin: Some(AdminSeed {
                name: "Root".into(),
                email: ADMIN_EMAIL.into(),
                password: ADMIN_PASSWORD.into(),
            }),
            throttle,
            limits: moviedb_service_kit::ServerLimits::default(),
            images: images.unwrap_or_else(|| moviedb_service_kit::config::ImagesConfig {
                store_url: Some(images_dir.path().display().to_string()),
                ..Default::default()
            }),
        };
        let app = Embedded::build(config)
            .await
            .expect("the application builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let store = app.store();
        let read = app.read_models();
        let search = app
            .search()
            .expect("the embedded service has a search index");
        let projector = app.projector();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until_stopped(async move {
            let _ = rx.await;
        }));
        Self {
            base,
            client: reqwest::Client::new(),
            store,
            read,
            search,
            projector,
            _shutdown: tx,
            images_dir: images_dir.path().to_owned(),
            _keep: Box::new((keep, search_dir, images_dir)),
        }
    }

    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = self.client.request(method, format!("{}{path}", self.base));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Response {
        self.request(method, path, token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Response {
        self.send(Method::POST, path, token, body).await
    }

    pub async fn register(&self, name: &str, email: &str) -> Response {
        self.post(
            "/v1/users",
            None,
            &json!({ "name": name, "email": email, "password": PASSWORD }),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/v1/sessions",
            None,
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    pub async fn token_of(&self, email: &str, password: &str) -> String {
        let response = self.login(email, password).await;
        assert_eq!(response.status(), 201, "login of {email}");
        body(response).await["token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.token_of(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Registers a fresh ordinary user; their id and token.
    pub async fn user(&self) -> (String, String) {
        let email = format!("user-{}@example.com", uuid::Uuid::now_v7().simple());
        let response = self.register("User", &email).await;
        assert_eq!(response.status(), 201);
        let id = body(response).await["id"].as_str().expect("id").to_owned();
        (id, self.token_of(&email, PASSWORD).await)
    }

    pub async fn add_movie(&self, token: &str, movie: &Value) -> Response {
        self.post("/v1/movies", Some(token), movie).await
    }

    pub async fn events(&self) -> Vec<StoredEvent> {
        self.store.read_all(0, 10_000).await.expect("read all")
    }
}

pub fn oz() -> Value {
    json!({
        "99popularity": 83.0, "director": "Victor Fleming",
        "genre": ["Adventure", " Family", " Fantasy", " Musical"],
        "imdb_score": 8.3, "name": "The Wizard of Oz"
    })
}

pub fn movie(name: &str) -> Value {
    json!({ "99popularity": 50.0, "director": "Someone", "genre": ["Drama"], "imdb_score": 7.0, "name": name })
}

pub fn film(name: &str, director: &str, genres: &[&str], score: f64, popularity: f64) -> Value {
    json!({ "name": name, "director": director, "genre": genres, "imdb_score": score, "99popularity": popularity })
}

/// Adds `movies` as the admin; each one's id and the `Consistency-Token` of its write.
pub async fn seed(app: &TestApp, token: &str, movies: &[Value]) -> Vec<(String, String)> {
    let mut added = Vec::new();
    for m in movies {
        let response = app.add_movie(token, m).await;
        assert_eq!(response.status(), 201, "{m}");
        let consistency = header(&response, "consistency-token");
        let id = body(response).await["id"].as_str().expect("id").to_owned();
        added.push((id, consistency));
    }
    added
}

pub async fn body(response: Response) -> Value {
    response.json().await.expect("a JSON body")
}

/// Asserts an RFC 9457 problem with `status`, and returns it.
pub async fn problem(response: Response, status: u16) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let problem = body(response).await;
    assert_eq!(problem["status"], status);
    assert!(
        problem["type"].is_string()
            && problem["title"].is_string()
            && problem["detail"].is_string(),
        "{problem}"
    );
    problem
}

pub fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The cases on SQLite with search on the search server (Elasticsearch's API), beside
/// [`on_both_backends`]'s tantivy runs.
#[macro_export]
macro_rules! on_elasticsearch {
    ($($case:ident),* $(,)?) => {
        #[cfg(feature = "elasticsearch")]
        mod elasticsearch {
            $(#[tokio::test]
            async fn $case() {
                if let Some(app) = $crate::support::TestApp::sqlite_on_elasticsearch().await {
                    super::$case(app).await
                }
            })*
        }
    };
}

/// Runs each case against SQLite and against MariaDB.
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $case() { super::$case($crate::support::TestApp::sqlite().await).await })*
        }
        mod mysql {
            $(#[tokio::test]
            async fn $case() { super::$case($crate::support::TestApp::mysql().await).await })*
        }
    };
}
