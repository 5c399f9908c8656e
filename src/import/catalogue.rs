//! The catalogue file: checked and counted in a first pass, then streamed in chunks of parsed
//! and validated movies from a thread of its own.

use moviedb_domain::movie::{MovieFields, MovieInput};
use serde::de::{IgnoredAny, SeqAccess, Visitor};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// Items parsed ahead of the appends, in chunks of this many.
const CHUNK: usize = 1024;

/// Chunks waiting between the reading thread and the appends.
const CHUNKS_AHEAD: usize = 4;

/// An item of the file, parsed and validated: the movie, or why it is refused.
pub(super) type Item = (usize, Result<Entry, String>);

/// A movie of the file: its fields, and its poster's file if it names one.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry {
    pub fields: MovieFields,
    /// The `poster` field, relative to the catalogue file's folder.
    pub poster: Option<PathBuf>,
}

/// An item as written: the original app's movie, and an optional `poster`, a path relative to
/// the file.
#[derive(serde::Deserialize)]
struct Written {
    #[serde(flatten)]
    movie: MovieInput,
    #[serde(default)]
    poster: Option<String>,
}

/// A catalogue file, checked and counted.
#[derive(Debug, Clone)]
pub struct Catalogue {
    path: PathBuf,
    array: bool,
    items: u64,
}

impl Catalogue {
    /// Reads `path` once: a JSON array (its syntax checked whole) or one JSON value per line
    /// (blank lines skipped; a line that is not JSON is refused later, with the others).
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let mut reader = reader(path)?;
        let array = first_byte(&mut reader)? == Some(b'[');
        let items = if array {
            let mut json = serde_json::Deserializer::from_reader(reader);
            let count = serde::Deserializer::deserialize_seq(&mut json, Count)
                .and_then(|n| json.end().map(|()| n))
                .map_err(|e| anyhow::anyhow!("the file is not a JSON array of movies: {e}"))?;
            count
        } else {
            let mut count = 0;
            for_each_line(reader, |_| {
                count += 1;
                true
            })?;
            count
        };
        Ok(Self {
            path: path.to_owned(),
            array,
            items,
        })
    }

    /// How many items the file holds.
    pub fn len(&self) -> u64 {
        self.items
    }

    /// Whether the file holds no item.
    pub fn is_empty(&self) -> bool {
        self.items == 0
    }

    /// The items in order, in chunks, read and validated on a thread of their own.
    pub(super) fn stream(&self) -> mpsc::Receiver<anyhow::Result<Vec<Item>>> {
        let (tx, rx) = mpsc::channel(CHUNKS_AHEAD);
        let (path, array) = (self.path.clone(), self.array);
        let folder = path.parent().map(Path::to_owned).unwrap_or_default();
        std::thread::spawn(move || {
            let mut chunks = Chunks {
                tx: tx.clone(),
                chunk: Vec::with_capacity(CHUNK),
                index: 0,
                folder,
            };
            let read = reader(&path).and_then(|reader| {
                if array {
                    let mut json = serde_json::Deserializer::from_reader(reader);
                    serde::Deserializer::deserialize_seq(&mut json, &mut chunks)
                        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))
                } else {
                    for_each_line(reader, |line| {
                        let item = line_item(line, &chunks.folder);
                        chunks.push(item)
                    })
                }
            });
            match read {
                Ok(()) => {
                    chunks.flush();
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                }
            }
        });
        rx
    }
}

fn reader(path: &Path) -> anyhow::Result<BufReader<std::fs::File>> {
    let file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    Ok(BufReader::with_capacity(1 << 20, file))
}

/// The first byte that is not white space, left unread.
fn first_byte(reader: &mut impl BufRead) -> std::io::Result<Option<u8>> {
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(None);
        }
        match buffer.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(at) => {
                let byte = buffer[at];
                reader.consume(at);
                return Ok(Some(byte));
            }
            None => {
                let all = buffer.len();
                reader.consume(all);
            }
        }
    }
}

/// Calls `each` with every line that is not blank, until it answers `false`.
fn for_each_line(
    mut reader: impl BufRead,
    mut each: impl FnMut(&[u8]) -> bool,
) -> anyhow::Result<()> {
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if !each(&line) {
            return Ok(());
        }
    }
}

fn line_item(line: &[u8], folder: &Path) -> Result<Entry, String> {
    match serde_json::from_slice::<Written>(line) {
        Ok(input) => validate(input, folder),
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            Err(format!("not a movie: {e}"))
        }
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

fn validate(input: Written, folder: &Path) -> Result<Entry, String> {
    let fields = input
        .movie
        .parse_full()
        .map_err(|errors| format!("invalid fields: {errors}"))?;
    let poster = match input.poster.as_deref().map(str::trim) {
        None => None,
        Some("") => return Err("invalid fields: poster: is empty".into()),
        Some(poster) => Some(folder.join(poster)),
    };
    Ok(Entry { fields, poster })
}

/// Counts the elements of an array without keeping them.
struct Count;

impl<'de> Visitor<'de> for Count {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of movies")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut n = 0;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
        }
        Ok(n)
    }
}

/// Items gathered into chunks and sent to the appends; sending blocks while enough wait.
struct Chunks {
    tx: mpsc::Sender<anyhow::Result<Vec<Item>>>,
    chunk: Vec<Item>,
    index: usize,
    /// The catalogue file's folder, which posters are relative to.
    folder: PathBuf,
}

