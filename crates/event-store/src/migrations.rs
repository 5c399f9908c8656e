//! The schema migrations, embedded in the binary.
//!
//! Listed here with `include_str!` rather than found by `sqlx::migrate!`: that macro is sqlx's
//! `macros` feature, whose proc-macro crate builds sqlx's SQLite driver, and with it SQLite's
//! C sources, a second time for the host, the longest step of a clean build. Each migration's
//! version and description follow sqlx's rule for file names (`0001_event_store.sql` is
//! version 1, "event store"), and sqlx checksums the SQL text itself, so a database migrated
//! by the macro's migrator is recognised as up to date.

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

/// One migration: its file name and its SQL.
type File = (&'static str, &'static str);

const SQLITE: &[File] = &[
    (
        "0001_event_store.sql",
        include_str!("../migrations/sqlite/0001_event_store.sql"),
    ),
    (
        "0002_unique_keys_without_rowid.sql",
        include_str!("../migrations/sqlite/0002_unique_keys_without_rowid.sql"),
    ),
];

#[cfg(feature = "mysql")]
const MYSQL: &[File] = &[
    (
        "0001_event_store.sql",
        include_str!("../migrations/mysql/0001_event_store.sql"),
    ),
    (
        "0002_ascii_ids.sql",
        include_str!("../migrations/mysql/0002_ascii_ids.sql"),
    ),
];

/// The SQLite store's migrations.
pub(crate) async fn sqlite() -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Embedded(SQLITE)).await
}

/// The MySQL store's migrations.
#[cfg(feature = "mysql")]
pub(crate) async fn mysql() -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Embedded(MYSQL)).await
}

#[derive(Debug)]
struct Embedded(&'static [File]);

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 'static>> {
        Box::pin(async move {
            self.0
                .iter()
                .map(|&(name, sql)| migration(name, sql))
                .collect()
        })
    }
}

/// Reads `<version>_<description>.sql` as sqlx's directory source does.
fn migration(name: &str, sql: &'static str) -> Result<Migration, BoxDynError> {
    let (version, rest) = name
        .split_once('_')
        .ok_or_else(|| format!("migration {name}: expected `<version>_<description>.sql`"))?;
    let description = rest
        .strip_suffix(".sql")
        .ok_or_else(|| format!("migration {name}: expected a `.sql` file"))?;
    Ok(Migration::new(
        version
            .parse()
            .map_err(|_| format!("migration {name}: the version is not a number"))?,
        Cow::Owned(description.replace('_', " ")),
        MigrationType::Simple,
        Cow::Borrowed(sql),
        sql.starts_with("-- no-transaction"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_migration_file_is_listed_with_its_version_and_description() {
        let dialects = [
            ("sqlite", SQLITE),
            #[cfg(feature = "mysql")]
            ("mysql", MYSQL),
        ];
        for (dialect, listed) in dialects {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(dialect);
            let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
                .expect("the migrations directory")
                .map(|entry| {
                    entry
                        .expect("an entry")
                        .file_name()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            on_disk.sort();
            let names: Vec<&str> = listed.iter().map(|(name, _)| *name).collect();
            assert_eq!(
                names,
                on_disk,
                "{dialect}: list every file in {}",
                dir.display()
            );
            for (name, sql) in listed {
                let from_disk = std::fs::read_to_string(dir.join(name)).expect("the file");
                assert_eq!(*sql, from_disk, "{dialect}/{name}");
            }
        }
        let migrator = sqlite().await.expect("the embedded migrations");
        let first = migrator.iter().next().expect("one migration");
        assert_eq!(
            (first.version, first.description.as_ref()),
            (1, "event store")
        );
        assert!(!first.no_tx);
        assert_eq!(
            first.checksum.len(),
            48,
            "SHA-384 of the SQL, as sqlx stores it"
        );
    }

    #[test]
    fn a_name_without_a_version_is_refused() {
        assert!(migration("event_store.sql", "").is_err());
        assert!(migration("0002.sql", "").is_err());
        assert!(migration("0002_x.txt", "").is_err());
    }
}
