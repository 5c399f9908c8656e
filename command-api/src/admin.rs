//! The first admin: from the environment at start, or from `moviedb admin create`.

use crate::commands::{CommandError, CommandService};
use crate::config::AdminSeed;
use chrono::Utc;
use moviedb_domain::user::{normalise_email, RegisterUser, RegistrationInput};
use moviedb_domain::{Actor, Role};
use moviedb_event_store::Metadata;
use moviedb_service_kit::secrecy::ExposeSecret;
use uuid::Uuid;

/// What creating an admin did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminOutcome {
    /// A new admin was registered.
    Created(Uuid),
    /// The e-mail already belongs to an admin; nothing changed.
    AlreadyAdmin(Uuid),
    /// The e-mail belongs to an ordinary user. They are not promoted: whoever registered it
    /// first would otherwise gain admin rights. An admin can change their role.
    ExistsNotAdmin(Uuid),
}

/// Creates the admin if that e-mail is not registered yet (idempotent). Several command-api
/// instances starting at once may all try: the one whose registration loses the race finds
/// the e-mail registered when it looks again.
pub async fn ensure_admin(
    commands: &CommandService,
    seed: &AdminSeed,
) -> Result<AdminOutcome, CommandError> {
    match try_ensure_admin(commands, seed).await {
        Err(CommandError::EmailTaken) => try_ensure_admin(commands, seed).await,
        other => other,
    }
}

async fn try_ensure_admin(
    commands: &CommandService,
    seed: &AdminSeed,
) -> Result<AdminOutcome, CommandError> {
    if let Some(existing) = commands
        .store()
        .credentials_by_email(&normalise_email(&seed.email))
        .await?
    {
        return Ok(match commands.current_role(existing.user_id).await? {
            Some(Role::Admin) => AdminOutcome::AlreadyAdmin(existing.user_id),
            _ => AdminOutcome::ExistsNotAdmin(existing.user_id),
        });
    }
    let input = RegistrationInput {
        name: Some(seed.name.clone()),
        email: Some(seed.email.clone()),
        password: Some(seed.password.expose_secret().to_owned()),
        admin: Some(true),
        role: None,
    };
    let command = RegisterUser::parse(input, Actor::System, Utc::now())
        .map_err(moviedb_domain::DomainError::Invalid)?;
    let metadata = Metadata {
        actor_kind: Some("system".into()),
        ..Metadata::default()
    };
    let write = commands.register(command, &metadata).await?;
    let outcome = commands.commit(write).await?;
    Ok(AdminOutcome::Created(outcome.stream_id))
}
