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

/// The `Consistency-Token` header value: comma-separated parts, each `stream_id@version`, or a
/// run of streams whose ids follow one another (a bulk add makes them so, see
/// [`consecutive_ids`]): `first_id+count@version`, then `~` and a hex bitmap of which of the
/// `count` ids are in the token when not all are (bit `k` of byte `k / 8`, lowest first).
/// A thousand movies added in one request fit in under 300 bytes this way, under a proxy's
/// header limit, where listing them took 40 KB.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsistencyToken(pub Vec<StreamVersion>);

/// At most this many streams in one token (a bulk write of many movies stays bounded).
pub const MAX_TOKEN_STREAMS: usize = 1000;

/// How far a run's ids may spread: the low bits [`consecutive_ids`] leaves for the count.
const RUN_SPAN: u128 = 1 << 12;

/// `n` (at most 4 096) new UUIDv7 ids that follow one another: one time-ordered random id with
/// its lowest 12 bits cleared, plus 0, 1, 2 ... Ids made so are written as one run in a token.
pub fn consecutive_ids(n: usize) -> Vec<Uuid> {
    let base = Uuid::now_v7().as_u128() & !(RUN_SPAN - 1);
    (0..n.min(RUN_SPAN as usize) as u128)
        .map(|k| Uuid::from_u128(base + k))
        .collect()
}

impl fmt::Display for ConsistencyToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sorted: Vec<(u64, u128)> = self
            .0
            .iter()
            .map(|sv| (sv.version, sv.stream_id.as_u128()))
            .collect();
        sorted.sort_unstable();
        sorted.dedup();
        let mut first = true;
        let mut i = 0;
        while i < sorted.len() {
            let (version, start) = sorted[i];
            let mut end = i + 1;
            while end < sorted.len() && sorted[end].0 == version && sorted[end].1 - start < RUN_SPAN
            {
                end += 1;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            // A run pays from three streams on; fewer are listed.
            if end - i >= 3 {
                let span = (sorted[end - 1].1 - start + 1) as usize;
                write!(f, "{}+{span}@{version}", Uuid::from_u128(start))?;
                if end - i < span {
                    let mut bits = vec![0u8; span.div_ceil(8)];
                    for &(_, id) in &sorted[i..end] {
                        let k = (id - start) as usize;
                        bits[k / 8] |= 1 << (k % 8);
                    }
                    f.write_str("~")?;
                    for byte in bits {
                        write!(f, "{byte:02x}")?;
                    }
                }
                i = end;
            } else {
                write!(f, "{}@{version}", Uuid::from_u128(start))?;
                i += 1;
            }
        }
        Ok(())
    }
}

impl FromStr for ConsistencyToken {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = Vec::new();
        let mut push = |stream_id: Uuid, version: u64| {
            if out.len() == MAX_TOKEN_STREAMS {
                return Err(format!("at most {MAX_TOKEN_STREAMS} streams per token"));
            }
            out.push(StreamVersion { stream_id, version });
            Ok(())
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (ids, version) = part
                .split_once('@')
                .ok_or_else(|| format!("`{part}` is not `stream_id@version`"))?;
            let (version, bitmap) = match version.split_once('~') {
                Some((version, bitmap)) => (version, Some(bitmap)),
                None => (version, None),
            };
            let version = version
                .parse::<u64>()
                .map_err(|e| format!("bad version: {e}"))?;
            let Some((first, count)) = ids.split_once('+') else {
                if bitmap.is_some() {
                    return Err(format!("`{part}`: only a run has a bitmap"));
                }
                let stream_id = Uuid::parse_str(ids).map_err(|e| format!("bad stream id: {e}"))?;
                push(stream_id, version)?;
                continue;
            };
            let first = Uuid::parse_str(first)
                .map_err(|e| format!("bad stream id: {e}"))?
                .as_u128();
            let count = count
                .parse::<u128>()
                .ok()
                .filter(|c| (1..=RUN_SPAN).contains(c))
                .ok_or_else(|| format!("`{part}`: a run has 1 to {RUN_SPAN} ids"))?;
            if first.checked_add(count).is_none() {
                return Err(format!("`{part}`: the run passes the last id"));
            }
            let present = match bitmap {
                None => vec![true; count as usize],
                Some(hex) => run_bitmap(hex, count as usize).ok_or_else(|| {
                    format!(
                        "`{part}`: the bitmap is not {} hex bytes",
                        (count as usize).div_ceil(8)
                    )
                })?,
            };
            for (k, _) in present.iter().enumerate().filter(|(_, here)| **here) {
                push(Uuid::from_u128(first + k as u128), version)?;
            }
        }
        Ok(ConsistencyToken(out))
    }
}

