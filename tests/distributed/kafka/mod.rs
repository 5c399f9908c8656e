//! The distributed deployment end to end: the `command-api`, `projector` and `query-api`
//! binaries, several instances of each, on MariaDB and the Kafka-compatible broker tansu,
//! through real HTTP, including a broker restart in the middle of writes.
//!
//! The broker comes from `MOVIEDB_TANSU` (set by `scripts/test`) or `tansu` on the `PATH`.
//! Without one these tests print that they were skipped, unless `MOVIEDB_REQUIRE_KAFKA=1`.

use moviedb_test_support::broker;
mod faults;
mod metrics;
mod posters;
use moviedb_test_support::process;
mod stack;

use broker::{tansu, Broker};
use moviedb_event_store::test_support::MySqlTestDatabase;
use process::{role, Process};
use serde_json::{json, Value};
use stack::{consistency, Stack};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const ADMIN_EMAIL: &str = "ops@example.com";
const ADMIN_PASSWORD: &str = "Distr1buted_ok";
const SECRET: &str = "distributed-test-secret-0123456789-abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_three_roles_serve_the_original_app_through_mysql_and_kafka() {
    let Some(tansu) = tansu() else { return };
    let stack = Stack::start(tansu, 2, 2, 2);
    let admin = stack.token(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    use reqwest::Method;

    let registered = stack
        .send(
            Method::POST,
            format!("{}/api/register/", stack.command(1)),
            None,
            Some(json!({ "name": "Dee", "email": "dee@example.com", "password": "Dee_pass99" })),
            None,
        )
        .await;
    assert_eq!(registered.status(), 201);
    let user = stack.token("dee@example.com", "Dee_pass99").await;

    let added = stack
        .send(Method::POST, format!("{}/api/movies_curd/", stack.command(0)), Some(&admin), Some(json!({ "name": "Rear Window", "director": "Alfred Hitchcock", "genre": ["Mystery", " Thriller"], "imdb_score": 8.5, "99popularity": 85 })), None)
        .await;
    assert_eq!(added.status(), 201);
    let token = consistency(&added);
    let id = added.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let (status, list) = stack
        .read(0, "/api/movies_curd/?genre=Thriller", None, &token)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["items"][0]["name"], "Rear Window");

    let forbidden = stack.send(Method::PUT, format!("{}/single_movies/{id}", stack.command(1)), Some(&user), Some(json!({ "name": "Rear Window", "director": "Alfred Hitchcock", "genre": ["Mystery"], "imdb_score": 1.0, "99popularity": 1 })), None).await;
    assert_eq!(forbidden.status(), 403);
    let edited = stack
        .send(Method::PUT, format!("{}/single_movies/{id}", stack.command(1)), Some(&admin), Some(json!({ "name": "Rear Window", "director": "Alfred Hitchcock", "genre": ["Mystery"], "imdb_score": 8.6, "99popularity": 86 })), None)
        .await;
    assert_eq!(edited.status(), 200);
    let (status, movie) = stack
        .read(
            1,
            &format!("/single_movies/{id}"),
            None,
            &consistency(&edited),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            movie["imdb_score"].clone(),
            movie["genre"].clone(),
            movie["version"].clone()
        ),
        (json!(8.6), json!(["Mystery"]), json!(2))
    );

    let deleted = stack
        .send(
            Method::DELETE,
            format!("{}/single_movies/{id}", stack.command(0)),
            Some(&admin),
            None,
            None,
        )
        .await;
    assert!(deleted.status().is_success());
    let (status, _) = stack
        .read(
            0,
            &format!("/single_movies/{id}"),
            None,
            &consistency(&deleted),
        )
        .await;
    assert_eq!(status, 404);

    let (status, users) = stack
        .read(
            1,
            "/api/user_list/",
            Some(&admin),
            &consistency(&registered),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(users["total"], 2);
    assert!(!users.to_string().contains("argon2"));
    let (status, _) = stack
        .read(0, "/api/user_list/", Some(&user), &consistency(&registered))
        .await;
    assert_eq!(status, 403);
    assert!(!stack.prefix.is_empty());
}

