//! The decoding entry points: the format an extension promises, the format the bytes have,
//! and the decoder for it.

use image::ImageFormat;

use super::decoded::{DecodeError, Image, SkipReason};
use super::jpeg::decode_jpeg;
use super::limits::DecodeLimits;
use super::png::decode_png;
use super::scale::MinDecodeSize;

/// The format an extension promises (`jpg`, `jpeg`, `png`, case-insensitive).
pub fn format_of_extension(ext: &str) -> Option<ImageFormat> {
    match ext.to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" => Some(ImageFormat::Jpeg),
        "png" => Some(ImageFormat::Png),
        _ => None,
    }
}

/// Decodes `bytes` to 8-bit gray (`channels = 1`) or RGB (`channels = 3`), with at most
/// `max_pixels` pixels and the default aspect-ratio limit; see [`decode_with`].
pub fn decode(
    bytes: &[u8],
    expected: Option<ImageFormat>,
    channels: u8,
    max_pixels: u64,
) -> Result<Image, DecodeError> {
    decode_with(bytes, expected, channels, &DecodeLimits::pixels(max_pixels))
}

/// Decodes `bytes` to 8-bit gray (`channels = 1`) or RGB (`channels = 3`).
///
/// `expected` is the format the file's extension promises (none: any). Errors: `Empty`,
/// `NotAnImage` (no JPEG/PNG signature, corrupt data), `WrongExtension`, `TooLarge` (more
/// than `max_pixels` pixels) and `AspectRatio` (both checked from the header, before
/// decoding), `Truncated` (a JPEG without its end-of-image marker, a PNG whose pixel rows end
/// early).
pub fn decode_with(
    bytes: &[u8],
    expected: Option<ImageFormat>,
    channels: u8,
    limits: &DecodeLimits,
) -> Result<Image, DecodeError> {
    decode_at_least(bytes, expected, channels, limits, None)
}

/// [`decode_with`], except that a JPEG whose image at 1/2, 1/4 or 1/8 of its size `min`
/// still admits is decoded at the smallest such scale, straight from its DCT coefficients
/// (`data.decode_scale = "auto"`; see [`reduced_scale`](super::reduced_scale)); `None`, other
/// formats, and JPEGs that jpeg-decoder cannot read decode at full size. The limits apply to
/// the full size, and every error is classified as [`decode_with`] classifies it.
pub fn decode_at_least(
    bytes: &[u8],
    expected: Option<ImageFormat>,
    channels: u8,
    limits: &DecodeLimits,
    min: Option<&MinDecodeSize>,
) -> Result<Image, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::new(SkipReason::Empty, "file is empty"));
    }
    let format = image::guess_format(bytes)
        .ok()
        .filter(|f| matches!(f, ImageFormat::Jpeg | ImageFormat::Png))
        .ok_or_else(|| DecodeError::new(SkipReason::NotAnImage, "no JPEG or PNG signature"))?;
    if let Some(expected) = expected
        && expected != format
    {
        return Err(DecodeError::new(
            SkipReason::WrongExtension,
            format!("content is {format:?}, extension says {expected:?}"),
        ));
    }
    if format == ImageFormat::Png {
        return decode_png(bytes, channels, limits);
    }
    decode_jpeg(bytes, channels, limits, min)
}
