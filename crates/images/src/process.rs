//! An uploaded poster made into every size: checked against the limits before it is decoded,
//! decoded, turned by its EXIF orientation, and encoded again from its pixels, so no metadata
//! of the upload (GPS coordinates, camera, comments) is in any stored image.

use crate::sizes::PosterSize;
use image::codecs::jpeg::{JpegDecoder, JpegEncoder};
use image::codecs::png::PngDecoder;
use image::codecs::webp::WebPDecoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, RgbImage};
use sha2::{Digest, Sha256};
use std::io::Cursor;

/// The media type every stored size has: what every client draws, and small.
pub const STORED_CONTENT_TYPE: &str = "image/jpeg";

/// JPEG quality of the stored sizes.
const QUALITY: u8 = 85;

/// What an upload may be. The pixel bounds are checked from the header, before anything is
/// decoded, so a small file that claims a huge image costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of the uploaded file.
    pub max_bytes: usize,
    /// Pixels on either side.
    pub max_side: u32,
    /// Pixels in all (width x height).
    pub max_pixels: u64,
    /// Memory the decoder may allocate, in bytes.
    pub max_alloc: u64,
}

impl Default for Limits {
    /// 10 MiB, 8 192 pixels a side, 16.7 million pixels (4 096 x 4 096; a 2 000 x 3 000 poster
    /// scan is 6 million), 128 MiB for the decoder.
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            max_side: 8192,
            max_pixels: 1 << 24,
            max_alloc: 128 * 1024 * 1024,
        }
    }
}

/// Why an upload is not a poster. Nothing is stored for any of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// No bytes.
    #[error("the body is empty: send the image as the body")]
    Empty,
    /// More bytes than [`Limits::max_bytes`].
    #[error("the image is {size} bytes; at most {max} are accepted")]
    TooLarge {
        /// Bytes sent.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A media type that is not a poster's.
    #[error("`{0}` is not accepted: send image/jpeg, image/png or image/webp")]
    UnsupportedType(String),
    /// The bytes are not of the declared type.
    #[error("the body's bytes are not of type {declared}")]
    NotOfType {
        /// The declared media type.
        declared: &'static str,
    },
    /// Too many pixels, by the image's own header.
    #[error(
        "the image is {width} x {height} pixels; at most {max_side} on a side and {max_pixels} \
         in all are accepted"
    )]
    TooManyPixels {
        /// Width the header claims.
        width: u32,
        /// Height the header claims.
        height: u32,
        /// See [`Limits::max_side`].
        max_side: u32,
        /// See [`Limits::max_pixels`].
        max_pixels: u64,
    },
    /// An animated PNG or WebP.
    #[error("animated images are not accepted as posters: send a still image")]
    Animated,
    /// Truncated, corrupt, or beyond the decoder's memory.
    #[error("the image cannot be decoded: {0}")]
    Undecodable(String),
}

/// The formats a poster may be uploaded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `image/jpeg`.
    Jpeg,
    /// `image/png`.
    Png,
    /// `image/webp`.
    WebP,
}

impl Format {
    /// The format a `Content-Type` names (parameters ignored).
    pub fn from_content_type(content_type: &str) -> Result<Self, ImageError> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "image/jpeg" | "image/jpg" => Ok(Format::Jpeg),
            "image/png" => Ok(Format::Png),
            "image/webp" => Ok(Format::WebP),
            _ => Err(ImageError::UnsupportedType(
                content_type.chars().take(100).collect(),
            )),
        }
    }

    /// The media type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::WebP => "image/webp",
        }
    }

    /// Whether `bytes` start as this format's files do.
    fn starts(self, bytes: &[u8]) -> bool {
        match self {
            Format::Jpeg => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
            Format::Png => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            Format::WebP => bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        }
    }
}

/// A poster made into every size.
#[derive(Debug, Clone)]
pub struct Processed {
    /// Names every size: the first 128 bits of the SHA-256 of the uploaded bytes, in hex.
    pub hash: String,
    /// Width of `original`, after the orientation.
    pub width: u32,
    /// Height of `original`.
    pub height: u32,
    /// Each size's JPEG, in [`PosterSize::ALL`] order.
    pub sizes: Vec<(PosterSize, bytes::Bytes)>,
}

