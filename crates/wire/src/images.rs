//! The shapes of the image routes: the configuration clients read, and image bodies.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /v1/configuration`, in TMDB's shape: what a client needs to draw images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Configuration {
    /// Where images are.
    pub images: ImagesConfiguration,
}

/// Where images are and in which sizes. An image's URL is `base_url` + a size +
/// `poster_path`, for example `/images/` + `w342` + `/3dae4b2babd8974f6c4e39ea0edccd52.jpg`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImagesConfiguration {
    /// The images' base URL (a CDN's when one is configured), ending in `/`.
    #[schema(example = "/images/")]
    pub base_url: String,
    /// The same over HTTPS.
    #[schema(example = "/images/")]
    pub secure_base_url: String,
    /// The poster sizes, smallest first; `original` is the upload's size.
    #[schema(example = json!(["w92", "w154", "w185", "w342", "w500", "w780", "original"]))]
    pub poster_sizes: Vec<String>,
}

/// Bytes, as an image's body: documented as binary, not as a list of numbers.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(pub Vec<u8>);
