//! Who issues a command, and what they may do.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// A user's role. Only admins manage movies, list users or change roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An ordinary user: may read and log in.
    #[default]
    User,
    /// An administrator: may also write movies and manage users.
    Admin,
}

impl Role {
    /// The role's wire name, as in events and tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "user" => Ok(Role::User),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role `{other}`: expected `user` or `admin`"
            )),
        }
    }
}

/// The party on whose behalf a command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// Nobody logged in (registration is open to them).
    Anonymous,
    /// A logged-in user, with the role their stream currently holds.
    User {
        /// The user's stream id.
        id: Uuid,
        /// The user's current role.
        role: Role,
    },
    /// The operator, through the CLI or the bootstrap environment variables.
    System,
}

impl Actor {
    /// True for admins and the operator.
    pub fn is_admin(&self) -> bool {
        matches!(
            self,
            Actor::System
                | Actor::User {
                    role: Role::Admin,
                    ..
                }
        )
    }

    /// The user id behind this actor, if any.
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            Actor::User { id, .. } => Some(*id),
            Actor::Anonymous | Actor::System => None,
        }
    }
}