impl Chunks {
    /// Adds an item; `false` once nobody takes them any more (the import stopped).
    fn push(&mut self, item: Result<Entry, String>) -> bool {
        self.chunk.push((self.index, item));
        self.index += 1;
        self.chunk.len() < CHUNK || self.flush()
    }

    fn flush(&mut self) -> bool {
        if self.chunk.is_empty() {
            return true;
        }
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        self.tx.blocking_send(Ok(chunk)).is_ok()
    }
}

impl<'de> Visitor<'de> for &mut Chunks {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of movies")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // Each element as a JSON value first, so that one that is not a movie is refused
        // alone and the array read on.
        while let Some(value) = seq.next_element::<serde_json::Value>()? {
            let item = serde_json::from_value::<Written>(value)
                .map_err(|e| format!("not a movie: {e}"))
                .and_then(|input| validate(input, &self.folder));
            if !self.push(item) {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        std::io::Write::write_all(&mut file, text.as_bytes()).expect("written");
        file
    }

    async fn items(text: &str) -> anyhow::Result<Vec<Item>> {
        let file = file(text);
        let catalogue = Catalogue::open(file.path())?;
        let mut chunks = catalogue.stream();
        let mut all = Vec::new();
        while let Some(chunk) = chunks.recv().await {
            all.extend(chunk?);
        }
        assert_eq!(
            all.len() as u64,
            catalogue.len(),
            "the count matches the items"
        );
        Ok(all)
    }

    const MOVIE: &str = r#"{"name": "A", "director": "B", "genre": ["Drama"], "imdb_score": 7, "99popularity": 70}"#;

    #[tokio::test]
    async fn an_array_and_lines_give_the_same_items_and_bad_ones_are_kept_with_their_reason() {
        let array = format!("  [{MOVIE}, {{\"name\": 3}}, {MOVIE}]");
        let array = items(&array).await.expect("array");
        assert_eq!(array.len(), 3);
        assert!(array[0].1.is_ok() && array[2].1.is_ok());
        assert!(array[1]
            .1
            .as_ref()
            .expect_err("refused")
            .starts_with("not a movie"));

        let lines = format!("{MOVIE}\n\n{{\"name\": \"A\"}}\nnot json\r\n{MOVIE}");
        let lines = items(&lines).await.expect("lines");
        let indices: Vec<usize> = lines.iter().map(|(i, _)| *i).collect();
        assert_eq!(indices, [0, 1, 2, 3]);
        assert!(lines[1]
            .1
            .as_ref()
            .expect_err("refused")
            .starts_with("invalid fields"));
        assert!(lines[2]
            .1
            .as_ref()
            .expect_err("refused")
            .starts_with("not JSON"));
        assert!(lines[3].1.is_ok(), "a line without its newline is read");
    }

    #[tokio::test]
    async fn a_poster_is_a_path_beside_the_file_and_an_empty_one_is_refused() {
        let with = MOVIE.replace('}', r#", "poster": "posters/a.jpg"}"#);
        let empty = MOVIE.replace('}', r#", "poster": " "}"#);
        let file = file(&format!("{with}\n{empty}\n{MOVIE}\n"));
        let catalogue = Catalogue::open(file.path()).expect("opens");
        let mut chunks = catalogue.stream();
        let items = chunks.recv().await.expect("a chunk").expect("read");
        let folder = file.path().parent().expect("a folder");
        let first = items[0].1.as_ref().expect("a movie");
        assert_eq!(
            first.poster.as_deref(),
            Some(folder.join("posters/a.jpg").as_path())
        );
        assert!(items[1].1.as_ref().is_err_and(|e| e.contains("poster")));
        assert_eq!(items[2].1.as_ref().expect("a movie").poster, None);
    }

    #[tokio::test]
    async fn a_broken_array_is_refused_whole_before_anything_is_read() {
        for broken in [
            format!("[{MOVIE}, {{"),
            format!("[{MOVIE}] trailing"),
            "[".into(),
        ] {
            let e = items(&broken).await.expect_err("refused");
            assert!(e.to_string().contains("not a JSON array of movies"), "{e}");
        }
        assert!(items("").await.expect("empty").is_empty());
    }

    #[tokio::test]
    async fn a_large_file_is_streamed_in_chunks_with_every_item_once() {
        let n = CHUNK * 3 + 7;
        let text: String = (0..n)
            .map(|i| format!("{{\"name\": \"M{i}\", \"director\": \"D\", \"genre\": [\"Drama\"], \"imdb_score\": 5, \"99popularity\": 50}}\n"))
            .collect();
        let file = file(&text);
        let catalogue = Catalogue::open(file.path()).expect("opened");
        assert_eq!(catalogue.len(), n as u64);
        let mut chunks = catalogue.stream();
        let mut sizes = Vec::new();
        let mut names = Vec::new();
        while let Some(chunk) = chunks.recv().await {
            let chunk = chunk.expect("chunk");
            sizes.push(chunk.len());
            names.extend(
                chunk
                    .into_iter()
                    .map(|(_, f)| f.expect("valid").fields.name),
            );
        }
        assert_eq!(sizes, [CHUNK, CHUNK, CHUNK, 7]);
        assert_eq!(names.len(), n);
        assert_eq!(names[n - 1], format!("M{}", n - 1));
    }
}
