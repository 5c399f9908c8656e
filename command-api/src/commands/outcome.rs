//! What a decided command is: the append to store and what the client will be told.

use moviedb_domain::movie::MovieFields;
use moviedb_domain::Role;
use moviedb_event_store::AppendRequest;
use uuid::Uuid;

/// A decided write, not yet stored: the append and what it will have produced.
#[derive(Debug)]
pub struct Write {
    /// What the store must write, all or nothing.
    pub append: AppendRequest,
    /// What the client is told once it is written.
    pub outcome: Outcome,
}

/// The result of a write, as the client sees it.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The stream written.
    pub stream_id: Uuid,
    /// Its version afterwards.
    pub version: u64,
    /// What the write made of the resource.
    pub answer: Answer,
}

/// What a write made of its resource, for the client's answer.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A user registered.
    Registered {
        /// Display name.
        name: String,
        /// Login address, as given.
        email: String,
        /// Their role.
        role: Role,
    },
    /// A user's role changed.
    RoleChanged {
        /// The new role.
        role: Role,
    },
    /// A movie added or changed, with its fields and its poster's path now.
    Movie(MovieFields, Option<String>),
    /// A movie deleted.
    Deleted,
}
