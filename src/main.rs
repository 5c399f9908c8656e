//! `moviedb`: every role in one process on the embedded default, one role at a time for the
//! distributed deployment, and the operator's commands.
//!
//! `moviedb` (or `moviedb serve`) runs the service; `moviedb command-api|projector|query-api`
//! runs one role; `moviedb rebuild` rebuilds the read models; `moviedb admin create` registers
//! an admin; `moviedb import FILE` adds a catalogue of movies. Configuration comes from the
//! environment (see docs/operating.md).

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use moviedb::embedded::{self, Embedded};
use moviedb_command_api::admin::{ensure_admin, AdminOutcome};
use moviedb_command_api::commands::CommandService;
use moviedb_command_api::password::PasswordHasher;
use moviedb_command_api::{AdminSeed, Config};
use std::io::BufRead;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "moviedb",
    version,
    about = "IMDB-like movie catalogue, event-sourced with CQRS"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Action>,
}

#[derive(Subcommand)]
enum Action {
    /// Run every role in one process on one port (the default).
    Serve,
    /// Run the command API alone (with the outbox relay when Kafka is configured).
    CommandApi,
    /// Run the projector alone.
    Projector,
    /// Run the query API alone.
    QueryApi,
    /// Replay the event store into fresh read models and swap them in, while the service keeps
    /// answering.
    Rebuild,
    /// Add the movies of a catalogue file (a JSON array in the original app's movie format, or
    /// one movie per line) through the command path; movies already present are skipped, so
    /// it can be run again. Exits with 2 when some items were refused (each is listed).
    Import {
        /// The catalogue, for example samples/movies.json.
        file: std::path::PathBuf,
    },
    /// Print the OpenAPI 3.1 document (what docs/openapi.json holds and /openapi.json serves).
    Openapi,
    /// Administrative tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Register an admin. The password is read from MOVIEDB_ADMIN_PASSWORD or, if unset, from
    /// the first line of standard input; it is never taken as an argument (argv is visible to
    /// every user of the machine).
    Create {
        /// Login e-mail.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long, default_value = "admin")]
        name: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Action::Openapi) = cli.command {
        // The document needs no configuration (nor a data directory).
        println!("{}", moviedb::openapi::json());
        return Ok(());
    }
    // The environment is read here, once; everything below gets what it needs from it.
    let vars = moviedb_service_kit::config::from_environment()?;
    moviedb_command_api::telemetry::init(&vars);
    let admin_password = vars.admin_password.clone();
    let config = Config::from_vars(vars)?;
    match cli.command.unwrap_or(Action::Serve) {
        Action::Serve => {
            let app = Embedded::build(config).await?;
            app.run_until_stopped(moviedb_command_api::shutdown_signal())
                .await?;
        }
        Action::CommandApi => moviedb_command_api::run(config).await?,
        Action::Projector => moviedb_projector::run(config).await?,
        Action::QueryApi => moviedb_query_api::run(config).await?,
        Action::Rebuild => {
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} rebuilding [{bar:40}] {pos}/{len} events ({per_sec}, {eta} left)",
                )?
                .progress_chars("=> "),
            );
            let done = embedded::rebuild(&config, |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .await?;
            bar.finish_and_clear();
            println!(
                "rebuilt the read models from {} events and swapped them in ({} streams caught up after the swap)",
                done.replayed, done.caught_up
            );
        }
        // Answered before the configuration is read.
        Action::Openapi => {}
        Action::Import { file } => import(&config, &file).await?,
        Action::Admin {
            command: AdminCommand::Create { email, name },
        } => {
            let password = match admin_password {
                Some(password) => password,
                None => read_password_line()?.into(),
            };
            let store = moviedb_event_store::connect(&config.database_url).await?;
            let commands = CommandService::new(store, PasswordHasher::new()?);
            let seed = AdminSeed {
                name,
                email: email.clone(),
                password,
            };
            match ensure_admin(&commands, &seed)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
            {
                AdminOutcome::Created(id) => println!("created admin {email} ({id})"),
                AdminOutcome::AlreadyAdmin(id) => println!("{email} is already an admin ({id})"),
                AdminOutcome::ExistsNotAdmin(id) => {
                    bail!("{email} is registered as an ordinary user ({id}); an admin can change its role with PUT /v1/users/{id}/role")
                }
            }
        }
    }
    Ok(())
}

