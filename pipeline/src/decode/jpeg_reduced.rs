//! JPEG decoding at a reduced DCT scale (1/2, 1/4, 1/8) with jpeg-decoder, for
//! `data.decode_scale = "auto"`; anything it does not handle is left to the full decode.

use image::{DynamicImage, GrayImage, RgbImage};
use jpeg_decoder::{Decoder, PixelFormat};

use super::decoded::{DecodeError, Image, convert};
use super::limits::{DecodeLimits, max_alloc};
use super::scale::{MinDecodeSize, reduced_scale, scaled_size};

/// Decodes a complete JPEG at the smallest DCT scale whose image `min` admits, the header
/// checked against `limits` (at the image's full size, as the full decode checks it) before any
/// pixel is decoded.
///
/// `None` when the full decode should do it instead: no reduced scale is admitted, the image is
/// neither 8-bit gray nor 3-component colour (CMYK, 12/16-bit: converted as the full decode
/// converts them), or jpeg-decoder rejects the stream (the full decode then decodes or
/// classifies it). `Some(Err)` only for a header over the limits.
pub(super) fn decode_jpeg_reduced(
    bytes: &[u8],
    channels: u8,
    limits: &DecodeLimits,
    min: &MinDecodeSize,
) -> Option<Result<Image, DecodeError>> {
    let mut decoder = Decoder::new(bytes);
    decoder.set_max_decoding_buffer_size(usize::try_from(max_alloc(limits)).unwrap_or(usize::MAX));
    decoder.read_info().ok()?;
    let info = decoder.info()?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    if let Err(e) = limits.check(width, height) {
        return Some(Err(e));
    }
    if !matches!(info.pixel_format, PixelFormat::L8 | PixelFormat::RGB24) {
        return None;
    }
    let denominator = reduced_scale(width, height, min);
    if denominator == 1 {
        return None;
    }
    let (w, h) = scaled_size(width, height, denominator);
    let requested = (u16::try_from(w).ok()?, u16::try_from(h).ok()?);
    // jpeg-decoder picks the smallest scale reaching the request on either side: a scale other
    // than the one asked for (possible only for images a few pixels wide) is left alone.
    if decoder.scale(requested.0, requested.1).ok()? != requested {
        return None;
    }
    let pixels = decoder.decode().ok()?;
    let per_pixel = if info.pixel_format == PixelFormat::L8 {
        1
    } else {
        3
    };
    if pixels.len() != w as usize * h as usize * per_pixel {
        return None;
    }
    let image = match info.pixel_format {
        PixelFormat::L8 => DynamicImage::ImageLuma8(GrayImage::from_raw(w, h, pixels)?),
        _ => DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, pixels)?),
    };
    Some(Ok(convert(image, channels)))
}
