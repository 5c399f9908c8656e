//! The nginx gateway of docker-compose.yml, tested with Debian's nginx in front of the real
//! `command-api`, `projector` and `query-api` binaries (on MariaDB, the outbox feeding the
//! projector, a tantivy index the projector writes and query-api reads): the original routes
//! and `/v1` answer on one port, reads go to query-api and writes to command-api.
//!
//! nginx comes from `MOVIEDB_NGINX` or the `PATH` (`scripts/ensure-nginx` installs it); without
//! it the test prints that it was skipped, unless `MOVIEDB_REQUIRE_NGINX=1`.

use moviedb_test_support::broker;
mod kill;
use moviedb_test_support::process;
mod stack;

use moviedb_event_store::test_support::MySqlTestDatabase;
use process::{free_port, role, Process};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SECRET: &str = "gateway-test-secret-0123456789-abcdefgh";
const ADMIN_EMAIL: &str = "gate@example.com";
const ADMIN_PASSWORD: &str = "Gate_keeper9";

fn nginx() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MOVIEDB_NGINX") {
        return Some(PathBuf::from(path));
    }
    let found = ["/usr/sbin/nginx", "/usr/local/sbin/nginx"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var("MOVIEDB_REQUIRE_NGINX").is_err(),
            "MOVIEDB_REQUIRE_NGINX is set but nginx was not found (scripts/ensure-nginx)"
        );
        eprintln!("SKIPPED: no nginx (set MOVIEDB_NGINX or run scripts/test)");
    }
    found
}

/// The repository's template with its `${...}` filled in, as the nginx image's envsubst does.
fn render(template: &str, vars: &[(&str, String)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in vars {
        out = out.replace(&format!("${{{name}}}"), value);
    }
    assert!(
        !out.contains("${"),
        "an unfilled variable is left in the template"
    );
    out
}

/// nginx with the gateway configuration, in a directory of its own.
fn start_nginx(binary: &Path, dir: &Path, command: &str, query: &str, port: u16) -> Process {
    let template = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx/templates/moviedb.conf.template"),
    )
    .expect("the template");
    let server = render(
        &template,
        &[
            ("MOVIEDB_COMMAND_API", command.to_owned()),
            ("MOVIEDB_QUERY_API", query.to_owned()),
            ("MOVIEDB_GATEWAY_PORT", format!("127.0.0.1:{port}")),
        ],
    );
    std::fs::write(dir.join("moviedb.conf"), server).expect("write");
    // What the nginx image's own nginx.conf provides around conf.d.
    let main = format!(
        "pid {d}/nginx.pid;\nerror_log {d}/error.log warn;\nevents {{}}\nhttp {{\n\
         access_log off;\nclient_body_temp_path {d}/body;\nproxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\nuwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n\
         include {d}/moviedb.conf;\n}}\n",
        d = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), main).expect("write");
    let checked = Command::new(binary)
        .args(["-t", "-p"])
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .output()
        .expect("nginx -t runs");
    assert!(
        checked.status.success(),
        "nginx -t: {}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let mut command = Command::new(binary);
    command
        .args(["-g", "daemon off; master_process off;", "-p"])
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"));
    let process = Process::spawn(command);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    process
}

