//! Reduced-scale JPEG decoding (`decode_at_least`) on JPEGs encoded here: sizes, pixels against
//! a full decode and an area downscale, and the same classification as a full decode.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageFormat};

use super::*;

/// A photo-like test image: smooth gradients, a pattern a few pixels wide and fine noise.
fn photo(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        let wave = ((x as f32 / 9.0).sin() * (y as f32 / 13.0).cos() * 40.0) as i32;
        let noise = ((x.wrapping_mul(7919) ^ y.wrapping_mul(104_729)) % 17) as i32 - 8;
        let c = |base: i32| (base + wave + noise).clamp(0, 255) as u8;
        image::Rgb([
            c((x * 200 / w) as i32 + 20),
            c((y * 200 / h) as i32 + 20),
            c(((x + y) * 100 / (w + h)) as i32 + 80),
        ])
    })
}

fn jpeg(image: DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    image
        .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 90))
        .unwrap();
    out
}

fn limits() -> DecodeLimits {
    DecodeLimits::pixels(50_000_000)
}

fn short(side: u32) -> MinDecodeSize {
    MinDecodeSize {
        short_side: side,
        ..MinDecodeSize::default()
    }
}

/// The mean of each `f × f` block (sides divisible by `f`): the area downscale.
fn area_downscale(img: &Image, f: u32) -> Vec<u8> {
    let (w, h, c) = (img.width / f, img.height / f, img.channels as usize);
    let mut out = Vec::with_capacity((w * h) as usize * c);
    for by in 0..h {
        for bx in 0..w {
            for ch in 0..c {
                let mut sum = 0u32;
                for y in by * f..(by + 1) * f {
                    for x in bx * f..(bx + 1) * f {
                        sum += u32::from(img.data[(y * img.width + x) as usize * c + ch]);
                    }
                }
                out.push(((sum + f * f / 2) / (f * f)) as u8);
            }
        }
    }
    out
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let total: u64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    total as f64 / a.len() as f64
}

#[test]
fn a_large_jpeg_decodes_at_the_smallest_scale_that_keeps_the_needed_size() {
    let bytes = jpeg(DynamicImage::ImageRgb8(photo(1600, 1200)));
    let at = |min: Option<&MinDecodeSize>| {
        let img = decode_at_least(&bytes, Some(ImageFormat::Jpeg), 3, &limits(), min).unwrap();
        assert_eq!(img.data.len(), (img.width * img.height * 3) as usize);
        (img.width, img.height)
    };
    assert_eq!(at(Some(&short(150))), (200, 150));
    assert_eq!(at(Some(&short(151))), (400, 300));
    assert_eq!(at(Some(&short(300))), (400, 300));
    assert_eq!(at(Some(&short(301))), (800, 600));
    assert_eq!(at(Some(&short(601))), (1600, 1200));
    assert_eq!(at(None), (1600, 1200));
    let both = MinDecodeSize {
        width: 401,
        height: 10,
        ..MinDecodeSize::default()
    };
    assert_eq!(at(Some(&both)), (800, 600));
    // Without a minimum it is the full decode, byte for byte.
    assert_eq!(
        decode_at_least(&bytes, None, 3, &limits(), None),
        decode_with(&bytes, None, 3, &limits())
    );
}

#[test]
fn reduced_pixels_are_close_to_a_full_decode_and_an_area_downscale() {
    let bytes = jpeg(DynamicImage::ImageRgb8(photo(1600, 1200)));
    let full = decode_with(&bytes, None, 3, &limits()).unwrap();
    for (f, need) in [(2, 600), (4, 300), (8, 150)] {
        let reduced = decode_at_least(&bytes, None, 3, &limits(), Some(&short(need))).unwrap();
        assert_eq!((reduced.width, reduced.height), (1600 / f, 1200 / f));
        let mad = mean_abs_diff(&reduced.data, &area_downscale(&full, f));
        assert!(mad < 2.0, "1/{f}: mean absolute difference {mad:.2}");
    }
}

