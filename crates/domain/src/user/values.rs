//! Validated user values: each `parse` is the only way in.

use crate::FieldError;
use std::fmt;

/// A user's display name: trimmed, 1 to 100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    /// At most this many characters.
    pub const MAX_CHARS: usize = 100;

    /// Validates a name.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        crate::validation::bounded_text("name", raw, Self::MAX_CHARS).map(Self)
    }
}

impl AsRef<str> for UserName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// An e-mail address: trimmed, syntactically valid, compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// RFC 5321 limit on a path.
    pub const MAX_CHARS: usize = 254;

    /// Validates an address (the common dot-atom form; no quoted local parts or IP literals).
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let email = raw.trim();
        let invalid =
            |why: &str| FieldError::new("email", format!("is not a valid address: {why}"));
        if email.is_empty() {
            return Err(FieldError::new("email", "must not be empty"));
        }
        if email.chars().count() > Self::MAX_CHARS {
            return Err(invalid("longer than 254 characters"));
        }
        let (local, domain) = email.rsplit_once('@').ok_or_else(|| invalid("no `@`"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(invalid("the part before `@` must be 1 to 64 characters"));
        }
        let local_ok = local.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c))
        });
        if !local_ok {
            return Err(invalid(
                "the part before `@` has a character or dot out of place",
            ));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 {
            return Err(invalid("the domain needs a dot"));
        }
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if !labels.iter().all(label_ok) {
            return Err(invalid("the domain has a bad label"));
        }
        let tld = labels.last().copied().unwrap_or_default();
        if tld.len() < 2 || !tld.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(invalid("the top-level domain must be letters"));
        }
        Ok(Self(email.to_owned()))
    }

    /// The form uniqueness is decided on: lower case.
    pub fn key(&self) -> String {
        normalise_email(&self.0)
    }
}

/// The key of an address, as [`Email::key`] makes it, for looking one up at login: its
/// [`text_key`](crate::text::text_key). Addresses are ASCII (see [`Email::parse`]), so for a
/// valid one this is its lower case; a look-alike with a zero-width space or a Cyrillic letter
/// is refused by the parser before it gets here.
pub fn normalise_email(raw: &str) -> String {
    crate::text::text_key(raw)
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// A password that meets the policy. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Shortest allowed, in characters.
    pub const MIN_CHARS: usize = 8;
    /// Longest allowed, in characters: bounds the hashing cost.
    pub const MAX_CHARS: usize = 128;
    /// The symbols of which one is required.
    pub const SYMBOLS: &'static str = "_@$";

    /// Checks the policy: 8 to 128 characters, a lower-case and an upper-case letter, a digit,
    /// one of `_ @ $`, and no white space.
    pub fn parse(raw: String) -> Result<Self, FieldError> {
        let mut missing = Vec::new();
        let len = raw.chars().count();
        if len < Self::MIN_CHARS {
            missing.push("at least 8 characters");
        }
        if len > Self::MAX_CHARS {
            missing.push("at most 128 characters");
        }
        if !raw.chars().any(|c| c.is_ascii_lowercase()) {
            missing.push("a lower-case letter");
        }
        if !raw.chars().any(|c| c.is_ascii_uppercase()) {
            missing.push("an upper-case letter");
        }
        if !raw.chars().any(|c| c.is_ascii_digit()) {
            missing.push("a digit");
        }
        if !raw.chars().any(|c| Self::SYMBOLS.contains(c)) {
            missing.push("one of `_`, `@`, `$`");
        }
        if raw.chars().any(char::is_whitespace) {
            missing.push("no white space");
        }
        if missing.is_empty() {
            Ok(Self(raw))
        } else {
            Err(FieldError::new(
                "password",
                format!("must have {}", missing.join(", ")),
            ))
        }
    }

    /// The clear text, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}
