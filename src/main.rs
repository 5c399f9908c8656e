//! `moviedb`: every role in one process on the embedded default, and the admin commands.
//!
//! `moviedb` (or `moviedb serve`) runs the service; `moviedb admin create` registers an admin.
//! Configuration comes from the environment (see README.md).

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use moviedb_command_api::admin::{ensure_admin, AdminOutcome};
use moviedb_command_api::commands::CommandService;
use moviedb_command_api::password::PasswordHasher;
use moviedb_command_api::{AdminSeed, Application, Config};
use std::io::BufRead;

#[derive(Parser)]
#[command(
    name = "moviedb",
    version,
    about = "IMDB-like movie catalogue, event-sourced with CQRS"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve,
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
    moviedb_command_api::telemetry::init();
    let cli = Cli::parse();
    let config = Config::from_env()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(config).await?;
            app.run_until_stopped(moviedb_command_api::shutdown_signal())
                .await?;
        }
        Command::Admin {
            command: AdminCommand::Create { email, name },
        } => {
            let password = match std::env::var("MOVIEDB_ADMIN_PASSWORD") {
                Ok(p) if !p.is_empty() => p,
                _ => read_password_line()?,
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
