//! Read-your-writes tokens: which stream versions a client's writes produced.
//!
//! Kafka partitions events by stream, so a single global position cannot say "my write is
//! visible". The token lists `(stream id, version)` pairs instead; a query that receives it
//! waits until each listed stream's projection reached that version.

use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// One stream at one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamVersion {
    /// The stream id.
    pub stream_id: Uuid,
    /// The version the stream reached.
    pub version: u64,
}

/// The `Consistency-Token` header value: `stream_id@version`, comma separated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsistencyToken(pub Vec<StreamVersion>);

/// At most this many streams in one token (a bulk write of many movies stays bounded).
pub const MAX_TOKEN_STREAMS: usize = 1000;

impl fmt::Display for ConsistencyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, sv) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}@{}", sv.stream_id, sv.version)?;
        }
        Ok(())
    }
}

impl FromStr for ConsistencyToken {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if out.len() == MAX_TOKEN_STREAMS {
                return Err(format!("at most {MAX_TOKEN_STREAMS} streams per token"));
            }
            let (id, version) = part
                .split_once('@')
                .ok_or_else(|| format!("`{part}` is not `stream_id@version`"))?;
            let stream_id = Uuid::parse_str(id).map_err(|e| format!("bad stream id: {e}"))?;
            let version = version
                .parse::<u64>()
                .map_err(|e| format!("bad version: {e}"))?;
            out.push(StreamVersion { stream_id, version });
        }
        Ok(ConsistencyToken(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_survives_a_round_trip_through_its_header_form() {
        let token = ConsistencyToken(vec![
            StreamVersion {
                stream_id: Uuid::now_v7(),
                version: 3,
            },
            StreamVersion {
                stream_id: Uuid::now_v7(),
                version: 1,
            },
        ]);
        let parsed: ConsistencyToken = token.to_string().parse().expect("parses");
        assert_eq!(parsed, token);
    }

    #[test]
    fn a_malformed_token_is_refused() {
        assert!("nonsense".parse::<ConsistencyToken>().is_err());
        assert!("0192b9d6-0000-7000-8000-000000000000@x"
            .parse::<ConsistencyToken>()
            .is_err());
    }
}
