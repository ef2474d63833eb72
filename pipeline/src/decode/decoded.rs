//! What decoding gives: an 8-bit [`Image`], or a [`DecodeError`] with its [`SkipReason`]; and
//! the conversion of any decoded image to 8-bit gray or RGB.

use image::DynamicImage;
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
    pub(super) fn new(reason: SkipReason, detail: impl Into<String>) -> DecodeError {
        DecodeError {
            reason,
            detail: detail.into(),
        }
    }
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