/// The hash that names an upload's images (see [`Processed::hash`]).
pub fn content_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Makes every size of an uploaded poster. CPU-bound (tens of milliseconds for a 1 000 x 1 500
/// JPEG): call it off the async runtime's threads.
pub fn process(body: &[u8], content_type: &str, limits: &Limits) -> Result<Processed, ImageError> {
    if body.is_empty() {
        return Err(ImageError::Empty);
    }
    if body.len() > limits.max_bytes {
        return Err(ImageError::TooLarge {
            size: body.len(),
            max: limits.max_bytes,
        });
    }
    let format = Format::from_content_type(content_type)?;
    if !format.starts(body) {
        return Err(ImageError::NotOfType {
            declared: format.content_type(),
        });
    }
    let image = decode(format, body, limits)?;
    let (width, height) = (image.width(), image.height());
    let sizes = sizes(&flatten(image))?;
    Ok(Processed {
        hash: content_hash(body),
        width,
        height,
        sizes,
    })
}

fn undecodable(e: impl std::fmt::Display) -> ImageError {
    ImageError::Undecodable(e.to_string())
}

fn decode(format: Format, body: &[u8], limits: &Limits) -> Result<DynamicImage, ImageError> {
    let cursor = Cursor::new(body);
    match format {
        Format::Jpeg => {
            // The decoder fills a cut-off scan with grey rather than fail: a whole JPEG ends
            // with its end-of-image marker (padding after it aside).
            let end = body.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            if !body[..end].ends_with(&[0xFF, 0xD9]) {
                return Err(ImageError::Undecodable(
                    "the JPEG is cut off (it has no end-of-image marker)".into(),
                ));
            }
            oriented(JpegDecoder::new(cursor).map_err(undecodable)?, limits)
        }
        Format::Png => {
            // Only the memory bound here: the pixel bounds are checked next, with their reason.
            let mut alloc = image::Limits::no_limits();
            alloc.max_alloc = Some(limits.max_alloc);
            let decoder = PngDecoder::with_limits(cursor, alloc).map_err(undecodable)?;
            if decoder.is_apng().map_err(undecodable)? {
                return Err(ImageError::Animated);
            }
            oriented(decoder, limits)
        }
        Format::WebP => {
            let decoder = WebPDecoder::new(cursor).map_err(undecodable)?;
            if decoder.has_animation() {
                return Err(ImageError::Animated);
            }
            oriented(decoder, limits)
        }
    }
}

fn image_limits(limits: &Limits) -> image::Limits {
    let mut out = image::Limits::default();
    out.max_image_width = Some(limits.max_side);
    out.max_image_height = Some(limits.max_side);
    out.max_alloc = Some(limits.max_alloc);
    out
}

/// Checks the header's dimensions, then decodes and applies the EXIF orientation.
fn oriented(mut decoder: impl ImageDecoder, limits: &Limits) -> Result<DynamicImage, ImageError> {
    let (width, height) = decoder.dimensions();
    if width == 0
        || height == 0
        || width > limits.max_side
        || height > limits.max_side
        || u64::from(width) * u64::from(height) > limits.max_pixels
    {
        return Err(ImageError::TooManyPixels {
            width,
            height,
            max_side: limits.max_side,
            max_pixels: limits.max_pixels,
        });
    }
    decoder
        .set_limits(image_limits(limits))
        .map_err(undecodable)?;
    // An unreadable EXIF block is no reason to refuse the pixels: they are shown upright as
    // stored.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(undecodable)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// RGB pixels; transparent ones over white, as a page would show them.
fn flatten(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let mut rgb = RgbImage::new(rgba.width(), rgba.height());
    for (out, px) in rgb.pixels_mut().zip(rgba.pixels()) {
        let alpha = u16::from(px[3]);
        for c in 0..3 {
            let blended = (u16::from(px[c]) * alpha + 255 * (255 - alpha) + 127) / 255;
            out[c] = u8::try_from(blended).unwrap_or(u8::MAX);
        }
    }
    rgb
}

/// Every size, each made from the next larger one (fewer pixels to read; the filter widens with
/// the ratio, so a large step is smoothed, not aliased); a size as wide as the image or wider
/// is the image.
fn sizes(image: &RgbImage) -> Result<Vec<(PosterSize, bytes::Bytes)>, ImageError> {
    let original = encode(image)?;
    let mut made = Vec::with_capacity(PosterSize::ALL.len());
    let mut source: Option<RgbImage> = None;
    for size in PosterSize::ALL.iter().rev() {
        let width = match size.width() {
            Some(w) if w < image.width() => w,
            _ => {
                made.push((*size, original.clone()));
                continue;
            }
        };
        let from = source.as_ref().unwrap_or(image);
        let height = scaled_height(image.width(), image.height(), width);
        let resized = image::imageops::resize(from, width, height, FilterType::Triangle);
        made.push((*size, encode(&resized)?));
        source = Some(resized);
    }
    made.reverse();
    Ok(made)
}

fn scaled_height(width: u32, height: u32, to: u32) -> u32 {
    let scaled = (u64::from(height) * u64::from(to) + u64::from(width) / 2) / u64::from(width);
    u32::try_from(scaled.max(1)).unwrap_or(u32::MAX)
}

fn encode(image: &RgbImage) -> Result<bytes::Bytes, ImageError> {
    let mut out = Vec::with_capacity(image.as_raw().len() / 8);
    JpegEncoder::new_with_quality(&mut out, QUALITY)
        .encode_image(image)
        .map_err(|e| ImageError::Undecodable(format!("encoding failed: {e}")))?;
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heights_keep_the_aspect_and_never_reach_zero() {
        assert_eq!(scaled_height(1000, 1500, 92), 138);
        assert_eq!(scaled_height(1000, 1500, 780), 1170);
        assert_eq!(scaled_height(5000, 1, 92), 1);
    }

    #[test]
    fn content_types_are_read_without_their_parameters_and_case() {
        assert_eq!(
            Format::from_content_type("Image/PNG; charset=binary"),
            Ok(Format::Png)
        );
        assert_eq!(
            Format::from_content_type("image/gif"),
            Err(ImageError::UnsupportedType("image/gif".into()))
        );
    }

    #[test]
    fn the_hash_is_32_hex_characters_of_the_content() {
        let hash = content_hash(b"poster");
        assert_eq!(hash.len(), 32);
        assert_ne!(hash, content_hash(b"poster2"));
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
