//! Decoding tests through the module's entry points, on images encoded here.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat};

use super::png::adam7_rows;
use super::*;

fn encode(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn gradient_rgb(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 10) as u8, (y * 10) as u8, 77])
    })
}

#[test]
fn png_of_every_color_type_decodes_to_gray_and_rgb() {
    let rgb = gradient_rgb(7, 5);
    let variants = [
        DynamicImage::ImageRgb8(rgb.clone()),
        DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(rgb.clone()).to_rgba8()),
        DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(rgb.clone()).to_luma8()),
        DynamicImage::ImageRgb16(DynamicImage::ImageRgb8(rgb.clone()).to_rgb16()),
        DynamicImage::ImageLuma16(DynamicImage::ImageRgb8(rgb.clone()).to_luma16()),
    ];
    for v in variants {
        let bytes = encode(v.clone(), ImageFormat::Png);
        let out = decode(&bytes, Some(ImageFormat::Png), 3, 1000).unwrap();
        assert_eq!(
            (out.width, out.height, out.channels, out.data.len()),
            (7, 5, 3, 105)
        );
        assert_eq!(out.data, v.to_rgb8().into_raw());
        let gray = decode(&bytes, None, 1, 1000).unwrap();
        assert_eq!(gray.data.len(), 35);
    }
}

#[test]
fn palette_png_decodes_to_rgb() {
    let mut bytes = Vec::new();
    {
        let mut enc = ::png::Encoder::new(&mut bytes, 2, 1);
        enc.set_color(::png::ColorType::Indexed);
        enc.set_depth(::png::BitDepth::Eight);
        enc.set_palette(vec![255, 0, 0, 0, 0, 255]);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[0, 1]).unwrap();
    }
    let out = decode(&bytes, Some(ImageFormat::Png), 3, 100).unwrap();
    assert_eq!(out.data, vec![255, 0, 0, 0, 0, 255]);
}

#[test]
fn bad_inputs_are_classified() {
    let jpeg = encode(
        DynamicImage::ImageRgb8(gradient_rgb(64, 48)),
        ImageFormat::Jpeg,
    );
    let png = encode(
        DynamicImage::ImageRgb8(gradient_rgb(64, 48)),
        ImageFormat::Png,
    );
    let reason = |b: &[u8], ext| {
        decode(b, format_of_extension(ext), 3, 1_000_000)
            .unwrap_err()
            .reason
    };
    assert_eq!(reason(&[], "jpg"), SkipReason::Empty);
    assert_eq!(
        reason(b"hello, not an image", "jpg"),
        SkipReason::NotAnImage
    );
    assert_eq!(reason(&png, "jpg"), SkipReason::WrongExtension);
    assert_eq!(
        reason(&jpeg[..jpeg.len() / 2], "jpg"),
        SkipReason::Truncated
    );
    assert_eq!(reason(&png[..png.len() / 2], "png"), SkipReason::Truncated);
    assert_eq!(
        decode(&jpeg, None, 3, 1000).unwrap_err().reason,
        SkipReason::TooLarge
    );
    assert!(decode(&jpeg, Some(ImageFormat::Jpeg), 3, 64 * 48).is_ok());
}

/// A PNG chunk: length, type, data, CRC.
fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// An 8-bit RGB PNG written Adam7-interlaced (the `png` encoder writes none), rows
/// unfiltered.
fn interlaced_png(img: &image::RgbImage) -> Vec<u8> {
    let (w, h) = img.dimensions();
    let mut raw = Vec::new();
    for (x0, dx, y0, dy) in [
        (0, 8, 0, 8),
        (4, 8, 0, 8),
        (0, 4, 4, 8),
        (2, 4, 0, 4),
        (0, 2, 2, 4),
        (1, 2, 0, 2),
        (0, 1, 1, 2),
    ] {
        if x0 >= w || y0 >= h {
            continue;
        }
        for y in (y0..h).step_by(dy) {
            raw.push(0);
            for x in (x0..w).step_by(dx) {
                raw.extend_from_slice(&img.get_pixel(x, y).0);
            }
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut z, &raw).unwrap();
    let idat = z.finish().unwrap();
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 1]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

proptest::proptest! {
    #[test]
    fn interlaced_png_decodes_to_its_pixels(w in 1u32..24, h in 1u32..24, gray in proptest::bool::ANY) {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 11 + y) as u8, (y * 13) as u8, (x ^ y) as u8])
        });
        let bytes = interlaced_png(&img);
        let channels = if gray { 1 } else { 3 };
        let out = decode(&bytes, Some(ImageFormat::Png), channels, 10_000).unwrap();
        let want = convert(DynamicImage::ImageRgb8(img), channels);
        proptest::prop_assert_eq!(out, want);
        // Cut in IEND: the pixels are all there, so the image still loads.
        let cut = decode(&bytes[..bytes.len() - 5], Some(ImageFormat::Png), channels, 10_000);
        proptest::prop_assert!(cut.is_ok(), "{:?}", cut);
    }
}

