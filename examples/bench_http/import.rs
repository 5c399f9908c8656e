//! `moviedb import` at scale: the catalogue written as a file of one movie per line and
//! imported into a fresh service while it runs, timed until every movie is listed and
//! searchable; the data's size on disk afterwards.

use crate::server::Moviedb;
use crate::Args;
use anyhow::bail;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// What the import took.
pub struct Imported {
    pub movies: u64,
    /// Until `moviedb import` exited (every movie stored, and listed if the service kept up).
    pub stored: Duration,
    /// Until every movie was listed and searchable.
    pub searchable: Duration,
    /// The data directory's size afterwards (on MariaDB: the search index alone), MB.
    pub disk_mb: f64,
    /// The import's peak resident memory, MB.
    pub import_rss_mb: f64,
}

/// Imports `args.movies` movies of `args.catalogue` into a fresh service.
pub async fn import(args: &Args) -> anyhow::Result<Imported> {
    let fresh = Args {
        data_dir: None,
        no_build: true,
        ..args.clone()
    };
    let moviedb = Moviedb::start(&fresh).await?;
    let file = moviedb.data_path().join("catalogue.ndjson");
    write_catalogue(&mut std::fs::File::create(&file)?, args)?;
    eprintln!("importing {} movies with moviedb import", args.movies);
    let started = Instant::now();
    let mut command = moviedb.cli();
    // The peak resident size through GNU time when it is there.
    let timed = Path::new("/usr/bin/time").exists();
    let rss_file = moviedb.data_path().join("import-rss");
    let mut child = if timed {
        let mut timed = std::process::Command::new("/usr/bin/time");
        timed
            .args(["-f", "%M", "-o"])
            .arg(&rss_file)
            .arg(command.get_program())
            .args(["import"])
            .arg(&file)
            .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))));
        timed
    } else {
        command.arg("import").arg(&file);
        command
    };
    let status = child.stdout(Stdio::null()).status()?;
    let stored = started.elapsed();
    if !status.success() {
        bail!("moviedb import failed: {status}");
    }
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let listed = moviedb.total().await?;
        let searchable = moviedb
            .get_json("/v1/movies/search?per_page=1&total=exact")
            .await?;
        if listed >= args.movies && searchable["total"].as_u64() >= Some(args.movies) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the import was not listed and searchable in time: {listed} listed");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let searchable = started.elapsed();
    std::fs::remove_file(&file)?;
    let import_rss_mb = std::fs::read_to_string(&rss_file)
        .ok()
        .and_then(|text| text.trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0);
    let _ = std::fs::remove_file(&rss_file);
    let disk_mb = dir_size(moviedb.data_path()) as f64 / 1e6;
    Ok(Imported {
        movies: args.movies,
        stored,
        searchable,
        disk_mb,
        import_rss_mb,
    })
}

/// Writes the catalogue of `args` to `out`, one movie per line.
pub fn write_catalogue(out: &mut impl Write, args: &Args) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(out);
    for n in 0..args.movies {
        serde_json::to_writer(&mut out, &args.catalogue.movie(n))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Bytes of the files under `dir`.
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_size(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}
