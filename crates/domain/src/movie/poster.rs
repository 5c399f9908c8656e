//! A movie's poster: a reference to images in the object store, never their bytes. The images
//! are made at upload, in every size clients draw, and named by the hash of the uploaded file,
//! so a poster's path names the same pixels forever.

use serde::{Deserialize, Serialize};

/// Characters of a poster hash: the first 128 bits of the SHA-256 of the uploaded file, in
/// lowercase hex.
pub const POSTER_HASH_CHARS: usize = 32;

/// The poster a movie shows. Also the payload of [`MoviePosterSet`](super::MovieEvent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Poster {
    /// Names the images in every size (see [`POSTER_HASH_CHARS`]).
    pub hash: String,
    /// Width of the largest size (`original`), in pixels, after the EXIF orientation.
    pub width: u32,
    /// Height of the largest size, in pixels.
    pub height: u32,
    /// The media type every size is stored and served as.
    pub content_type: String,
}

impl Poster {
    /// The path clients join with an image base URL and a size, as TMDB's `poster_path`:
    /// `/{hash}.{ext}`.
    pub fn path(&self) -> String {
        format!("/{}.{}", self.hash, extension(&self.content_type))
    }
}

/// The file extension of a poster's media type.
pub fn extension(content_type: &str) -> &'static str {
    match content_type {
        "image/png" => "png",
        "image/webp" => "webp",
        _ => "jpg",
    }
}

/// True when `hash` has the shape of a poster hash (so a path built from it is safe as an
/// object key).
pub fn is_poster_hash(hash: &str) -> bool {
    hash.len() == POSTER_HASH_CHARS
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A poster was removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoviePosterRemoved {}
