//! The admins a command service has seen lately, so a steady stream of admin writes reads no
//! role at all.

use std::collections::HashMap;
use std::sync::Mutex;
use uuid::Uuid;

/// The most admins [`Admins`] remembers; past it, it starts again empty.
const ADMINS_AT_MOST: usize = 10_000;

/// The admins seen lately, each with the version of their stream at which they were admins.
///
/// Every write checks its caller's role. Reading the caller's stream for it cost a database
/// round trip per request (two on MySQL, with the ping sqlx sends when it takes the connection
/// back), as much as the append itself. Instead an admin's role is read once and remembered
/// with its stream version, and every append decided on it carries that version as a
/// [`StreamGuard`]: the store writes it only if the admin's stream has not moved since, in the
/// same transaction. If it moved (a role change, from any process), the role is read again and
/// the append retried, or refused if the caller is no longer an admin. So a demoted admin
/// loses the right at once, as before, and a steady stream of writes reads no role at all.
/// Users who are not admins are not remembered: nothing they may do depends on their role.
#[derive(Default)]
pub(super) struct Admins(Mutex<HashMap<Uuid, u64>>);

impl Admins {
    pub(super) fn version(&self, user_id: Uuid) -> Option<u64> {
        self.lock().get(&user_id).copied()
    }

    pub(super) fn remember(&self, user_id: Uuid, version: u64) {
        let mut seen = self.lock();
        if seen.len() >= ADMINS_AT_MOST {
            seen.clear();
        }
        seen.insert(user_id, version);
    }

    pub(super) fn forget(&self, user_id: Uuid) {
        self.lock().remove(&user_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, u64>> {
        // The map holds no invariant a panic could break.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