/// How long the import waits for the listed count to move once everything is stored, if it
/// never moved while storing: a running service projects within a second; with none
/// running, nothing is listed until one starts.
const LISTED_IDLE: std::time::Duration = std::time::Duration::from_secs(2);

/// How long it waits for the next move once the count has moved: a service catching up
/// applies large batches, seconds apart at a million movies.
const LISTED_STALL: std::time::Duration = std::time::Duration::from_secs(30);

/// The movies the catalogue lists: the list's total, kept by the projector.
async fn listed_movies(
    read: &dyn moviedb_read_model::ReadModels,
) -> Result<u64, moviedb_read_model::ReadModelError> {
    let page = read
        .movies(&moviedb_read_model::MovieQuery::default())
        .await?;
    Ok(page.total)
}

async fn import(config: &Config, file: &std::path::Path) -> anyhow::Result<()> {
    let catalogue = moviedb::import::Catalogue::open(file)?;
    let store = moviedb_event_store::connect(&config.database_url).await?;
    // The listed count is read from the read models a running service projects into; an
    // import that cannot reach them (an operator's machine with the event store's address
    // only) goes on without it.
    let read = match moviedb_read_model::connect(&config.read_database_url).await {
        Ok(read) => Some(read),
        Err(e) => {
            eprintln!(
                "the read models cannot be read ({e}): the import goes on without the listed count"
            );
            None
        }
    };
    let listed = || async {
        match &read {
            Some(read) => listed_movies(read.as_ref()).await.map(Some),
            None => Ok(None),
        }
    };
    let listed_before = listed().await?.unwrap_or(0);
    let commands = CommandService::new(store, PasswordHasher::new()?);
    let bar = indicatif::ProgressBar::new(catalogue.len()).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{bar:40}] {pos}/{len} stored, {msg} ({per_sec}, {eta} left)",
        )?
        .progress_chars("=> "),
    );
    bar.set_message(format!("{listed_before} listed"));
    let moved = Arc::new(AtomicBool::new(false));
    let watch = read.clone().map(|read| {
        let (bar, moved) = (bar.clone(), moved.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                if let Ok(total) = listed_movies(read.as_ref()).await {
                    moved.fetch_or(total != listed_before, Ordering::Relaxed);
                    bar.set_message(format!("{total} listed"));
                }
            }
        })
    });
    let images = config.images.open(&config.data_dir)?;
    let posters = moviedb::import::Posters {
        store: &images,
        limits: config.images.limits,
    };
    let summary = moviedb::import::import(&commands, &catalogue, &posters, |done| {
        bar.set_position(done)
    });
    let summary = summary.await;
    if let Some(watch) = watch {
        watch.abort();
    }
    let summary = summary?;
    // Stored: now wait for the listing while it moves.
    let wanted = listed_before + summary.created;
    let (mut now, mut since) = (listed().await?, std::time::Instant::now());
    let mut patience = if moved.load(Ordering::Relaxed) || now != Some(listed_before) {
        LISTED_STALL
    } else {
        LISTED_IDLE
    };
    while let Some(listed_now) = now.filter(|n| *n < wanted && since.elapsed() < patience) {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let next = listed().await?;
        if next != Some(listed_now) {
            (since, patience) = (std::time::Instant::now(), LISTED_STALL);
        }
        now = next;
        bar.set_message(format!("{} listed", now.unwrap_or(0)));
    }
    bar.finish_and_clear();
    println!(
        "{}: {} created, {} already present, {} posters set, {} rejected",
        file.display(),
        summary.created,
        summary.present,
        summary.posters,
        summary.rejected.len()
    );
    match now {
        Some(now) if now >= wanted => println!("the catalogue lists {now} movies"),
        Some(now) => println!(
            "the catalogue lists {now} movies so far: the service (or its projector) lists the rest as it runs"
        ),
        None => {}
    }
    for (index, why) in &summary.rejected {
        println!("  item {index}: {why}");
    }
    if !summary.rejected.is_empty() {
        std::process::exit(2);
    }
    Ok(())
}

fn read_password_line() -> anyhow::Result<String> {
    eprintln!("password for the new admin (one line on standard input):");
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("no password given: set MOVIEDB_ADMIN_PASSWORD or pipe it on standard input");
    }
    Ok(password)
}
