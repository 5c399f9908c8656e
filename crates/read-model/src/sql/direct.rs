//! A movie read by id on SQLite through rusqlite, on the calling thread.
//!
//! sqlx's SQLite driver runs each statement on a worker thread of the connection and hands the
//! row back: at 1 000 000 movies, where most detail reads miss the cache, `perf` put the
//! process's time in those thread switches, and detail reads ran at 30% of bare axum. A read
//! by key in a WAL database never waits for the writer, and from the page cache it takes
//! microseconds, so it runs where the request is. A connection that is busy (a checkpoint
//! being recovered) or cannot be opened gives no answer, and the caller goes through sqlx.

use crate::apply::{from_micros, parse_genres};
use crate::{MovieView, ReadModelError};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::path::PathBuf;
use std::sync::Mutex;
use uuid::Uuid;

/// Read-only connections to a read-model file, opened on demand, a few kept.
pub(super) struct DirectReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Connections kept open between reads: one per core serves every reader at once. (Asked
    /// of the system once: it reads the process's cgroup files.)
    idle_max: usize,
}

impl DirectReads {
    /// Direct reads of the file a `sqlite:` URL names; `None` for an in-memory database.
    pub(super) fn for_url(url: &str) -> Option<Self> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or_default();
        if path.is_empty() || path.starts_with(":memory:") || rest.contains("mode=memory") {
            return None;
        }
        Some(Self {
            path: PathBuf::from(path),
            idle: Mutex::new(Vec::new()),
            idle_max: std::thread::available_parallelism().map_or(2, |n| n.get()),
        })
    }

    /// The movie `id` of `table`, or `None` when this path cannot answer now.
    pub(super) fn movie(
        &self,
        table: &str,
        id: Uuid,
    ) -> Option<Result<Option<MovieView>, ReadModelError>> {
        let conn = match self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            Some(conn) => conn,
            None => self.open()?,
        };
        let sql = format!(
            "SELECT movie_id, name, director, genres, imdb_score, popularity, version, \
             created_at, updated_at, poster FROM {table} WHERE movie_id = ?1"
        );
        let read = conn.prepare_cached(&sql).and_then(|mut statement| {
            statement
                .query_row([id.to_string()], |row| {
                    Ok((
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, f64>(4)?,
                        row.get::<_, f64>(5)?,
                        row.get::<_, i64>(6)?,
                        row.get::<_, i64>(7)?,
                        row.get::<_, i64>(8)?,
                        row.get::<_, Option<String>>(9)?,
                    ))
                })
                .optional()
        });
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < self.idle_max {
                idle.push(conn);
            }
        }
        let row = match read {
            Ok(row) => row,
            // Busy, or a table renamed under a cached statement: sqlx answers this one.
            Err(e) => {
                tracing::debug!(error = %e, "a direct read fell back to sqlx");
                return None;
            }
        };
        let Some((
            name,
            director,
            genres,
            imdb_score,
            popularity,
            version,
            created,
            updated,
            poster,
        )) = row
        else {
            return Some(Ok(None));
        };
        Some((|| {
            Ok(Some(MovieView {
                id,
                name,
                director,
                genres: parse_genres(&genres)?,
                imdb_score,
                popularity,
                version: u64::try_from(version)
                    .map_err(|_| ReadModelError::Corrupt(format!("negative version {version}")))?,
                created_at: Some(from_micros(created)?),
                updated_at: Some(from_micros(updated)?),
                poster_path: poster,
            }))
        })())
    }

    fn open(&self) -> Option<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| tracing::debug!(error = %e, "no direct read connection"))
        .ok()?;
        // Never wait on the thread of a request: busy falls back to sqlx, which waits.
        conn.busy_timeout(std::time::Duration::ZERO).ok()?;
        // 4 MiB of pages: the inner pages of the movies' tree at 1 000 000 movies, so a read
        // costs one page from the operating system's cache. Mapping the file instead
        // (`mmap_size`) read a quarter faster, but every page each connection touched, and the
        // pages around it, counted in the process's resident size: 1.1 GB after 20 s of reads.
        conn.execute_batch("PRAGMA cache_size = -4096;").ok()?;
        Some(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_files_url_gets_direct_reads() {
        let at = |url: &str| DirectReads::for_url(url).map(|d| d.path);
        assert_eq!(
            at("sqlite:///d/read.db?mode=rwc"),
            Some("/d/read.db".into())
        );
        assert_eq!(at("sqlite:read.db"), Some("read.db".into()));
        assert_eq!(at("sqlite::memory:"), None);
        assert_eq!(at("sqlite://file.db?mode=memory&cache=shared"), None);
        assert_eq!(at("mysql://root@localhost/x"), None);
    }

    /// The direct path answers itself (it does not leave every read to sqlx), finds a row
    /// written after its connection was opened, and says when a movie is not there.
    #[test]
    fn a_movie_is_read_directly_and_a_later_write_is_seen() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("read.db");
        let writer = Connection::open(&path).expect("db");
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE rm_movies (movie_id TEXT PRIMARY KEY, \
                 name TEXT, director TEXT, genres TEXT, imdb_score REAL, popularity REAL, \
                 version INTEGER, created_at INTEGER, updated_at INTEGER, poster TEXT) \
                 WITHOUT ROWID",
            )
            .expect("table");
        let direct = DirectReads::for_url(&format!("sqlite://{}", path.display())).expect("file");
        let id = Uuid::now_v7();
        let missing = direct.movie("rm_movies", id).expect("answered");
        assert_eq!(missing.expect("read"), None);
        writer
            .execute(
                "INSERT INTO rm_movies VALUES (?1, 'Vertigo', 'Alfred Hitchcock', \
                 '[\"Thriller\"]', 8.3, 83.0, 2, 1000000, 2000000, '/ab.jpg')",
                [id.to_string()],
            )
            .expect("row");
        let found = direct
            .movie("rm_movies", id)
            .expect("answered")
            .expect("read")
            .expect("found");
        assert_eq!(
            (found.name.as_str(), found.version, found.genres.clone()),
            ("Vertigo", 2, vec!["Thriller".to_owned()])
        );
        assert_eq!(found.updated_at.map(|t| t.timestamp()), Some(2));
        assert_eq!(found.poster_path.as_deref(), Some("/ab.jpg"));
    }
}
