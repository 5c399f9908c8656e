//! Two instances of each role behind the gateway, each killed in turn.

use super::*;

/// Several upstream servers for one side of the template, as Docker's DNS gives nginx for a
/// scaled service: the first address fills the variable, the others become `server` lines
/// with the same parameters.
fn servers(addresses: &[String]) -> String {
    addresses.join(" max_fails=1 fail_timeout=2s;\n    server ")
}

/// Two of each role behind the gateway, on MariaDB and tansu, while one instance of each is
/// killed -9 and started again: the command API holding the outbox relay (the other takes the
/// relay over), a projector of the consumer group (its partitions move), a query API (reads go
/// to the other). `MOVIEDB_FAILOVER_WRITES` adds (400; the full run is 2 000), each read back
/// with its token.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_of_each_role_behind_the_gateway_survive_a_kill_of_each() {
    let Some(nginx) = nginx() else { return };
    let Some(tansu) = broker::tansu() else { return };
    let writes: usize = std::env::var("MOVIEDB_FAILOVER_WRITES")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(400);
    let broker = broker::Broker::start(tansu);
    let db = MySqlTestDatabase::new();
    let data = tempfile::tempdir().expect("temp dir");
    let env = broker.role_env(db.url(), SECRET, (ADMIN_EMAIL, ADMIN_PASSWORD));
    let bins = [
        "command-api",
        "command-api",
        "projector",
        "projector",
        "query-api",
        "query-api",
    ];
    let ports: Vec<u16> = bins.iter().map(|_| free_port()).collect();
    let start = |n: usize| {
        let mut env = env.clone();
        env.push(("MOVIEDB_LISTEN", format!("127.0.0.1:{}", ports[n])));
        let process = role(bins[n], &env, data.path());
        process.address();
        process
    };
    let mut roles: Vec<Process> = (0..bins.len()).map(start).collect();
    let address = |n: usize| format!("127.0.0.1:{}", ports[n]);
    let nginx_dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let _gateway = start_nginx(
        &nginx,
        nginx_dir.path(),
        &servers(&[address(0), address(1)]),
        &servers(&[address(4), address(5)]),
        port,
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let token = process::login(&client, &base, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    // The command API holding the relay, the one to kill first.
    let deadline = Instant::now() + Duration::from_secs(30);
    let relay = loop {
        let holder = (0..2).find(|n| {
            roles[*n]
                .logs
                .lock()
                .expect("logs")
                .iter()
                .any(|l| l.contains("outbox relay active"))
        });
        if let Some(n) = holder {
            break n;
        }
        assert!(Instant::now() < deadline, "no relay became active");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let step = writes / 8;
    // (write number, role to kill, write number to start it again)
    let kills = [
        (step, relay, 2 * step),
        (3 * step, 2, 4 * step),
        (5 * step, 4, 6 * step),
    ];
    let mut unavailable = 0usize;
    let mut acknowledged: Vec<(String, String)> = Vec::new();
    let mut slowest_after_relay_kill = Duration::ZERO;
    let (mut writing, mut reading) = (Duration::ZERO, Duration::ZERO);
    let mut readable: Vec<Duration> = Vec::with_capacity(writes);
    let started = Instant::now();
    for n in 0..writes {
        for (at, victim, _) in kills {
            if n == at {
                roles[victim].child.kill().expect("SIGKILL");
                roles[victim].child.wait().expect("reaped");
            }
        }
        for (_, victim, back) in kills {
            if n == back {
                roles[victim] = start(victim);
            }
        }
        let name = format!("Failover {n}");
        let body = json!({ "name": name, "director": "Gate Keeper", "genre": ["Drama"],
            "imdb_score": 7.0, "99popularity": 70.0 });
        let written = Instant::now();
        let (id, consistency) = loop {
            let response = client
                .post(format!("{base}/v1/movies"))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .expect("sent");
            match response.status().as_u16() {
                201 => {
                    let consistency = response
                        .headers()
                        .get("consistency-token")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let id = response.json::<Value>().await.expect("json")["id"]
                        .as_str()
                        .expect("id")
                        .to_owned();
                    break (id, consistency);
                }
                // A retry of a write the gateway reported lost but the service had stored.
                409 => {
                    let problem = response.json::<Value>().await.expect("json");
                    let id = problem["existing"]["id"].as_str().expect("the existing id");
                    break (id.to_owned(), None);
                }
                502 | 503 => {
                    assert!(
                        response.headers().contains_key("retry-after"),
                        "a 503 without Retry-After"
                    );
                    unavailable += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => panic!("write {n}: {other}: {:?}", response.text().await),
            }
        };
        let write_took = written.elapsed();
        // Read back through the gateway with the token: never stale.
        loop {
            let mut request = client.get(format!("{base}/v1/movies/{id}"));
            if let Some(c) = &consistency {
                request = request.header("consistency-token", c);
            }
            let response = request.send().await.expect("sent");
            match response.status().as_u16() {
                200 => {
                    let movie = response.json::<Value>().await.expect("json");
                    assert_eq!(movie["name"], name.as_str());
                    break;
                }
                // Without a token (a retried write), wait until it shows.
                404 if consistency.is_none() => tokio::time::sleep(Duration::from_millis(50)).await,
                502 | 503 => {
                    assert!(
                        response.headers().contains_key("retry-after"),
                        "a 503 without Retry-After"
                    );
                    unavailable += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => panic!(
                    "read-back of write {n}: {other} (stale): {:?}",
                    response.text().await
                ),
            }
        }
        if (kills[0].0..kills[0].2).contains(&n) {
            slowest_after_relay_kill = slowest_after_relay_kill.max(written.elapsed());
        }
        writing += write_took;
        reading += written.elapsed() - write_took;
        readable.push(written.elapsed());
        acknowledged.push((id, name));
    }
    let took = started.elapsed();
    // Every acknowledged write is there once, at version 1: nothing lost, nothing applied twice.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = std::collections::HashMap::new();
    loop {
        seen.clear();
        let mut page = 1;
        loop {
            let response = client
                .get(format!(
                    "{base}/v1/movies?director=Gate%20Keeper&per_page=100&page={page}"
                ))
                .send()
                .await
                .expect("sent");
            if response.status() != 200 {
                break;
            }
            let body = response.json::<Value>().await.expect("json");
            let items = body["items"].as_array().cloned().unwrap_or_default();
            for item in &items {
                seen.insert(
                    item["id"].as_str().unwrap_or_default().to_owned(),
                    item.clone(),
                );
            }
            if items.len() < 100 {
                break;
            }
            page += 1;
        }
        if seen.len() == acknowledged.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        seen.len(),
        acknowledged.len(),
        "every acknowledged write is listed"
    );
    for (id, name) in &acknowledged {
        let movie = seen.get(id).expect("listed");
        assert_eq!(movie["name"], name.as_str());
        assert_eq!(movie["version"], 1, "applied once: {movie}");
    }
    readable.sort();
    let ms = |q: f64| readable[((readable.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    eprintln!(
        "{writes} writes read back in {:.1} s (writing {:.1} s, reading back {:.1} s); \
         write -> readable by token p50 {:.1} ms, p90 {:.1}, p99 {:.1}, max {:.1}; \
         {unavailable} answers 502/503 (each with Retry-After); slowest write -> readable \
         while the relay moved: {:.0} ms",
        took.as_secs_f64(),
        writing.as_secs_f64(),
        reading.as_secs_f64(),
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(1.0),
        slowest_after_relay_kill.as_secs_f64() * 1e3
    );
    assert!(
        unavailable <= 20,
        "{unavailable} answers were 502/503: more than a kill of each role should cost"
    );
}