/// Two of each role started at the same moment on a server where their database does not
/// exist yet, as `docker compose up` does, `MOVIEDB_START_ROUNDS` times (10): every one of the
/// six comes up, stays up and answers `/health/ready` each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_of_each_role_started_at_once_on_an_empty_server_all_come_up() {
    let Some(tansu) = tansu() else { return };
    let broker = Broker::start(tansu);
    let rounds: usize = std::env::var("MOVIEDB_START_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10);
    let client = reqwest::Client::new();
    for round in 0..rounds {
        let started = Instant::now();
        let db = MySqlTestDatabase::new();
        let data = tempfile::tempdir().expect("temp dir");
        let env = broker.role_env(db.url(), SECRET, (ADMIN_EMAIL, ADMIN_PASSWORD));
        // All six spawned before any is waited for.
        let mut roles: Vec<Process> = [
            "command-api",
            "projector",
            "query-api",
            "command-api",
            "projector",
            "query-api",
        ]
        .into_iter()
        .map(|bin| role(bin, &env, data.path()))
        .collect();
        for process in &mut roles {
            let address = process.address();
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let ready = client
                    .get(format!("{address}/health/ready"))
                    .send()
                    .await
                    .map(|r| r.status().as_u16());
                if ready.as_ref().is_ok_and(|s| *s == 200) {
                    break;
                }
                assert!(
                    process.child.try_wait().expect("status").is_none(),
                    "round {round}: a role ended: {:?}",
                    process.logs.lock().expect("logs")
                );
                assert!(
                    Instant::now() < deadline,
                    "round {round}: {address} not ready ({ready:?}): {:?}",
                    process.logs.lock().expect("logs")
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // And the admin exists once, whichever command API made it.
        let stack_db = sqlx::MySqlPool::connect(db.url()).await.expect("database");
        let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM credentials WHERE email = ?")
            .bind(ADMIN_EMAIL)
            .fetch_one(&stack_db)
            .await
            .expect("count");
        assert_eq!(admins, 1, "round {round}");
        stack_db.close().await;
        for process in &roles {
            assert!(
                process
                    .logs
                    .lock()
                    .expect("logs")
                    .iter()
                    .all(|l| !l.contains("\"ERROR\"")),
                "round {round}: an error was logged: {:?}",
                process.logs.lock().expect("logs")
            );
        }
        eprintln!("round {round}: six roles ready in {:?}", started.elapsed());
    }
}

/// The query side fails closed on Kafka too: with every projector stopped (a projector or
/// Kafka outage), an admin demoted on the command side is never answered as an admin by the
/// query API: its reads wait for the users projection, then answer 503, and once a projector
/// is back they are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_demoted_admin_is_never_answered_as_one_while_the_projector_is_stopped() {
    let Some(tansu) = tansu() else { return };
    let mut stack = Stack::start(tansu, 1, 1, 1);
    let admin = stack.token(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    use reqwest::Method;
    let registered = stack
        .send(
            Method::POST,
            format!("{}/v1/users", stack.command(0)),
            None,
            Some(json!({ "name": "Eve", "email": "eve@example.com", "password": "Eve_pass99" })),
            None,
        )
        .await;
    assert_eq!(registered.status(), 201);
    let id = registered.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let promoted = change_role(&stack, &admin, &id, "admin").await;
    let eve = stack.token("eve@example.com", "Eve_pass99").await;
    let (status, _) = stack.read(0, "/v1/users", Some(&eve), &promoted).await;
    assert_eq!(status, 200, "promoted");

    // Every projector stopped: the demotion is in the event log, not in the projection.
    let (mut projector, _) = stack.projectors.remove(0);
    projector.child.kill().expect("SIGKILL");
    projector.child.wait().expect("reaped");
    let demoted = change_role(&stack, &admin, &id, "user").await;
    let started = Instant::now();
    for consistency in [None, Some(demoted.as_str())] {
        let read = stack
            .send(
                Method::GET,
                format!("{}/v1/users", stack.query(0)),
                Some(&eve),
                None,
                consistency,
            )
            .await;
        assert_eq!(read.status(), 503, "with {consistency:?}");
        assert!(read.headers().get("retry-after").is_some());
    }
    // Past the wait the answer is still 503: nothing makes the old role count.
    assert!(started.elapsed() >= Duration::from_secs(5), "it waited");
    let read = stack
        .send(
            Method::GET,
            format!("{}/v1/users", stack.query(0)),
            Some(&eve),
            None,
            None,
        )
        .await;
    assert_eq!(read.status(), 503);

    // A projector back: the demotion is applied and the read is refused.
    let p = role("projector", &stack.env, stack._data.path());
    let a = p.address();
    stack.projectors.push((p, a));
    let (status, _) = stack.read(0, "/v1/users", Some(&eve), &demoted).await;
    assert_eq!(status, 403);
}

/// Changes user `id`'s role through a command API; the change's Consistency-Token.
async fn change_role(stack: &Stack, admin: &str, id: &str, role: &str) -> String {
    let changed = stack
        .send(
            reqwest::Method::PUT,
            format!("{}/v1/users/{id}/role", stack.command(0)),
            Some(admin),
            Some(json!({ "role": role })),
            None,
        )
        .await;
    assert_eq!(changed.status(), 200);
    consistency(&changed)
}
