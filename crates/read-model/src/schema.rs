//! Table definitions, per dialect. The rebuildable tables take a suffix, so a rebuild can
//! fill `rm_movies_next` beside the live `rm_movies` and rename it in.

/// The SQL dialect behind a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    MySql,
}

/// The names of one generation of the rebuildable tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tables {
    pub movies: String,
    pub genres: String,
    pub users: String,
    pub versions: String,
    /// Counts kept as rows change (see [`MOVIE_COUNT`]), so a list's total is not a count of
    /// every row.
    pub counts: String,
}

/// The row of `{counts}` that holds how many movies `{movies}` has.
pub(crate) const MOVIE_COUNT: &str = "movies";

/// Suffix of the shadow tables a rebuild fills.
pub(crate) const SHADOW: &str = "_next";

impl Tables {
    pub fn with_suffix(suffix: &str) -> Self {
        Self {
            movies: format!("rm_movies{suffix}"),
            genres: format!("rm_movie_genres{suffix}"),
            users: format!("rm_users{suffix}"),
            versions: format!("rm_stream_versions{suffix}"),
            counts: format!("rm_counts{suffix}"),
        }
    }

    pub fn all(&self) -> [&str; 5] {
        [
            &self.movies,
            &self.genres,
            &self.users,
            &self.versions,
            &self.counts,
        ]
    }

    /// `sql` with `{movies}`, `{genres}`, `{users}`, `{versions}` and `{counts}` replaced by
    /// table names.
    pub fn sql(&self, sql: &str) -> String {
        sql.replace("{movies}", &self.movies)
            .replace("{genres}", &self.genres)
            .replace("{users}", &self.users)
            .replace("{versions}", &self.versions)
            .replace("{counts}", &self.counts)
    }
}

/// An id column on MySQL: UUIDs in ASCII, compared byte by byte rather than through the Unicode
/// collation of the tables' text (which took a sixth of MariaDB's CPU under a flow of adds; the
/// event store's `0002_ascii_ids.sql` says more). Case-insensitive, as that collation is.
/// Tables made before this change keep their ids until `moviedb rebuild` makes them again.
const ID: &str = "CHAR(36) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL";

/// Statements that create the tables of one generation. SQLite index names are global to the
/// database and follow a table through a rename, so they carry a generation tag (`gen`).
///
/// On SQLite the genres, versions, users and counts are `WITHOUT ROWID` tables: each is one
/// B-tree ordered by its key, as InnoDB's are, with no second copy of the key (at 1 000 000
/// movies the key indexes of genres and versions were 80 MB). The genres have no index by
/// movie: a movie's row lists its genres, so its genre rows are deleted by their key. The
/// movies keep their rowids: as
/// one tree keyed by the id's text, its rows of 200 bytes made `moviedb rebuild` 15% slower
/// (118k against 141k events/s) for a detail read faster by a few percent. Tables made before
/// keep their rowids until `moviedb rebuild` makes them again.
pub(crate) fn create_tables(dialect: Dialect, t: &Tables, gen: &str) -> Vec<String> {
    match dialect {
        Dialect::Sqlite => vec![
            format!(
                "CREATE TABLE {} (movie_id TEXT NOT NULL PRIMARY KEY, name TEXT NOT NULL, \
                 name_key TEXT NOT NULL, director TEXT NOT NULL, director_key TEXT NOT NULL, \
                 genres TEXT NOT NULL, imdb_score REAL NOT NULL, popularity REAL NOT NULL, \
                 version INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, \
                 poster TEXT)",
                t.movies
            ),
            format!("CREATE INDEX ix_{gen}_name ON {} (name_key, movie_id)", t.movies),
            format!("CREATE INDEX ix_{gen}_director ON {} (director_key, movie_id)", t.movies),
            format!("CREATE INDEX ix_{gen}_score ON {} (imdb_score, movie_id)", t.movies),
            format!("CREATE INDEX ix_{gen}_popularity ON {} (popularity, movie_id)", t.movies),
            format!("CREATE INDEX ix_{gen}_created ON {} (created_at, movie_id)", t.movies),
            format!("CREATE INDEX ix_{gen}_updated ON {} (updated_at, movie_id)", t.movies),
            format!(
                "CREATE TABLE {} (genre_key TEXT NOT NULL, movie_id TEXT NOT NULL, \
                 PRIMARY KEY (genre_key, movie_id)) WITHOUT ROWID",
                t.genres
            ),
            format!(
                "CREATE TABLE {} (user_id TEXT NOT NULL PRIMARY KEY, name TEXT NOT NULL, \
                 email TEXT NOT NULL, role TEXT NOT NULL, registered_at INTEGER NOT NULL, \
                 version INTEGER NOT NULL) WITHOUT ROWID",
                t.users
            ),
            format!("CREATE INDEX ix_{gen}_registered ON {} (registered_at, user_id)", t.users),
            format!(
                "CREATE TABLE {} (stream_id TEXT NOT NULL PRIMARY KEY, stream_type TEXT NOT NULL, \
                 version INTEGER NOT NULL) WITHOUT ROWID",
                t.versions
            ),
        ]
        .into_iter()
        .chain(create_counts(dialect, t))
        .collect(),
        // Every column is of a type sqlx's `Any` driver decodes: VARCHAR/CHAR, BIGINT, DOUBLE.
        // Indexes are per table in MySQL, so they are declared inline.
        Dialect::MySql => vec![
            format!(
                "CREATE TABLE {} (movie_id {ID} PRIMARY KEY, \
                 name VARCHAR(200) NOT NULL, name_key VARCHAR(400) NOT NULL, \
                 director VARCHAR(200) NOT NULL, director_key VARCHAR(400) NOT NULL, \
                 genres VARCHAR(2000) NOT NULL, imdb_score DOUBLE NOT NULL, \
                 popularity DOUBLE NOT NULL, version BIGINT NOT NULL, created_at BIGINT NOT NULL, \
                 updated_at BIGINT NOT NULL, poster VARCHAR(64) NULL, \
                 INDEX ix_name (name_key(191), movie_id), \
                 INDEX ix_director (director_key(191), movie_id), \
                 INDEX ix_score (imdb_score, movie_id), INDEX ix_popularity (popularity, movie_id), \
                 INDEX ix_created (created_at, movie_id), INDEX ix_updated (updated_at, movie_id)\
                 ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci",
                t.movies
            ),
            format!(
                "CREATE TABLE {} (genre_key VARCHAR(160) NOT NULL, movie_id {ID}, \
                 PRIMARY KEY (genre_key, movie_id)\
                 ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci",
                t.genres
            ),
            format!(
                "CREATE TABLE {} (user_id {ID} PRIMARY KEY, name VARCHAR(200) NOT NULL, \
                 email VARCHAR(254) NOT NULL, role VARCHAR(16) NOT NULL, \
                 registered_at BIGINT NOT NULL, version BIGINT NOT NULL, \
                 INDEX ix_registered (registered_at, user_id)\
                 ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci",
                t.users
            ),
            format!(
                "CREATE TABLE {} (stream_id {ID} PRIMARY KEY, \
                 stream_type VARCHAR(32) NOT NULL, version BIGINT NOT NULL\
                 ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci",
                t.versions
            ),
        ]
        .into_iter()
        .chain(create_counts(dialect, t))
        .collect(),
    }
}

