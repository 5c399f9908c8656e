//! Makes the sample catalogue's posters: a title card per movie (its colours from its name, its
//! title and director in a 5 x 7 pixel font drawn here), written to `samples/posters/`, and
//! names each in `samples/movies.json` as the movie's `poster`. Made by this program, not
//! downloaded: run it again after changing the sample.
//!
//! `cargo run --release --example title_cards`

use image::codecs::jpeg::JpegEncoder;
use image::{Rgb, RgbImage};
use serde_json::Value;
use std::path::Path;

const WIDTH: u32 = 300;
const HEIGHT: u32 = 450;

/// 5 x 7 glyphs, a row per string, `#` lit.
fn glyph(c: char) -> [&'static str; 7] {
    match c {
        'A' => [
            " ### ", "#   #", "#   #", "#####", "#   #", "#   #", "#   #",
        ],
        'B' => [
            "#### ", "#   #", "#   #", "#### ", "#   #", "#   #", "#### ",
        ],
        'C' => [
            " ####", "#    ", "#    ", "#    ", "#    ", "#    ", " ####",
        ],
        'D' => [
            "#### ", "#   #", "#   #", "#   #", "#   #", "#   #", "#### ",
        ],
        'E' | 'É' => [
            "#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#####",
        ],
        'F' => [
            "#####", "#    ", "#    ", "#### ", "#    ", "#    ", "#    ",
        ],
        'G' => [
            " ####", "#    ", "#    ", "#  ##", "#   #", "#   #", " ####",
        ],
        'H' => [
            "#   #", "#   #", "#   #", "#####", "#   #", "#   #", "#   #",
        ],
        'I' => [
            "#####", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", "#####",
        ],
        'J' => [
            "#####", "    #", "    #", "    #", "    #", "#   #", " ### ",
        ],
        'K' => [
            "#   #", "#  # ", "# #  ", "##   ", "# #  ", "#  # ", "#   #",
        ],
        'L' => [
            "#    ", "#    ", "#    ", "#    ", "#    ", "#    ", "#####",
        ],
        'M' => [
            "#   #", "## ##", "# # #", "#   #", "#   #", "#   #", "#   #",
        ],
        'N' => [
            "#   #", "##  #", "# # #", "#  ##", "#   #", "#   #", "#   #",
        ],
        'O' => [
            " ### ", "#   #", "#   #", "#   #", "#   #", "#   #", " ### ",
        ],
        'P' => [
            "#### ", "#   #", "#   #", "#### ", "#    ", "#    ", "#    ",
        ],
        'Q' => [
            " ### ", "#   #", "#   #", "#   #", "# # #", "#  # ", " ## #",
        ],
        'R' => [
            "#### ", "#   #", "#   #", "#### ", "# #  ", "#  # ", "#   #",
        ],
        'S' => [
            " ####", "#    ", "#    ", " ### ", "    #", "    #", "#### ",
        ],
        'T' => [
            "#####", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ",
        ],
        'U' => [
            "#   #", "#   #", "#   #", "#   #", "#   #", "#   #", " ### ",
        ],
        'V' => [
            "#   #", "#   #", "#   #", "#   #", "#   #", " # # ", "  #  ",
        ],
        'W' => [
            "#   #", "#   #", "#   #", "#   #", "# # #", "## ##", "#   #",
        ],
        'X' => [
            "#   #", "#   #", " # # ", "  #  ", " # # ", "#   #", "#   #",
        ],
        'Y' => [
            "#   #", "#   #", " # # ", "  #  ", "  #  ", "  #  ", "  #  ",
        ],
        'Z' => [
            "#####", "    #", "   # ", "  #  ", " #   ", "#    ", "#####",
        ],
        '0' => [
            " ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### ",
        ],
        '1' => [
            "  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### ",
        ],
        '2' => [
            " ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####",
        ],
        '7' => [
            "#####", "    #", "   # ", "  #  ", "  #  ", "  #  ", "  #  ",
        ],
        '\'' => [
            "  #  ", "  #  ", "     ", "     ", "     ", "     ", "     ",
        ],
        ',' => [
            "     ", "     ", "     ", "     ", "     ", "  #  ", " #   ",
        ],
        '.' => [
            "     ", "     ", "     ", "     ", "     ", "     ", "  #  ",
        ],
        '-' => [
            "     ", "     ", "     ", "#####", "     ", "     ", "     ",
        ],
        ':' => [
            "     ", "  #  ", "     ", "     ", "     ", "  #  ", "     ",
        ],
        '·' => [
            "     ", "     ", "     ", "  #  ", "     ", "     ", "     ",
        ],
        _ => ["     "; 7],
    }
}

