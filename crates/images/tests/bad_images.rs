//! What each kind of upload gets: a poster made in every size, or the reason it is refused.
//! The images are made here, by the image crate's encoders and by hand for the broken ones.

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{ImageEncoder, Rgb, RgbImage, Rgba, RgbaImage};
use moviedb_images::{process, ImageError, Limits, PosterSize};

fn picture(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 90])
    })
}

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&picture(width, height))
        .expect("encodes");
    out
}

fn png_rgba(image: &RgbaImage) -> Vec<u8> {
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgba8,
        )
        .expect("encodes");
    out
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let rgba = RgbaImage::from_fn(width, height, |x, _| Rgba([200, 10, 10, (x % 256) as u8]));
    png_rgba(&rgba)
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
    out
}

/// `png` with `extra` chunks inserted right after its header chunk.
fn with_chunks(png: &[u8], extra: &[Vec<u8>]) -> Vec<u8> {
    let after_ihdr = 8 + 4 + 4 + 13 + 4;
    let mut out = png[..after_ihdr].to_vec();
    for c in extra {
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&png[after_ihdr..]);
    out
}

/// A JPEG with an EXIF block: orientation `orientation` and a description that stands for
/// the GPS coordinates a phone writes.
fn jpeg_with_exif(width: u32, height: u32, orientation: u16, secret: &str) -> Vec<u8> {
    let plain = jpeg(width, height);
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    let text_offset = 8 + 2 + 2 * 12 + 4;
    tiff.extend_from_slice(&2u16.to_be_bytes());
    // ImageDescription (ASCII), then Orientation (SHORT).
    tiff.extend_from_slice(&0x010Eu16.to_be_bytes());
    tiff.extend_from_slice(&2u16.to_be_bytes());
    tiff.extend_from_slice(&((secret.len() + 1) as u32).to_be_bytes());
    tiff.extend_from_slice(&(text_offset as u32).to_be_bytes());
    tiff.extend_from_slice(&0x0112u16.to_be_bytes());
    tiff.extend_from_slice(&3u16.to_be_bytes());
    tiff.extend_from_slice(&1u32.to_be_bytes());
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes());
    tiff.extend_from_slice(secret.as_bytes());
    tiff.push(0);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&plain[2..]);
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn decoded_size(jpeg: &[u8]) -> (u32, u32) {
    let image = image::load_from_memory(jpeg).expect("a stored size decodes");
    (image.width(), image.height())
}

#[test]
fn a_typical_jpeg_is_made_into_every_size_with_its_aspect() {
    let made = process(&jpeg(1000, 1500), "image/jpeg", &Limits::default()).expect("a poster");
    assert_eq!((made.width, made.height), (1000, 1500));
    assert_eq!(made.hash.len(), 32);
    let sizes: Vec<PosterSize> = made.sizes.iter().map(|(s, _)| *s).collect();
    assert_eq!(sizes, PosterSize::ALL);
    for (size, bytes) in &made.sizes {
        let (w, h) = decoded_size(bytes);
        assert_eq!(w, size.width().unwrap_or(1000), "{size:?}");
        assert!(h.abs_diff(w * 3 / 2) <= 1, "{size:?}: {w} x {h}");
        assert!(bytes.starts_with(&[0xFF, 0xD8]), "{size:?} is a JPEG");
    }
}

#[test]
fn a_small_image_is_not_enlarged_and_the_same_bytes_get_the_same_hash() {
    let body = jpeg(120, 180);
    let made = process(&body, "image/jpeg", &Limits::default()).expect("a poster");
    for (size, bytes) in &made.sizes {
        let expected = size.width().filter(|w| *w < 120).unwrap_or(120);
        assert_eq!(decoded_size(bytes).0, expected, "{size:?}");
    }
    let again = process(&body, "image/jpeg", &Limits::default()).expect("a poster");
    assert_eq!(again.hash, made.hash);
    let other = process(&jpeg(121, 180), "image/jpeg", &Limits::default()).expect("a poster");
    assert_ne!(other.hash, made.hash);
}

#[test]
fn the_exif_orientation_is_applied_and_no_metadata_is_kept() {
    let secret = "GPS 48.8584 N 2.2945 E";
    // 6: the camera was turned; the stored pixels are 300 x 200, the poster 200 x 300.
    let body = jpeg_with_exif(300, 200, 6, secret);
    assert!(contains(&body, secret.as_bytes()));
    let made = process(&body, "image/jpeg", &Limits::default()).expect("a poster");
    assert_eq!((made.width, made.height), (200, 300));
    for (size, bytes) in &made.sizes {
        assert!(
            !contains(bytes, secret.as_bytes()),
            "{size:?} keeps the description"
        );
        assert!(
            !contains(bytes, b"Exif\0\0"),
            "{size:?} keeps an EXIF block"
        );
    }
    assert_eq!(decoded_size(&made.sizes[6].1), (200, 300));
}