/// The statements that make `{counts}`, its movie count at 0 (a new, empty generation).
/// Tables made before it existed get it, with the count of their rows, from
/// `SqlReadModels::open`.
pub(crate) fn create_counts(dialect: Dialect, t: &Tables) -> Vec<String> {
    let (table, seed) = match dialect {
        Dialect::Sqlite => (
            "CREATE TABLE {counts} (name TEXT NOT NULL PRIMARY KEY, n INTEGER NOT NULL) \
             WITHOUT ROWID",
            "INSERT OR IGNORE INTO {counts} (name, n) VALUES ('movies', 0)",
        ),
        Dialect::MySql => (
            "CREATE TABLE {counts} (name VARCHAR(32) NOT NULL PRIMARY KEY, n BIGINT NOT NULL\
             ) ENGINE = InnoDB",
            "INSERT IGNORE INTO {counts} (name, n) VALUES ('movies', 0)",
        ),
    };
    debug_assert!(seed.contains(MOVIE_COUNT));
    vec![t.sql(table), t.sql(seed)]
}

/// Tables that are never rebuilt: where feeds are, and what failed.
pub(crate) fn create_fixed_tables(dialect: Dialect) -> Vec<&'static str> {
    match dialect {
        Dialect::Sqlite => vec![
            "CREATE TABLE IF NOT EXISTS projection_checkpoints (name TEXT NOT NULL PRIMARY KEY, \
             position INTEGER NOT NULL, updated_at INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, \
             event_id TEXT NOT NULL, stream_id TEXT NOT NULL, version INTEGER NOT NULL, \
             event_type TEXT NOT NULL, error TEXT NOT NULL, event TEXT NOT NULL, \
             failed_at INTEGER NOT NULL)",
            crate::history::create_table(dialect),
        ],
        Dialect::MySql => vec![
            "CREATE TABLE IF NOT EXISTS projection_checkpoints (name VARCHAR(64) NOT NULL PRIMARY KEY, \
             position BIGINT NOT NULL, updated_at BIGINT NOT NULL) ENGINE = InnoDB",
            "CREATE TABLE IF NOT EXISTS dead_letters (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, \
             event_id CHAR(36) NOT NULL, stream_id CHAR(36) NOT NULL, version BIGINT NOT NULL, \
             event_type VARCHAR(64) NOT NULL, error VARCHAR(2000) NOT NULL, event MEDIUMTEXT NOT NULL, \
             failed_at BIGINT NOT NULL) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4",
            crate::history::create_table(dialect),
        ],
    }
}
