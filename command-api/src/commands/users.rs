//! The user commands: register, log in, change a role.

use super::helpers::{check_if_match, new_events};
use super::{Answer, CommandError, CommandService, Outcome, Write, EMAIL_KEY};
use moviedb_domain::user::{normalise_email, ChangeRole, RegisterUser, User, UserCommand};
use moviedb_domain::{Actor, Aggregate, Role};
use moviedb_event_store::{AppendRequest, Credentials, Metadata, UniqueKey};
use uuid::Uuid;

impl CommandService {
    /// Decides a registration; the password is hashed only once the domain accepted it.
    pub async fn register(
        &self,
        command: RegisterUser,
        metadata: &Metadata,
    ) -> Result<Write, CommandError> {
        let user_id = Uuid::now_v7();
        let events = User::default().decide(&UserCommand::Register(command.clone()))?;
        let email = command.email.key();
        if self
            .store
            .key_owner(&UniqueKey::new(EMAIL_KEY, email.clone()))
            .await?
            .is_some()
        {
            return Err(CommandError::EmailTaken);
        }
        let password_hash = self.hasher.hash(command.password.expose()).await?;
        let mut append =
            AppendRequest::new(User::STREAM_TYPE, user_id, 0, new_events(&events, metadata));
        append.guard = self.guard(command.actor).await?;
        append
            .reserve
            .push(UniqueKey::new(EMAIL_KEY, email.clone()));
        append.credentials = Some(Credentials {
            user_id,
            email,
            password_hash,
        });
        let answer = Answer::Registered {
            name: command.name.as_ref().to_owned(),
            email: command.email.as_ref().to_owned(),
            role: command.role,
        };
        Ok(Write {
            outcome: Outcome {
                stream_id: user_id,
                version: events.len() as u64,
                answer,
            },
            append,
        })
    }

    /// Checks an e-mail and password; the user id and role on success. Unknown e-mail and wrong
    /// password give the same error after the same work.
    pub async fn authenticate(
        &self,
        email: &str,
        password: &str,
    ) -> Result<(Uuid, Role), CommandError> {
        let credentials = self
            .store
            .credentials_by_email(&normalise_email(email))
            .await?;
        let hash = credentials.as_ref().map(|c| c.password_hash.as_str());
        let bad = || CommandError::WrongCredentials;
        if !self.hasher.verify(hash, password).await? {
            return Err(bad());
        }
        let user_id = credentials.map(|c| c.user_id).ok_or_else(bad)?;
        let role = self.current_role(user_id).await?.ok_or_else(bad)?;
        Ok((user_id, role))
    }

    /// Decides a role change.
    pub async fn change_role(
        &self,
        user_id: Uuid,
        role: Role,
        if_match: Option<u64>,
        actor: Actor,
        metadata: &Metadata,
    ) -> Result<Write, CommandError> {
        let (user, version) = self.load::<User>(user_id).await?;
        check_if_match(if_match, version)?;
        let events = user.decide(&UserCommand::ChangeRole(ChangeRole {
            user_id,
            role,
            actor,
        }))?;
        let mut append = AppendRequest::new(
            User::STREAM_TYPE,
            user_id,
            version,
            new_events(&events, metadata),
        );
        append.guard = self.guard(actor).await?;
        Ok(Write {
            outcome: Outcome {
                stream_id: user_id,
                version: version + events.len() as u64,
                answer: Answer::RoleChanged { role },
            },
            append,
        })
    }
}
