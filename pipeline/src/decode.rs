//! Decoding JPEG and PNG (8/16-bit; gray, RGB, RGBA, palette) to 8-bit gray or RGB, with a
//! limit on decoded pixels so a decompression bomb is rejected before any pixel is allocated.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};
use serde::{Deserialize, Serialize};

/// A decoded image: 8-bit, interleaved (HWC), 1 (gray) or 3 (RGB) channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// 1 or 3.
    pub channels: u8,
    /// `height × width × channels` bytes, row-major, channels interleaved.
    pub data: Vec<u8>,
}

impl Image {
    /// An image of `fill` bytes.
    pub fn filled(width: u32, height: u32, channels: u8, fill: u8) -> Image {
        Image {
            width,
            height,
            channels,
            data: vec![fill; width as usize * height as usize * channels as usize],
        }
    }

    /// Bytes per row.
    pub fn stride(&self) -> usize {
        self.width as usize * self.channels as usize
    }

    /// Bytes held (for the cache budget).
    pub fn bytes(&self) -> usize {
        self.data.len()
    }
}

/// Why a sample was skipped (or, with `on_error = "fail"`, why the run stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The file could not be read (permissions, vanished, I/O error).
    Unreadable,
    /// The file has zero bytes.
    Empty,
    /// The data ends before the image does.
    Truncated,
    /// The bytes are not a JPEG or PNG image (or are corrupt).
    NotAnImage,
    /// The content's format differs from the file extension (a PNG named `.jpg`).
    WrongExtension,
    /// The decoded image would exceed `data.max_pixels`.
    TooLarge,
}

impl SkipReason {
    /// Every reason, in report order.
    pub const ALL: [SkipReason; 6] = [
        SkipReason::Unreadable,
        SkipReason::Empty,
        SkipReason::Truncated,
        SkipReason::NotAnImage,
        SkipReason::WrongExtension,
        SkipReason::TooLarge,
    ];

    /// The snake_case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            SkipReason::Unreadable => "unreadable",
            SkipReason::Empty => "empty",
            SkipReason::Truncated => "truncated",
            SkipReason::NotAnImage => "not_an_image",
            SkipReason::WrongExtension => "wrong_extension",
            SkipReason::TooLarge => "too_large",
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A decode failure: the reason class and the decoder's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The reason class.
    pub reason: SkipReason,
    /// Details.
    pub detail: String,
}

impl DecodeError {
    fn new(reason: SkipReason, detail: impl Into<String>) -> DecodeError {
        DecodeError {
            reason,
            detail: detail.into(),
        }
    }
}

/// The format an extension promises (`jpg`, `jpeg`, `png`, case-insensitive).
pub fn format_of_extension(ext: &str) -> Option<ImageFormat> {
    match ext.to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" => Some(ImageFormat::Jpeg),
        "png" => Some(ImageFormat::Png),
        _ => None,
    }
}

/// Decodes `bytes` to 8-bit gray (`channels = 1`) or RGB (`channels = 3`).
///
/// `expected` is the format the file's extension promises (none: any). Errors: `Empty`,
/// `NotAnImage` (no JPEG/PNG signature, corrupt data), `WrongExtension`, `TooLarge` (more
/// than `max_pixels` pixels; checked from the header, before decoding), `Truncated`.
pub fn decode(
    bytes: &[u8],
    expected: Option<ImageFormat>,
    channels: u8,
    max_pixels: u64,
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
    if format == ImageFormat::Jpeg && !jpeg_has_end(bytes) {
        return Err(DecodeError::new(
            SkipReason::Truncated,
            "JPEG data ends before its end-of-image marker",
        ));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    // Bytes of the decoded image (up to 16-bit RGBA) plus decoder scratch.
    limits.max_alloc = Some(max_pixels.saturating_mul(8).saturating_add(64 << 20));
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(|e| classify(&e))?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > max_pixels {
        return Err(DecodeError::new(
            SkipReason::TooLarge,
            format!("{w}x{h} exceeds the limit of {max_pixels} pixels"),
        ));
    }
    let image = DynamicImage::from_decoder(decoder).map_err(|e| classify(&e))?;
    Ok(convert(image, channels))
}

/// Converts any decoded image to 8-bit gray or RGB without copying when it already is.
pub fn convert(image: DynamicImage, channels: u8) -> Image {
    let (width, height) = (image.width(), image.height());
    let data = if channels == 1 {
        match image {
            DynamicImage::ImageLuma8(buf) => buf.into_raw(),
            other => other.to_luma8().into_raw(),
        }
    } else {
        match image {
            DynamicImage::ImageRgb8(buf) => buf.into_raw(),
            other => other.to_rgb8().into_raw(),
        }
    };
    Image {
        width,
        height,
        channels: if channels == 1 { 1 } else { 3 },
        data,
    }
}

/// Whether a JPEG stream has its end-of-image marker (FF D9) near its end (trailing bytes,
/// as some cameras append, are allowed).
fn jpeg_has_end(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(4096)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
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

#[cfg(test)]
mod tests {
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
            let mut enc = png::Encoder::new(&mut bytes, 2, 1);
            enc.set_color(png::ColorType::Indexed);
            enc.set_depth(png::BitDepth::Eight);
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
}
