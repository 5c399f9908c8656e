//! The composition roots of moviedb: which adapters each role runs on, chosen by the
//! environment ([`Config`]). `moviedb` runs every role in one process (the embedded default);
//! `command-api`, `projector` and `query-api` run one role each (the distributed deployment).

pub mod embedded;
pub mod import;
pub mod openapi;

pub use moviedb_service_kit::Config;

/// jemalloc instead of the system allocator: under glibc's malloc, the threads a server runs
/// (Tokio's workers and blocking pool, SQLite's, tantivy's) each grow an arena of their own,
/// and the resident size of the embedded service after mixed load was several times what it
/// holds. With 10 000 movies, after 20 s of mixed load (`examples/bench_http`): glibc 336 MB,
/// mimalloc 176 MB, jemalloc 82 MB (glibc with `MALLOC_ARENA_MAX=2`: 88 MB, and searches a
/// third slower). Its options are built in by `.cargo/config.toml`
/// (`JEMALLOC_SYS_WITH_MALLOC_CONF`): two arenas, and freed pages returned after a second.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
