//! moviedb's posters. An upload is checked against [`Limits`] before it is decoded, made into
//! every [`PosterSize`] once ([`process()`]), and kept in an [`ImageStore`] under the hash of
//! its content; events carry only that hash (the domain's `movie::Poster`), never bytes.

mod cache;
pub mod process;
pub mod sizes;
pub mod store;

pub use process::{
    content_hash, process, Format, ImageError, Limits, Processed, STORED_CONTENT_TYPE,
};
pub use sizes::PosterSize;
pub use store::{Blob, ImageStore, S3Settings, StoreError, Swept};
