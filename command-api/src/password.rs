//! argon2id hashing, off the async threads, with a bounded number of hashes at once.

use crate::commands::CommandError;
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Hashes and verifies passwords. Cloning shares the limit.
#[derive(Clone)]
pub struct PasswordHasher {
    /// A hash of a random password, verified against when an e-mail is unknown, so that an
    /// unknown e-mail and a wrong password take the same time.
    dummy_hash: Arc<str>,
    permits: Arc<Semaphore>,
}

impl PasswordHasher {
    /// A hasher with argon2id's default (OWASP) parameters: 19 MiB, 2 passes, 1 lane.
    pub fn new() -> Result<Self, CommandError> {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let dummy = format!("dummy-{}", uuid::Uuid::new_v4());
        let dummy_hash = hash_blocking(&dummy)?;
        Ok(Self {
            dummy_hash: dummy_hash.into(),
            permits: Arc::new(Semaphore::new(cores * 2)),
        })
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: &str) -> Result<String, CommandError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| CommandError::Internal(e.to_string()))?;
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || hash_blocking(&password))
            .await
            .map_err(|e| CommandError::Internal(format!("hashing task: {e}")))?
    }

    /// True when `password` matches `hash`; with no hash, burns the same time and says false.
    pub async fn verify(&self, hash: Option<&str>, password: &str) -> Result<bool, CommandError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| CommandError::Internal(e.to_string()))?;
        let known = hash.is_some();
        let hash = hash.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let password = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .map_err(|e| CommandError::Internal(format!("hashing task: {e}")))?;
        Ok(known && matches)
    }
}

fn hash_blocking(password: &str) -> Result<String, CommandError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| CommandError::Internal(format!("hashing failed: {e}")))
}
