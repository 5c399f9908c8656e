//! The user aggregate: registration and roles. Passwords are validated here but never enter
//! an event; the command side hashes them into its `credentials` table.

mod values;

pub use values::{normalise_email, Email, Password, UserName};

use crate::event::{from_payload, to_payload};
use crate::{Actor, Aggregate, DecodeError, DomainError, DomainEvent, Role, ValidationErrors};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Register a new user.
#[derive(Debug, Clone)]
pub struct RegisterUser {
    /// Display name.
    pub name: UserName,
    /// Login address, unique case-insensitively.
    pub email: Email,
    /// The password, validated; hashed by the command side, never stored in an event.
    pub password: Password,
    /// The role asked for; `Admin` only when the actor is an admin.
    pub role: Role,
    /// Who asks.
    pub actor: Actor,
    /// When.
    pub at: DateTime<Utc>,
}

/// The raw fields of a registration, as a client sends them. Its `Debug` hides the password.
#[derive(Clone, Default, Deserialize)]
pub struct RegistrationInput {
    /// Display name.
    pub name: Option<String>,
    /// Login address.
    pub email: Option<String>,
    /// Password in clear.
    pub password: Option<String>,
    /// The original app's flag: `true` asks for the admin role.
    pub admin: Option<bool>,
    /// The `/v1` way to ask for a role.
    pub role: Option<Role>,
}

impl std::fmt::Debug for RegistrationInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationInput")
            .field("name", &self.name)
            .field("email", &self.email)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("admin", &self.admin)
            .field("role", &self.role)
            .finish()
    }
}

impl RegisterUser {
    /// Validates every field of `input`, reporting all failures together.
    pub fn parse(
        input: RegistrationInput,
        actor: Actor,
        at: DateTime<Utc>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let name = errors.check(UserName::parse(input.name.as_deref().unwrap_or_default()));
        let email = errors.check(Email::parse(input.email.as_deref().unwrap_or_default()));
        let password = errors.check(Password::parse(input.password.unwrap_or_default()));
        let role = match (input.admin, input.role) {
            (Some(true), Some(Role::User)) => {
                errors.push(crate::FieldError::new("role", "contradicts `admin: true`"));
                None
            }
            (Some(true), _) | (_, Some(Role::Admin)) => Some(Role::Admin),
            _ => Some(Role::User),
        };
        match (name, email, password, role) {
            (Some(name), Some(email), Some(password), Some(role)) if errors.is_empty() => {
                Ok(Self {
                    name,
                    email,
                    password,
                    role,
                    actor,
                    at,
                })
            }
            _ => Err(errors),
        }
    }
}

/// Give a user another role.
#[derive(Debug, Clone)]
pub struct ChangeRole {
    /// The user whose role changes.
    pub user_id: Uuid,
    /// The new role.
    pub role: Role,
    /// Who asks; must be an admin, and not the user themself.
    pub actor: Actor,
}

/// Commands on a user stream.
#[derive(Debug, Clone)]
pub enum UserCommand {
    /// See [`RegisterUser`].
    Register(RegisterUser),
    /// See [`ChangeRole`].
    ChangeRole(ChangeRole),
}

/// A user registered. Carries no password or hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRegistered {
    /// Display name.
    pub name: String,
    /// Login address as given (trimmed).
    pub email: String,
    /// Initial role.
    pub role: Role,
    /// When the registration was accepted.
    pub registered_at: DateTime<Utc>,
}

/// A user's role changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserRoleChanged {
    /// The new role.
    pub role: Role,
}

/// Events of a user stream.
#[derive(Debug, Clone, PartialEq)]
pub enum UserEvent {
    /// See [`UserRegistered`].
    Registered(UserRegistered),
    /// See [`UserRoleChanged`].
    RoleChanged(UserRoleChanged),
}

impl DomainEvent for UserEvent {
    fn event_type(&self) -> &'static str {
        match self {
            UserEvent::Registered(_) => "UserRegistered",
            UserEvent::RoleChanged(_) => "UserRoleChanged",
        }
    }

    fn schema_version(&self) -> u32 {
        1
    }

    fn payload(&self) -> serde_json::Value {
        match self {
            UserEvent::Registered(e) => to_payload(e),
            UserEvent::RoleChanged(e) => to_payload(e),
        }
    }

    fn decode(
        event_type: &str,
        schema_version: u32,
        payload: serde_json::Value,
    ) -> Result<Self, DecodeError> {
        match (event_type, schema_version) {
            ("UserRegistered", 1) => Ok(UserEvent::Registered(from_payload(event_type, payload)?)),
            ("UserRoleChanged", 1) => {
                Ok(UserEvent::RoleChanged(from_payload(event_type, payload)?))
            }
            ("UserRegistered" | "UserRoleChanged", version) => {
                Err(DecodeError::UnsupportedVersion {
                    event_type: event_type.to_owned(),
                    version,
                })
            }
            (other, _) => Err(DecodeError::UnknownType(other.to_owned())),
        }
    }
}

/// A user's state, folded from their stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum User {
    /// No stream yet.
    #[default]
    Unregistered,
    /// A registered user.
    Registered {
        /// Display name.
        name: String,
        /// Login address.
        email: String,
        /// Current role.
        role: Role,
    },
}

impl User {
    /// The current role, if registered.
    pub fn role(&self) -> Option<Role> {
        match self {
            User::Registered { role, .. } => Some(*role),
            User::Unregistered => None,
        }
    }
}

impl Aggregate for User {
    type Command = UserCommand;
    type Event = UserEvent;
    const STREAM_TYPE: &'static str = "user";

    fn decide(&self, command: &UserCommand) -> Result<Vec<UserEvent>, DomainError> {
        match command {
            UserCommand::Register(cmd) => {
                if matches!(self, User::Registered { .. }) {
                    return Err(DomainError::AlreadyExists);
                }
                // The original app let anyone register as admin; here only an admin can.
                if cmd.role == Role::Admin && !cmd.actor.is_admin() {
                    return Err(DomainError::Forbidden(
                        "only an admin can grant the admin role",
                    ));
                }
                Ok(vec![UserEvent::Registered(UserRegistered {
                    name: cmd.name.as_ref().to_owned(),
                    email: cmd.email.as_ref().to_owned(),
                    role: cmd.role,
                    registered_at: cmd.at,
                })])
            }
            UserCommand::ChangeRole(cmd) => {
                if !cmd.actor.is_admin() {
                    return Err(DomainError::Forbidden("only an admin can change roles"));
                }
                // An admin demoting themself could leave no admin at all; another admin must.
                if cmd.actor.user_id() == Some(cmd.user_id) {
                    return Err(DomainError::Forbidden("you cannot change your own role"));
                }
                match self {
                    User::Unregistered => Err(DomainError::NotFound),
                    User::Registered { role, .. } if *role == cmd.role => Ok(vec![]),
                    User::Registered { .. } => Ok(vec![UserEvent::RoleChanged(UserRoleChanged {
                        role: cmd.role,
                    })]),
                }
            }
        }
    }

    fn evolve(self, event: &UserEvent) -> Self {
        match (self, event) {
            (_, UserEvent::Registered(e)) => User::Registered {
                name: e.name.clone(),
                email: e.email.clone(),
                role: e.role,
            },
            (User::Registered { name, email, .. }, UserEvent::RoleChanged(e)) => User::Registered {
                name,
                email,
                role: e.role,
            },
            (state @ User::Unregistered, UserEvent::RoleChanged(_)) => state,
        }
    }
}