#[test]
fn jpeg_with_any_amount_after_its_end_marker_loads() {
    let jpeg = encode(
        DynamicImage::ImageRgb8(gradient_rgb(64, 48)),
        ImageFormat::Jpeg,
    );
    let want = decode(&jpeg, Some(ImageFormat::Jpeg), 3, 1 << 20).unwrap();
    for extra in [1usize, 4095, 4097, 100_000] {
        let mut bytes = jpeg.clone();
        bytes.extend(std::iter::repeat_n(0u8, extra));
        let got = decode(&bytes, Some(ImageFormat::Jpeg), 3, 1 << 20);
        assert_eq!(got.as_ref(), Ok(&want), "{extra} trailing zero bytes");
    }
}

#[test]
fn jpeg_cut_anywhere_before_its_end_marker_is_truncated_even_with_a_thumbnail_marker() {
    let jpeg = encode(
        DynamicImage::ImageRgb8(gradient_rgb(40, 30)),
        ImageFormat::Jpeg,
    );
    // An APP1 segment holding an end-of-image marker, as an EXIF thumbnail does.
    let mut with_app1 = jpeg[..2].to_vec();
    with_app1.extend_from_slice(&[0xFF, 0xE1, 0x00, 0x08, 0xFF, 0xD8, 0x00, 0x00, 0xFF, 0xD9]);
    with_app1.extend_from_slice(&jpeg[2..]);
    assert!(decode(&with_app1, None, 3, 1 << 20).is_ok());
    for cut in (3..with_app1.len() - 1).step_by(7) {
        let e = decode(&with_app1[..cut], None, 3, 1 << 20).unwrap_err();
        assert_eq!(
            e.reason,
            SkipReason::Truncated,
            "cut at {cut}: {}",
            e.detail
        );
    }
}

#[test]
fn png_with_all_pixels_loads_wherever_its_tail_is_cut_and_not_before() {
    let img = gradient_rgb(20, 9);
    let png = encode(DynamicImage::ImageRgb8(img.clone()), ImageFormat::Png);
    let idat_end = png.len() - 12; // IEND is the last 12 bytes
    let want = img.into_raw();
    // Inside IEND and inside the last IDAT's CRC: the pixels are complete.
    for cut in idat_end - 4..png.len() {
        let out = decode(&png[..cut], Some(ImageFormat::Png), 3, 1000)
            .unwrap_or_else(|e| panic!("cut at {cut} of {}: {e:?}", png.len()));
        assert_eq!(out.data, want, "cut at {cut}");
    }
    // Well inside the pixel data: truncated.
    for cut in [40, png.len() / 2] {
        let e = decode(&png[..cut], Some(ImageFormat::Png), 3, 1000).unwrap_err();
        assert_eq!(
            e.reason,
            SkipReason::Truncated,
            "cut at {cut}: {}",
            e.detail
        );
    }
}

#[test]
fn extreme_aspect_ratios_are_skipped_from_the_header() {
    let strip = |w: u32, h: u32| {
        encode(
            DynamicImage::ImageLuma8(image::GrayImage::new(w, h)),
            ImageFormat::Png,
        )
    };
    let limits = DecodeLimits {
        max_pixels: 50_000_000,
        max_aspect_ratio: 50.0,
    };
    assert!(decode_with(&strip(1, 50), None, 3, &limits).is_ok());
    assert!(decode_with(&strip(200, 4), None, 3, &limits).is_ok());
    for (w, h) in [(1, 51), (51, 1), (1, 4_000_000)] {
        let e = decode_with(&strip(w, h), None, 3, &limits).unwrap_err();
        assert_eq!(e.reason, SkipReason::AspectRatio, "{w}x{h}: {}", e.detail);
        assert!(e.detail.contains("data.max_aspect_ratio"), "{}", e.detail);
    }
    let jpeg = encode(
        DynamicImage::ImageRgb8(gradient_rgb(120, 2)),
        ImageFormat::Jpeg,
    );
    let e = decode_with(&jpeg, None, 3, &limits).unwrap_err();
    assert_eq!(e.reason, SkipReason::AspectRatio);
}

#[test]
fn adam7_row_count_matches_the_passes() {
    assert_eq!(adam7_rows(1, 1), 1);
    assert_eq!(adam7_rows(8, 8), 1 + 1 + 1 + 2 + 2 + 4 + 4);
    assert_eq!(adam7_rows(1, 8), 1 + 1 + 2 + 4);
}

#[test]
fn gray_and_colour_jpegs_decode_to_the_image_crates_pixels() {
    // Decoded into a buffer of our own (mapped ahead in one call): the same pixels as the
    // image crate's own decode, converted the same way, for both JPEG colour types.
    let colour = DynamicImage::ImageRgb8(gradient_rgb(37, 21));
    let gray = DynamicImage::ImageLuma8(colour.to_luma8());
    for source in [colour, gray] {
        let jpeg = encode(source.clone(), ImageFormat::Jpeg);
        let reference = image::load_from_memory_with_format(&jpeg, ImageFormat::Jpeg).unwrap();
        for channels in [1u8, 3] {
            let out = decode(&jpeg, Some(ImageFormat::Jpeg), channels, 1000).unwrap();
            let want = if channels == 1 {
                reference.to_luma8().into_raw()
            } else {
                reference.to_rgb8().into_raw()
            };
            assert_eq!((out.width, out.height, out.channels), (37, 21, channels));
            assert_eq!(
                out.data,
                want,
                "{:?} to {channels} channels",
                source.color()
            );
        }
    }
}
