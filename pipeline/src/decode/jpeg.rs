//! JPEG decoding: complete streams only (up to their end-of-image marker), header checked
//! first; decoder errors classified into skip reasons. With a [`MinDecodeSize`], a large JPEG
//! is decoded at a reduced DCT scale (`jpeg_reduced`), else at full size here.

use std::io::Cursor;

use image::{
    ColorType, DynamicImage, GrayImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage,
};

use super::decoded::{DecodeError, Image, SkipReason, convert};
use super::jpeg_reduced::decode_jpeg_reduced;
use super::limits::{DecodeLimits, max_alloc};
use super::scale::MinDecodeSize;
use crate::prefault::populate_spare_capacity;

/// Decodes a JPEG once it is known to be complete, with the header checked against `limits`
/// before the pixels are decoded: at the smallest DCT scale `min` admits when given (and
/// jpeg-decoder handles the file), else at full size.
pub(super) fn decode_jpeg(
    bytes: &[u8],
    channels: u8,
    limits: &DecodeLimits,
    min: Option<&MinDecodeSize>,
) -> Result<Image, DecodeError> {
    if !jpeg_is_complete(bytes) {
        return Err(DecodeError::new(
            SkipReason::Truncated,
            "JPEG data ends before its end-of-image marker",
        ));
    }
    if let Some(reduced) = min.and_then(|min| decode_jpeg_reduced(bytes, channels, limits, min)) {
        return reduced;
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), ImageFormat::Jpeg);
    let mut decoder_limits = Limits::default();
    decoder_limits.max_alloc = Some(max_alloc(limits));
    reader.limits(decoder_limits);
    let decoder = reader.into_decoder().map_err(|e| classify(&e))?;
    let (w, h) = decoder.dimensions();
    limits.check(w, h)?;
    let image = match decoder.color_type() {
        // What nearly every JPEG decodes to: into a buffer mapped in one call (`prefault`).
        color @ (ColorType::Rgb8 | ColorType::L8) => {
            let n = usize::try_from(decoder.total_bytes()).map_err(|_| {
                DecodeError::new(
                    SkipReason::TooLarge,
                    "the decoded image exceeds the address space",
                )
            })?;
            let mut pixels = Vec::with_capacity(n);
            populate_spare_capacity(&mut pixels);
            pixels.resize(n, 0);
            decoder.read_image(&mut pixels).map_err(|e| classify(&e))?;
            let wrong_size = || {
                let detail = "the decoder's output is not width × height pixels";
                DecodeError::new(SkipReason::NotAnImage, detail)
            };
            if color == ColorType::Rgb8 {
                DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, pixels).ok_or_else(wrong_size)?)
            } else {
                DynamicImage::ImageLuma8(GrayImage::from_raw(w, h, pixels).ok_or_else(wrong_size)?)
            }
        }
        _ => DynamicImage::from_decoder(decoder).map_err(|e| classify(&e))?,
    };
    Ok(convert(image, channels))
}

/// Whether a JPEG stream reaches its end-of-image marker (FF D9), found by walking the
/// stream: marker segments are skipped by their length (so the marker of an embedded EXIF
/// thumbnail is not taken for the image's), entropy-coded data is scanned for the next marker
/// (stuffed `FF 00`, restart markers and fill bytes skipped), through every scan of a
/// progressive file. Whatever follows the marker is ignored, however long.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let n = bytes.len();
    // After SOI (FF D8).
    let mut i = 2;
    loop {
        // Find a marker: FF, any fill FFs, then the code (bytes before it are skipped, as
        // libjpeg skips extraneous bytes).
        i = next_ff(bytes, i);
        while i < n && bytes[i] == 0xFF {
            i += 1;
        }
        let Some(&code) = bytes.get(i) else {
            return false;
        };
        i += 1;
        match code {
            0xD9 => return true,
            // Standalone markers: stuffed zero (stray), TEM, restarts, a repeated SOI.
            0x00 | 0x01 | 0xD0..=0xD8 => continue,
            _ => {}
        }
        let Some(len) = bytes
            .get(i..i + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        else {
            return false;
        };
        if len < 2 || i + len > n {
            return false;
        }
        i += len;
        if code == 0xDA {
            // Entropy-coded data up to the next marker that is not a stuffed zero or a restart.
            loop {
                i = next_ff(bytes, i);
                let Some(&next) = bytes.get(i + 1) else {
                    return false;
                };
                match next {
                    0x00 | 0xD0..=0xD7 => i += 2,
                    0xFF => i += 1,
                    _ => break,
                }
            }
        }
    }
}

/// The index of the first FF byte at or after `i` (`bytes.len()` when none): a vectorized
/// search, since entropy-coded data is nearly all of a JPEG's bytes.
fn next_ff(bytes: &[u8], i: usize) -> usize {
    bytes
        .get(i..)
        .and_then(|rest| memchr::memchr(0xFF, rest))
        .map_or(bytes.len(), |k| i + k)
}

fn classify(error: &image::ImageError) -> DecodeError {
    use image::ImageError as E;
    let detail = error.to_string();
    let reason = match error {
        E::Limits(_) => SkipReason::TooLarge,
        E::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => SkipReason::Truncated,
        _ if detail.contains("end of file") || detail.contains("EOF") || detail.contains("eof") => {
            SkipReason::Truncated
        }
        _ => SkipReason::NotAnImage,
    };
    DecodeError { reason, detail }
}