/// A 64-bit hash of `text` (FNV-1a): the card's colours and pattern.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn draw_text(image: &mut RgbImage, text: &str, scale: u32, top: u32, colour: Rgb<u8>) -> u32 {
    let advance = 6 * scale;
    let per_line = ((WIDTH - 24) / advance).max(1) as usize;
    let mut lines: Vec<String> = Vec::new();
    for word in text.to_uppercase().split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= per_line => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.chars().take(per_line).collect()),
        }
    }
    let mut y = top;
    for line in &lines {
        let width = line.chars().count() as u32 * advance;
        let mut x = (WIDTH.saturating_sub(width)) / 2;
        for c in line.chars() {
            for (row, bits) in glyph(c).iter().enumerate() {
                for (col, bit) in bits.chars().enumerate() {
                    if bit != '#' {
                        continue;
                    }
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let (px, py) =
                                (x + col as u32 * scale + dx, y + row as u32 * scale + dy);
                            if px < WIDTH && py < HEIGHT {
                                image.put_pixel(px, py, colour);
                            }
                        }
                    }
                }
            }
            x += advance;
        }
        y += 9 * scale;
    }
    y
}

fn card(name: &str, director: &str) -> RgbImage {
    let h = fnv(name);
    let channel = |shift: u32| ((h >> shift) & 0x7f) as u8;
    let (top, bottom) = (
        [channel(0) + 40, channel(8) + 20, channel(16) + 50],
        [channel(24) / 2, channel(32) / 2, channel(40) / 2],
    );
    let mut image = RgbImage::from_fn(WIDTH, HEIGHT, |_, y| {
        let t = y as f32 / HEIGHT as f32;
        let mix = |a: u8, b: u8| (a as f32 * (1.0 - t) + b as f32 * t) as u8;
        Rgb([
            mix(top[0], bottom[0]),
            mix(top[1], bottom[1]),
            mix(top[2], bottom[2]),
        ])
    });
    // A ring whose place and size come from the name.
    let (cx, cy, r) = (
        60 + (h >> 48) as u32 % 180,
        240 + (h >> 52) as u32 % 120,
        40 + (h >> 56) as u32 % 50,
    );
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            let d = ((x as i64 - cx as i64).pow(2) + (y as i64 - cy as i64).pow(2)) as f64;
            if (d.sqrt() - r as f64).abs() < 6.0 {
                let p = image.get_pixel_mut(x, y);
                *p = Rgb([
                    p[0].saturating_add(70),
                    p[1].saturating_add(70),
                    p[2].saturating_add(70),
                ]);
            }
        }
    }
    let end = draw_text(&mut image, name, 4, 36, Rgb([250, 245, 230]));
    draw_text(
        &mut image,
        director,
        2,
        end.max(200) + 190,
        Rgb([230, 225, 210]),
    );
    image
}

fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let file = root.join("movies.json");
    let mut movies: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
    std::fs::create_dir_all(root.join("posters"))?;
    for movie in &mut movies {
        let name = movie["name"].as_str().unwrap_or_default().to_owned();
        let director = movie["director"].as_str().unwrap_or_default().to_owned();
        let relative = format!("posters/{}.jpg", slug(&name));
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 80).encode_image(&card(&name, &director))?;
        std::fs::write(root.join(&relative), out)?;
        movie["poster"] = Value::String(relative);
    }
    let mut text = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b" ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut text, formatter);
    serde::Serialize::serialize(&movies, &mut serializer)?;
    text.push(b'\n');
    std::fs::write(&file, text)?;
    println!(
        "{} title cards in {}",
        movies.len(),
        root.join("posters").display()
    );
    Ok(())
}
