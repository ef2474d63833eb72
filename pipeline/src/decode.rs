//! Reading and decoding JPEG and PNG (8/16-bit; gray, RGB, RGBA, palette) to 8-bit gray or RGB,
//! with limits checked before any pixel is allocated: the file's kind and size before it is read
//! ([`read_file`]), decoded pixels and aspect ratio from the header ([`DecodeLimits`]), so a
//! decompression bomb, a 1×4,000,000 strip, a FIFO or a link to `/dev/zero` is a counted skip.
//!
//! A file is complete when its image data is: a JPEG needs its end-of-image marker (anything
//! after it is ignored, as Pillow and browsers do), a PNG needs every row of pixels (a cut in the
//! chunks after them, such as a missing `IEND`, is ignored, as Pillow does).

use std::io::{Cursor, Read};
use std::path::Path;

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
    /// The file could not be read (permissions, vanished, a symlink loop, an I/O error).
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
    /// The path is not a regular file once symlinks are followed (a FIFO, a device such as
    /// `/dev/zero`, a socket, a directory named `*.jpg`): never opened.
    NotAFile,
    /// The file is larger than `data.max_file_mb`: never read.
    FileTooLarge,
    /// The image is more elongated than `data.max_aspect_ratio` (long side / short side).
    AspectRatio,
}

impl SkipReason {
    /// Every reason, in report order.
    pub const ALL: [SkipReason; 9] = [
        SkipReason::Unreadable,
        SkipReason::Empty,
        SkipReason::Truncated,
        SkipReason::NotAnImage,
        SkipReason::WrongExtension,
        SkipReason::TooLarge,
        SkipReason::NotAFile,
        SkipReason::FileTooLarge,
        SkipReason::AspectRatio,
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
            SkipReason::NotAFile => "not_a_file",
            SkipReason::FileTooLarge => "file_too_large",
            SkipReason::AspectRatio => "aspect_ratio",
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

/// The limits checked from an image's header, before its pixels are decoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecodeLimits {
    /// Largest accepted width × height (`data.max_pixels`).
    pub max_pixels: u64,
    /// Largest accepted long side / short side (`data.max_aspect_ratio`).
    pub max_aspect_ratio: f64,
}

impl DecodeLimits {
    /// `max_pixels` with the default aspect-ratio limit
    /// ([`DEFAULT_MAX_ASPECT_RATIO`](crate::config::DEFAULT_MAX_ASPECT_RATIO)).
    pub fn pixels(max_pixels: u64) -> DecodeLimits {
        DecodeLimits {
            max_pixels,
            max_aspect_ratio: crate::config::DEFAULT_MAX_ASPECT_RATIO,
        }
    }

    /// Rejects `width × height` when it is over either limit (or empty).
    fn check(&self, width: u32, height: u32) -> Result<(), DecodeError> {
        if width == 0 || height == 0 {
            return Err(DecodeError::new(
                SkipReason::NotAnImage,
                format!("{width}x{height}: an image has no pixels"),
            ));
        }
        if u64::from(width) * u64::from(height) > self.max_pixels {
            return Err(DecodeError::new(
                SkipReason::TooLarge,
                format!(
                    "{width}x{height} exceeds the limit of {} pixels (data.max_pixels)",
                    self.max_pixels
                ),
            ));
        }
        let ratio = f64::from(width.max(height)) / f64::from(width.min(height));
        if ratio > self.max_aspect_ratio {
            return Err(DecodeError::new(
                SkipReason::AspectRatio,
                format!(
                    "{width}x{height} has an aspect ratio of {ratio:.0}:1, over the limit of {}:1 \
                     (data.max_aspect_ratio)",
                    self.max_aspect_ratio
                ),
            ));
        }
        Ok(())
    }
}

/// Reads an image file with its size and kind checked first: the path must be a regular file
/// once symlinks are followed (a FIFO, device or directory is [`SkipReason::NotAFile`] and is
/// never opened, so neither a FIFO nor `/dev/zero` can hang or exhaust memory) of at most
/// `max_bytes` ([`SkipReason::FileTooLarge`], checked from the metadata, then enforced while
/// reading, so a file that grows is still bounded). A symlink loop or a missing file is
/// [`SkipReason::Unreadable`].
pub fn read_file(path: &Path, max_bytes: u64) -> Result<Vec<u8>, DecodeError> {
    let unreadable = |e: std::io::Error| DecodeError::new(SkipReason::Unreadable, e.to_string());
    let check = |meta: &std::fs::Metadata| -> Result<u64, DecodeError> {
        if !meta.is_file() {
            return Err(DecodeError::new(
                SkipReason::NotAFile,
                format!("not a regular file ({})", file_kind(meta)),
            ));
        }
        if meta.len() > max_bytes {
            return Err(too_big(meta.len(), max_bytes));
        }
        Ok(meta.len())
    };
    // Checked before opening: opening a FIFO for reading blocks until a writer appears.
    check(&std::fs::metadata(path).map_err(unreadable)?)?;
    let file = std::fs::File::open(path).map_err(unreadable)?;
    // And again on the opened file, in case the path was replaced in between.
    let len = check(&file.metadata().map_err(unreadable)?)?;
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_big(bytes.len() as u64, max_bytes));
    }
    Ok(bytes)
}

fn too_big(len: u64, max_bytes: u64) -> DecodeError {
    DecodeError::new(
        SkipReason::FileTooLarge,
        format!(
            "{len} bytes, over the limit of {max_bytes} bytes (data.max_file_mb = {})",
            max_bytes >> 20
        ),
    )
}

fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file"
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
    if !jpeg_is_complete(bytes) {
        return Err(DecodeError::new(
            SkipReason::Truncated,
            "JPEG data ends before its end-of-image marker",
        ));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decoder_limits = Limits::default();
    decoder_limits.max_alloc = Some(max_alloc(limits));
    reader.limits(decoder_limits);
    let decoder = reader.into_decoder().map_err(|e| classify(&e))?;
    let (w, h) = decoder.dimensions();
    limits.check(w, h)?;
    let image = DynamicImage::from_decoder(decoder).map_err(|e| classify(&e))?;
    Ok(convert(image, channels))
}

/// Bytes a decoder may allocate: the decoded image (up to 16-bit RGBA) plus scratch.
fn max_alloc(limits: &DecodeLimits) -> u64 {
    limits.max_pixels.saturating_mul(8).saturating_add(64 << 20)
}

/// Decodes a PNG row by row with the `png` crate, converting each row to the output as it
/// comes: reading stops after the last row, so a cut in what follows the pixels (the rest of
/// the last `IDAT`, `IEND`) does not lose the image, and no full-size 16-bit or RGBA copy is
/// made of a non-interlaced image.
fn decode_png(bytes: &[u8], channels: u8, limits: &DecodeLimits) -> Result<Image, DecodeError> {
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
fn adam7_rows(width: u32, height: u32) -> u64 {
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
        while i < n && bytes[i] != 0xFF {
            i += 1;
        }
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
                while i < n && bytes[i] != 0xFF {
                    i += 1;
                }
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
}
