//! PNG decoding row by row (8/16-bit; gray, RGB, alpha, palette; interlaced or not) straight
//! to 8-bit gray or RGB.

use std::io::Cursor;

use image::DynamicImage;

use super::decoded::{DecodeError, Image, SkipReason, convert};
use super::limits::{DecodeLimits, max_alloc};

/// Decodes a PNG row by row with the `png` crate, converting each row to the output as it
/// comes: reading stops after the last row, so a cut in what follows the pixels (the rest of
/// the last `IDAT`, `IEND`) does not lose the image, and no full-size 16-bit or RGBA copy is
/// made of a non-interlaced image.
pub(super) fn decode_png(
    bytes: &[u8],
    channels: u8,
    limits: &DecodeLimits,
) -> Result<Image, DecodeError> {
    let max_bytes = usize::try_from(max_alloc(limits)).unwrap_or(usize::MAX);
    let mut decoder =
        png::Decoder::new_with_limits(Cursor::new(bytes), png::Limits { bytes: max_bytes });
    let (width, height) = {
        let info = decoder.read_header_info().map_err(png_error)?;
        (info.width, info.height)
    };
    limits.check(width, height)?;
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().map_err(png_error)?;
    let (color, depth) = reader.output_color_type();
    let interlaced = reader.info().interlaced;
    let line = reader
        .output_line_size(width)
        .ok_or_else(|| DecodeError::new(SkipReason::TooLarge, "a row does not fit in memory"))?;
    let out_channels: u8 = if channels == 1 { 1 } else { 3 };
    let out_stride = width as usize * usize::from(out_channels);
    let mut data = vec![0u8; out_stride * height as usize];
    let truncated = || DecodeError::new(SkipReason::Truncated, "PNG pixel rows end early");
    if interlaced {
        // Adam7: the passes are expanded into a full-size buffer, converted at the end.
        let mut full = vec![0u8; line * height as usize];
        let bits_pp = u8::try_from(color.samples() * depth as usize).unwrap_or(64);
        for _ in 0..adam7_rows(width, height) {
            let row = reader
                .next_interlaced_row()
                .map_err(png_error)?
                .ok_or_else(truncated)?;
            if let png::InterlaceInfo::Adam7(info) = row.interlace() {
                png::expand_interlaced_row(&mut full, line, row.data(), info, bits_pp);
            }
        }
        for (src, dst) in full
            .chunks_exact(line)
            .zip(data.chunks_exact_mut(out_stride))
        {
            convert_row(src, width, color, depth, out_channels, dst)?;
        }
    } else {
        let mut row = vec![0u8; line];
        for dst in data.chunks_exact_mut(out_stride) {
            // Exactly `height` rows: asking for one more would read on to the next chunk.
            reader
                .read_row(&mut row)
                .map_err(png_error)?
                .ok_or_else(truncated)?;
            convert_row(&row, width, color, depth, out_channels, dst)?;
        }
    }
    Ok(Image {
        width,
        height,
        channels: out_channels,
        data,
    })
}

/// Rows an Adam7-interlaced image of `width × height` is stored as (passes with no pixels are
/// absent).
pub(super) fn adam7_rows(width: u32, height: u32) -> u64 {
    // (x offset, x step, y offset, y step) of the seven passes.
    const PASSES: [(u32, u32, u32, u32); 7] = [
        (0, 8, 0, 8),
        (4, 8, 0, 8),
        (0, 4, 4, 8),
        (2, 4, 0, 4),
        (0, 2, 2, 4),
        (1, 2, 0, 2),
        (0, 1, 1, 2),
    ];
    PASSES
        .iter()
        .filter(|(x0, dx, _, _)| width.saturating_sub(*x0).div_ceil(*dx) > 0)
        .map(|(_, _, y0, dy)| u64::from(height.saturating_sub(*y0).div_ceil(*dy)))
        .sum()
}

/// Converts one decoded PNG row (after `EXPAND`: 8 or 16 bits; gray, gray+alpha, RGB, RGBA) to
/// `out_channels`, with the `image` crate's conversions (16→8 bit rounding, Rec. 709 luma,
/// alpha dropped), as [`convert`] does for whole images.
fn convert_row(
    src: &[u8],
    width: u32,
    color: png::ColorType,
    depth: png::BitDepth,
    out_channels: u8,
    dst: &mut [u8],
) -> Result<(), DecodeError> {
    use png::ColorType as C;
    let same = matches!((color, out_channels), (C::Grayscale, 1) | (C::Rgb, 3));
    if same && depth == png::BitDepth::Eight {
        dst.copy_from_slice(&src[..dst.len()]);
        return Ok(());
    }
    let bad = || DecodeError::new(SkipReason::NotAnImage, "unsupported PNG row layout");
    let image = if depth == png::BitDepth::Sixteen {
        let v: Vec<u16> = src
            .chunks_exact(2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .collect();
        match color {
            C::Grayscale => {
                image::ImageBuffer::from_raw(width, 1, v).map(DynamicImage::ImageLuma16)
            }
            C::GrayscaleAlpha => {
                image::ImageBuffer::from_raw(width, 1, v).map(DynamicImage::ImageLumaA16)
            }
            C::Rgb => image::ImageBuffer::from_raw(width, 1, v).map(DynamicImage::ImageRgb16),
            C::Rgba => image::ImageBuffer::from_raw(width, 1, v).map(DynamicImage::ImageRgba16),
            C::Indexed => None,
        }
    } else {
        let v = src.to_vec();
        match color {
            C::Grayscale => image::ImageBuffer::from_raw(width, 1, v).map(DynamicImage::ImageLuma8),
            C::GrayscaleAlpha => {
                image::ImageBuffer::from_raw(width, 1, v).map(DynamicImage::ImageLumaA8)
            }
            C::Rgb => image::ImageBuffer::from_raw(width, 1, v).map(DynamicImage::ImageRgb8),
            C::Rgba => image::ImageBuffer::from_raw(width, 1, v).map(DynamicImage::ImageRgba8),
            C::Indexed => None,
        }
    }
    .ok_or_else(bad)?;
    let converted = convert(image, out_channels);
    dst.copy_from_slice(&converted.data);
    Ok(())
}

fn png_error(error: png::DecodingError) -> DecodeError {
    use png::DecodingError as E;
    let reason = match &error {
        E::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => SkipReason::Truncated,
        E::LimitsExceeded => SkipReason::TooLarge,
        _ => SkipReason::NotAnImage,
    };
    DecodeError::new(reason, error.to_string())
}