#[test]
fn a_gray_jpeg_decodes_reduced_to_the_channels_a_full_decode_gives() {
    let gray = DynamicImage::ImageRgb8(photo(800, 640)).to_luma8();
    let bytes = jpeg(DynamicImage::ImageLuma8(gray));
    for channels in [1, 3] {
        let full = decode_with(&bytes, None, channels, &limits()).unwrap();
        let reduced = decode_at_least(&bytes, None, channels, &limits(), Some(&short(80))).unwrap();
        assert_eq!((reduced.width, reduced.height), (100, 80));
        assert_eq!(reduced.channels, full.channels);
        let mad = mean_abs_diff(&reduced.data, &area_downscale(&full, 8));
        assert!(mad < 2.0, "{channels} channels: {mad:.2}");
    }
    // A colour JPEG decoded to gray reduced matches the full decode's gray too.
    let colour = jpeg(DynamicImage::ImageRgb8(photo(800, 640)));
    let full = decode_with(&colour, None, 1, &limits()).unwrap();
    let reduced = decode_at_least(&colour, None, 1, &limits(), Some(&short(80))).unwrap();
    assert_eq!(reduced.channels, 1);
    let mad = mean_abs_diff(&reduced.data, &area_downscale(&full, 8));
    assert!(mad < 2.0, "colour to gray: {mad:.2}");
}

#[test]
fn small_images_and_pngs_decode_as_a_full_decode_does() {
    let small = jpeg(DynamicImage::ImageRgb8(photo(300, 200)));
    let png = {
        let mut out = Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(photo(1600, 1200))
            .write_to(&mut out, ImageFormat::Png)
            .unwrap();
        out.into_inner()
    };
    for (bytes, need) in [(&small, 150), (&png, 8)] {
        let reduced = decode_at_least(bytes, None, 3, &limits(), Some(&short(need)));
        assert_eq!(reduced, decode_with(bytes, None, 3, &limits()));
    }
}

#[test]
fn reduced_decoding_is_deterministic() {
    let bytes = jpeg(DynamicImage::ImageRgb8(photo(1600, 1200)));
    let once = decode_at_least(&bytes, None, 3, &limits(), Some(&short(300))).unwrap();
    let again = decode_at_least(&bytes.clone(), None, 3, &limits(), Some(&short(300))).unwrap();
    assert_eq!((once.width, once.height), (400, 300));
    assert_eq!(once, again);
}

#[test]
fn a_bad_large_jpeg_is_classified_as_a_full_decode_classifies_it() {
    let bytes = jpeg(DynamicImage::ImageRgb8(photo(1600, 1200)));
    let min = short(150);
    for cut in [20, 700, bytes.len() / 3, bytes.len() - 2] {
        let e = decode_at_least(&bytes[..cut], None, 3, &limits(), Some(&min)).unwrap_err();
        assert_eq!(
            e.reason,
            SkipReason::Truncated,
            "cut at {cut}: {}",
            e.detail
        );
    }
    let small_limit = DecodeLimits::pixels(1_000_000);
    let e = decode_at_least(&bytes, None, 3, &small_limit, Some(&min)).unwrap_err();
    assert_eq!(e.reason, SkipReason::TooLarge, "{}", e.detail);
    // Entropy-coded data overwritten: whatever the full decode makes of it, the reduced path
    // gives the same class of outcome (a decode or the same skip reason), never a panic.
    let mut corrupt = bytes.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid..mid + 64].fill(0x00);
    let full = decode_with(&corrupt, None, 3, &limits()).map_err(|e| e.reason);
    let reduced = decode_at_least(&corrupt, None, 3, &limits(), Some(&min)).map_err(|e| e.reason);
    assert_eq!(full.is_ok(), reduced.is_ok(), "{full:?} vs {reduced:?}");
    if let (Err(a), Err(b)) = (full, reduced) {
        assert_eq!(a, b);
    }
}
