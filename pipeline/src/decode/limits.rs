//! The limits checked from an image's header before any pixel is allocated.

use super::decoded::{DecodeError, SkipReason};

/// Default limit on an image's aspect ratio (long side / short side): more elongated images are
/// skipped (`aspect_ratio`) from their header, before decoding. Resizing the shorter side of a
/// 1×4,000,000 strip to 256 would need a 256×1,024,000,000 image; at 50:1 the eval resize of a
/// 224 output makes at most 256×12,800.
pub const DEFAULT_MAX_ASPECT_RATIO: f64 = 50.0;

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
    /// ([`DEFAULT_MAX_ASPECT_RATIO`]).
    pub fn pixels(max_pixels: u64) -> DecodeLimits {
        DecodeLimits {
            max_pixels,
            max_aspect_ratio: DEFAULT_MAX_ASPECT_RATIO,
        }
    }

    /// Rejects `width × height` when it is over either limit (or empty).
    pub(super) fn check(&self, width: u32, height: u32) -> Result<(), DecodeError> {
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

/// Bytes a decoder may allocate: the decoded image (up to 16-bit RGBA) plus scratch.
pub(super) fn max_alloc(limits: &DecodeLimits) -> u64 {
    limits.max_pixels.saturating_mul(8).saturating_add(64 << 20)
}