fn host_port(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

#[tokio::test]
async fn the_gateway_serves_both_sides_on_one_port_and_routes_by_method() {
    let Some(nginx) = nginx() else { return };
    let db = MySqlTestDatabase::new();
    let data = tempfile::tempdir().expect("temp dir");
    let env = vec![
        ("MOVIEDB_DATABASE_URL", db.url().to_owned()),
        ("MOVIEDB_JWT_SECRET", SECRET.to_owned()),
        ("MOVIEDB_ADMIN_EMAIL", ADMIN_EMAIL.to_owned()),
        ("MOVIEDB_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        ("MOVIEDB_CONSISTENCY_WAIT_MS", "5000".to_owned()),
    ];
    let command = role("command-api", &env, data.path());
    let command_address = command.address();
    let projector = role("projector", &env, data.path());
    projector.address();
    let mut query = Some(role("query-api", &env, data.path()));
    let query_address = query.as_ref().map(Process::address).unwrap_or_default();
    let nginx_dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let _gateway = start_nginx(
        &nginx,
        nginx_dir.path(),
        &host_port(&command_address),
        &host_port(&query_address),
        port,
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();

    // The original app's routes, through the one port.
    let registered = client
        .post(format!("{base}/api/register/"))
        .json(&json!({ "name": "Ann", "email": "ann@example.com", "password": "Secret_123" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(registered.status(), 201);
    let login = client
        .post(format!("{base}/api/login_user/"))
        .json(&json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }))
        .send()
        .await
        .expect("sent");
    assert_eq!(login.status(), 201);
    let token = login.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let added = client
        .post(format!("{base}/api/movies_curd/"))
        .header("x-access-token", &token)
        .json(
            &json!({ "name": "Vertigo", "director": "Alfred Hitchcock", "genre": ["Mystery"],
            "imdb_score": 8.3, "99popularity": 83.0 }),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(added.status(), 201);
    let consistency = added
        .headers()
        .get("consistency-token")
        .and_then(|v| v.to_str().ok())
        .expect("a Consistency-Token through the gateway")
        .to_owned();
    let id = added.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let read = |path: String| {
        let (client, consistency) = (client.clone(), consistency.clone());
        async move {
            client
                .get(path)
                .header("consistency-token", consistency)
                .send()
                .await
                .expect("sent")
        }
    };
    let detail = read(format!("{base}/single_movies/{id}")).await;
    assert_eq!(detail.status(), 200);
    assert_eq!(
        detail.headers().get("etag").and_then(|v| v.to_str().ok()),
        Some("\"1\"")
    );
    let list = read(format!("{base}/api/movies_curd/")).await;
    assert_eq!(list.json::<Value>().await.expect("json")["total"], 1);
    // Search: the projector's index, read by another process, covered by the token.
    let found = read(format!("{base}/v1/movies/search?q=hitchcok")).await;
    assert_eq!(found.status(), 200);
    let found = found.json::<Value>().await.expect("json");
    assert_eq!(found["items"][0]["name"], "Vertigo", "{found}");

    // A bulk add of a thousand movies: its answer's Consistency-Token stays under 1 KB, so
    // nginx passes it on, and it covers every movie stored.
    let bulk: Vec<Value> = (0..1000)
        .map(|i| {
            json!({ "name": format!("Bulk {i}"), "director": "Gate Keeper",
            "genre": ["Drama"], "imdb_score": 5.0, "99popularity": 50.0 })
        })
        .collect();
    let added = client
        .post(format!("{base}/v1/movies"))
        .bearer_auth(&token)
        .json(&bulk)
        .send()
        .await
        .expect("sent");
    assert_eq!(added.status(), 207);
    let bulk_token = added
        .headers()
        .get("consistency-token")
        .and_then(|v| v.to_str().ok())
        .expect("a Consistency-Token through the gateway")
        .to_owned();
    assert!(bulk_token.len() < 1024, "{} bytes", bulk_token.len());
    assert_eq!(added.json::<Value>().await.expect("json")["created"], 1000);
    let listed = client
        .get(format!(
            "{base}/v1/movies?director=Gate%20Keeper&per_page=1"
        ))
        .header("consistency-token", &bulk_token)
        .send()
        .await
        .expect("sent");
    assert_eq!(listed.status(), 200);
    assert_eq!(listed.json::<Value>().await.expect("json")["total"], 1000);

    // Reads go to query-api: with it gone they fail (a 503 problem from the gateway) while
    // writes, which go to command-api, still succeed.
    query = None;
    drop(query);
    let down = read(format!("{base}/v1/movies")).await;
    assert_eq!(down.status(), 503);
    assert_eq!(
        down.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    assert_eq!(
        down.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let problem: Value = down.json().await.expect("json");
    assert_eq!(problem["status"], 503);
    let edited = client
        .put(format!("{base}/single_movies/{id}"))
        .header("x-access-token", &token)
        .json(&json!({ "name": "Vertigo", "director": "Alfred Hitchcock", "genre": ["Mystery", "Thriller"],
            "imdb_score": 8.3, "99popularity": 84.0 }))
        .send()
        .await
        .expect("sent");
    assert_eq!(edited.status(), 200, "writes do not need query-api");
}
