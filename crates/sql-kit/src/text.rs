//! SQL text with its values written in as literals, for MySQL's text protocol: several
//! statements sent as one batch cost one round trip, where prepared statements cost one each
//! (and a Prepare and a Close more when the statement is not cached).
//!
//! Nothing from a caller is ever written into the text as it is unless it is made only of
//! letters, digits and `-_.:` (ids, event and stream types), which go in quoted; any other
//! string goes in as hexadecimal (`_utf8mb4 X'…'`, so no quote, backslash or byte of any kind
//! can end the literal, whatever the connection's `sql_mode`). Numbers go through Rust's own
//! formatting, times as digits.

use chrono::NaiveDateTime;
use std::fmt::Write as _;

/// A batch of statements under construction.
#[derive(Debug, Default, Clone)]
pub struct SqlText {
    text: String,
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// A byte that is written into a quoted literal as it is.
fn is_plain(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b':')
}

impl SqlText {
    /// An empty batch with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            text: String::with_capacity(capacity),
        }
    }

    /// Appends SQL written by the program (never data).
    pub fn sql(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    /// Appends `value` as a utf8mb4 string literal. In a comparison with a column, the
    /// column's collation decides, as it does for a bound parameter.
    ///
    /// A value of only ASCII letters, digits and `-_.:` is written quoted as it is: no such
    /// character can end or escape a quoted literal in any `sql_mode`, and the server parses it
    /// with less work than a hexadecimal one twice its length behind a character-set introducer
    /// (UUIDs are most of the strings an add writes).
    pub fn text(&mut self, value: &str) -> &mut Self {
        if value.bytes().all(is_plain) {
            self.text.reserve(value.len() + 2);
            self.text.push('\'');
            self.text.push_str(value);
            self.text.push('\'');
            return self;
        }
        self.text.reserve(value.len() * 2 + 12);
        self.text.push_str("_utf8mb4 X'");
        for byte in value.bytes() {
            self.text.push(HEX[usize::from(byte >> 4)] as char);
            self.text.push(HEX[usize::from(byte & 0xF)] as char);
        }
        self.text.push('\'');
        self
    }

    /// Appends an integer.
    pub fn int(&mut self, value: i64) -> &mut Self {
        let _ = write!(self.text, "{value}");
        self
    }

    /// Appends a float in exponent form, or `None` when it has no SQL value (NaN, infinite).
    pub fn float(&mut self, value: f64) -> Option<&mut Self> {
        if !value.is_finite() {
            return None;
        }
        let _ = write!(self.text, "{value:e}");
        Some(self)
    }

    /// Appends a `DATETIME(6)` literal.
    pub fn datetime(&mut self, value: NaiveDateTime) -> &mut Self {
        let _ = write!(self.text, "'{}'", value.format("%Y-%m-%d %H:%M:%S%.6f"));
        self
    }

    /// Appends `NULL` or the string.
    pub fn text_or_null(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(value) => self.text(value),
            None => self.sql("NULL"),
        }
    }

    /// The text so far.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Empties the text, keeping its allocation.
    pub fn clear(&mut self) {
        self.text.clear();
    }

    /// The text, leaving this one empty.
    pub fn take(&mut self) -> String {
        std::mem::take(&mut self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_hexadecimal_unless_made_of_plain_characters() {
        let mut sql = SqlText::default();
        sql.text("a'b\\c").sql(", ").text("é").sql(", ").text("a b");
        sql.sql(", ")
            .text("a\"b")
            .sql(", ")
            .text("--")
            .sql(", ")
            .text("a%_");
        assert_eq!(
            sql.as_str(),
            "_utf8mb4 X'6127625C63', _utf8mb4 X'C3A9', _utf8mb4 X'612062', \
             _utf8mb4 X'612262', '--', _utf8mb4 X'61255F'"
        );
        let mut sql = SqlText::default();
        sql.text("01a24200-f7fb-7355-920d-5b8ce806b5a2")
            .sql(", ")
            .text("MovieAdded")
            .sql(", ")
            .text("")
            .sql(", ")
            .text("a.b:c_d");
        assert_eq!(
            sql.as_str(),
            "'01a24200-f7fb-7355-920d-5b8ce806b5a2', 'MovieAdded', '', 'a.b:c_d'"
        );
    }

    #[test]
    fn numbers_and_times() {
        let mut sql = SqlText::default();
        sql.int(-42).sql(" ");
        sql.float(7.5).expect("a finite number").sql(" ");
        sql.float(1e300).expect("a finite number").sql(" ");
        let at = chrono::NaiveDate::from_ymd_opt(2026, 12, 4)
            .and_then(|day| day.and_hms_micro_opt(4, 3, 5, 60))
            .expect("a real date and time");
        sql.datetime(at);
        assert_eq!(sql.as_str(), "-42 7.5e0 1e300 '2026-12-04 04:03:05.000060'");
        assert!(sql.float(f64::NAN).is_none());
        assert!(sql.float(f64::INFINITY).is_none());
    }
}
