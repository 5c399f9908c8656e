//! `moviedb import`: the sample catalogue added through the command path, a second run adding
//! nothing, refused items listed with their reasons, the service serving what was added and
//! the import reporting what it lists, and an import killed half-way finished by a second run.

use super::*;

fn import(data_dir: &std::path::Path, file: &std::path::Path) -> (i32, String) {
    let out = moviedb(data_dir)
        .arg("import")
        .arg(file)
        .output()
        .expect("moviedb import runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), stdout)
}

#[tokio::test]
async fn import_adds_the_sample_catalogue_once_and_lists_what_it_refuses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/movies.json");
    let films: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&sample).expect("sample")).expect("json");
    assert!(films.len() >= 50, "at least 50 films in the sample");

    let (status, out) = import(dir.path(), &sample);
    assert_eq!(status, 0, "{out}");
    assert!(
        out.contains(&format!(
            "{} created, 0 already present, {} posters set, 0 rejected",
            films.len(),
            films.len()
        )),
        "{out}"
    );
    let (status, out) = import(dir.path(), &sample);
    assert_eq!(status, 0, "{out}");
    assert!(
        out.contains(&format!(
            "0 created, {} already present, 0 posters set, 0 rejected",
            films.len()
        )),
        "a second run adds nothing: {out}"
    );

    // One movie per line; a bad score and a line that is not JSON are refused, with reasons.
    let lines = dir.path().join("more.ndjson");
    std::fs::write(
        &lines,
        "{\"name\": \"Solaris\", \"director\": \"Andrei Tarkovsky\", \"genre\": [\"Drama\"], \"imdb_score\": 8.0, \"99popularity\": 70}\n\
         {\"name\": \"Stalker\", \"director\": \"Andrei Tarkovsky\", \"genre\": [\"Drama\"], \"imdb_score\": 11, \"99popularity\": 70}\n\
         not json\n",
    )
    .expect("written");
    let (status, out) = import(dir.path(), &lines);
    assert_eq!(status, 2, "{out}");
    assert!(
        out.contains("1 created, 0 already present, 0 posters set, 2 rejected"),
        "{out}"
    );
    assert!(out.contains("item 1: invalid fields: imdb_score"), "{out}");
    assert!(out.contains("item 2: not JSON"), "{out}");

    // The service serves every movie added, and search finds a misspelled one.
    let running = start(dir.path());
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let page: Value = client
            .get(format!("{}/v1/movies/search?q=vertgo", running.base))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        let total: Value = client
            .get(format!("{}/v1/movies?per_page=1", running.base))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        if total["total"] == films.len() + 1 && page["items"][0]["name"] == "Vertigo" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not all served: {total} / {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The sample's posters are served, in every size.
    let poster = page_of(&client, &running.base, "vertigo").await["items"][0]["poster_path"]
        .as_str()
        .expect("Vertigo has a poster")
        .to_owned();
    for size in ["w92", "w342", "original"] {
        let image = client
            .get(format!("{}/images/{size}{poster}", running.base))
            .send()
            .await
            .expect("sent");
        assert_eq!(image.status(), 200, "{size}{poster}");
        assert_eq!(
            image.headers()["content-type"].to_str().expect("ascii"),
            "image/jpeg"
        );
    }
    // A poster that cannot be read is refused with its reason; its movie is added.
    let unreadable = dir.path().join("unreadable.ndjson");
    std::fs::write(
        &unreadable,
        "{\"name\": \"Ivan's Childhood\", \"director\": \"Andrei Tarkovsky\", \"genre\": [\"War\"], \"imdb_score\": 8.1, \"99popularity\": 50, \"poster\": \"nowhere.jpg\"}\n",
    )
    .expect("written");
    let (status, out) = import(dir.path(), &unreadable);
    assert_eq!(status, 2, "{out}");
    assert!(
        out.contains("1 created, 0 already present, 0 posters set, 1 rejected"),
        "{out}"
    );
    assert!(
        out.contains("item 0: poster ") && out.contains("nowhere.jpg"),
        "{out}"
    );
    // With the service running, the import waits for it to list what was stored, and says so.
    let one = dir.path().join("one.ndjson");
    std::fs::write(
        &one,
        "{\"name\": \"Mirror\", \"director\": \"Andrei Tarkovsky\", \"genre\": [\"Drama\"], \"imdb_score\": 8.0, \"99popularity\": 60}\n",
    )
    .expect("written");
    let (status, out) = import(dir.path(), &one);
    assert_eq!(status, 0, "{out}");
    assert!(
        out.contains(&format!("the catalogue lists {} movies\n", films.len() + 3)),
        "{out}"
    );
    stop(running);
}

async fn page_of(client: &reqwest::Client, base: &str, q: &str) -> Value {
    client
        .get(format!("{base}/v1/movies/search?q={q}"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json")
}

/// A catalogue of `n` generated movies, one per line.
fn generated(path: &std::path::Path, n: usize) {
    let lines: String = (0..n)
        .map(|i| {
            format!(
                "{{\"name\": \"Generated {i}\", \"director\": \"Director {}\", \"genre\": [\"Drama\"], \"imdb_score\": 5.5, \"99popularity\": 40}}\n",
                i % 97
            )
        })
        .collect();
    std::fs::write(path, lines).expect("written");
}

fn stored_movies(data_dir: &std::path::Path) -> i64 {
    let Ok(db) = rusqlite::Connection::open_with_flags(
        data_dir.join("moviedb.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    ) else {
        return 0;
    };
    db.query_row(
        "SELECT COUNT(*) FROM events WHERE event_type = 'MovieAdded'",
        [],
        |r| r.get(0),
    )
    .unwrap_or(0)
}

#[test]
fn an_import_killed_half_way_is_finished_by_a_second_run_with_nothing_twice() {
    const N: usize = 30_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("catalogue.ndjson");
    generated(&file, N);

    let mut first = moviedb(dir.path())
        .arg("import")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moviedb import starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while stored_movies(dir.path()) < 1_000 {
        assert!(
            first.try_wait().expect("waits").is_none(),
            "the import ended before it could be killed"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "nothing stored in time"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    first.kill().expect("killed");
    first.wait().expect("reaped");
    let stored = stored_movies(dir.path()) as usize;
    assert!(stored < N, "killed before the end: {stored} stored");

    let (status, out) = import(dir.path(), &file);
    assert_eq!(status, 0, "{out}");
    assert!(
        out.contains(&format!(
            "{} created, {stored} already present, 0 posters set, 0 rejected",
            N - stored
        )),
        "the second run adds exactly what the first did not: {out}"
    );
    assert_eq!(
        stored_movies(dir.path()) as usize,
        N,
        "every movie stored once"
    );
}