/// Which of a run's `count` ids its hex bitmap names; `None` if it is not `count` bits long.
fn run_bitmap(hex: &str, count: usize) -> Option<Vec<bool>> {
    if hex.len() != count.div_ceil(8) * 2 || !hex.is_ascii() {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some(
        (0..count)
            .map(|k| bytes[k / 8] & (1 << (k % 8)) != 0)
            .collect(),
    )
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
        assert_eq!(sorted(parsed), sorted(token));
    }

    #[test]
    fn a_thousand_consecutive_streams_fit_in_well_under_a_kilobyte_even_with_holes() {
        let ids = consecutive_ids(1000);
        let all = ConsistencyToken(
            ids.iter()
                .map(|&stream_id| StreamVersion {
                    stream_id,
                    version: 1,
                })
                .collect(),
        );
        let text = all.to_string();
        assert!(text.len() < 60, "{text}");
        let parsed: ConsistencyToken = text.parse().expect("parses");
        assert_eq!(sorted(parsed), sorted(all.clone()));
        // Every third movie of the bulk refused: a bitmap says which were stored.
        let some = ConsistencyToken(
            all.0
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 3 != 0)
                .map(|(_, sv)| *sv)
                .collect(),
        );
        let text = some.to_string();
        assert!(text.len() < 1024, "{} bytes", text.len());
        let parsed: ConsistencyToken = text.parse().expect("parses");
        assert_eq!(sorted(parsed), sorted(some));
        assert!(ids.iter().all(|id| id.get_version_num() == 7));
    }

    #[test]
    fn runs_and_single_streams_mix_and_round_trip() {
        let mut streams: Vec<StreamVersion> = consecutive_ids(5)
            .into_iter()
            .map(|stream_id| StreamVersion {
                stream_id,
                version: 2,
            })
            .collect();
        streams.push(StreamVersion {
            stream_id: Uuid::now_v7(),
            version: 9,
        });
        let token = ConsistencyToken(streams);
        let text = token.to_string();
        assert!(text.contains("+5@2"), "{text}");
        let parsed: ConsistencyToken = text.parse().expect("parses");
        assert_eq!(sorted(parsed), sorted(token));
    }

    fn sorted(mut token: ConsistencyToken) -> Vec<StreamVersion> {
        token.0.sort_by_key(|sv| (sv.version, sv.stream_id));
        token.0
    }

    #[test]
    fn a_malformed_token_is_refused() {
        let run = format!("{}+5@1", Uuid::now_v7());
        for bad in [
            format!("{run}~0000"),
            format!("{run}~zz"),
            format!("{}+0@1", Uuid::now_v7()),
            format!("{}+5000@1", Uuid::now_v7()),
            "ffffffff-ffff-ffff-ffff-ffffffffffff+2@1".to_owned(),
            format!("{}@1~01", Uuid::now_v7()),
        ] {
            assert!(bad.parse::<ConsistencyToken>().is_err(), "{bad}");
        }
        assert!("nonsense".parse::<ConsistencyToken>().is_err());
        assert!("0192b9d6-0000-7000-8000-000000000000@x"
            .parse::<ConsistencyToken>()
            .is_err());
    }
}