#[test]
fn png_and_webp_are_taken_and_transparency_is_shown_over_white() {
    let made = process(&png(200, 300), "image/png", &Limits::default()).expect("a PNG poster");
    assert_eq!((made.width, made.height), (200, 300));
    let original = image::load_from_memory(&made.sizes[6].1)
        .expect("decodes")
        .into_rgb8();
    // Column 0 is fully transparent: white; column 255 opaque red.
    let clear = original.get_pixel(0, 10);
    assert!(clear.0.iter().all(|c| *c > 240), "{clear:?}");
    let mut webp = Vec::new();
    WebPEncoder::new_lossless(&mut webp)
        .write_image(
            picture(150, 225).as_raw(),
            150,
            225,
            image::ExtendedColorType::Rgb8,
        )
        .expect("encodes");
    let made = process(&webp, "image/webp", &Limits::default()).expect("a WebP poster");
    assert_eq!((made.width, made.height), (150, 225));
}

#[test]
fn an_empty_body_a_wrong_type_and_a_mismatch_are_refused() {
    let limits = Limits::default();
    assert_eq!(
        process(&[], "image/jpeg", &limits).err(),
        Some(ImageError::Empty)
    );
    assert_eq!(
        process(&jpeg(10, 10), "image/gif", &limits).err(),
        Some(ImageError::UnsupportedType("image/gif".into()))
    );
    assert_eq!(
        process(
            b"<svg xmlns='http://www.w3.org/2000/svg'/>",
            "image/svg+xml",
            &limits
        )
        .err(),
        Some(ImageError::UnsupportedType("image/svg+xml".into()))
    );
    assert_eq!(
        process(&png(10, 10), "image/jpeg", &limits).err(),
        Some(ImageError::NotOfType {
            declared: "image/jpeg"
        })
    );
    assert_eq!(
        process(b"GIF89a not really", "image/webp", &limits).err(),
        Some(ImageError::NotOfType {
            declared: "image/webp"
        })
    );
}

#[test]
fn a_body_over_the_byte_limit_is_refused_before_it_is_read() {
    let limits = Limits {
        max_bytes: 1000,
        ..Limits::default()
    };
    let body = jpeg(200, 200);
    assert!(body.len() > 1000);
    assert_eq!(
        process(&body, "image/jpeg", &limits).err(),
        Some(ImageError::TooLarge {
            size: body.len(),
            max: 1000
        })
    );
}

#[test]
fn truncated_images_are_refused() {
    let limits = Limits::default();
    for (body, kind) in [(jpeg(400, 600), "image/jpeg"), (png(400, 600), "image/png")] {
        let cut = &body[..body.len() / 2];
        let refused = process(cut, kind, &limits).err();
        assert!(
            matches!(refused, Some(ImageError::Undecodable(_))),
            "{kind}: {refused:?}"
        );
    }
}

#[test]
fn a_decompression_bomb_is_refused_from_its_header() {
    // A PNG of a few dozen bytes whose header claims 50 000 x 50 000 pixels (7.5 GB of RGB).
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&50_000u32.to_be_bytes());
    ihdr.extend_from_slice(&50_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut bomb = b"\x89PNG\r\n\x1a\n".to_vec();
    bomb.extend(chunk(b"IHDR", &ihdr));
    bomb.extend(chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    bomb.extend(chunk(b"IEND", &[]));
    assert!(bomb.len() < 100);
    let refused = process(&bomb, "image/png", &Limits::default()).err();
    assert!(
        matches!(
            refused,
            Some(ImageError::TooManyPixels {
                width: 50_000,
                height: 50_000,
                ..
            })
        ),
        "{refused:?}"
    );
    // A JPEG of a few kilobytes whose frame header says 50 000 x 50 000.
    let mut jpeg_bomb = jpeg(64, 64);
    let sof = jpeg_bomb
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline frame header");
    jpeg_bomb[sof + 5..sof + 7].copy_from_slice(&50_000u16.to_be_bytes());
    jpeg_bomb[sof + 7..sof + 9].copy_from_slice(&50_000u16.to_be_bytes());
    let refused = process(&jpeg_bomb, "image/jpeg", &Limits::default()).err();
    assert!(
        matches!(
            refused,
            Some(ImageError::TooManyPixels {
                width: 50_000,
                height: 50_000,
                ..
            })
        ),
        "{refused:?}"
    );
    // Within each side's bound but over the pixel count.
    let limits = Limits {
        max_pixels: 100 * 100,
        ..Limits::default()
    };
    assert!(matches!(
        process(&jpeg(101, 100), "image/jpeg", &limits).err(),
        Some(ImageError::TooManyPixels { .. })
    ));
}

#[test]
fn a_png_with_a_huge_text_chunk_is_taken_and_the_text_left_behind() {
    let text = "x".repeat(4 * 1024 * 1024);
    let mut itxt = b"Comment\0\0\0\0\0".to_vec();
    itxt.extend_from_slice(text.as_bytes());
    let body = with_chunks(&png(60, 90), &[chunk(b"iTXt", &itxt)]);
    let made = process(&body, "image/png", &Limits::default()).expect("a poster");
    for (_, bytes) in &made.sizes {
        assert!(bytes.len() < 100_000);
    }
}

#[test]
fn an_animated_png_is_refused() {
    // acTL: 2 frames, loop forever; the still image stays the default frame.
    let mut actl = 2u32.to_be_bytes().to_vec();
    actl.extend_from_slice(&0u32.to_be_bytes());
    let body = with_chunks(&png(20, 30), &[chunk(b"acTL", &actl)]);
    let refused = process(&body, "image/png", &Limits::default()).err();
    assert_eq!(refused, Some(ImageError::Animated));
}
