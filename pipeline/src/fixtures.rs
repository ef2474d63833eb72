//! Small deterministic test images (gray and RGB ramps) for the unit tests of the transforms.

use crate::decode::Image;

/// A `w`×`h` gray image whose pixels count up from 0 (wrapping).
pub(crate) fn gray(w: u32, h: u32) -> Image {
    Image {
        width: w,
        height: h,
        channels: 1,
        data: (0..w * h).map(|i| i as u8).collect(),
    }
}

/// A `w`×`h` RGB image of distinct, deterministic channel values.
pub(crate) fn rgb(w: u32, h: u32) -> Image {
    Image {
        width: w,
        height: h,
        channels: 3,
        data: (0..w * h * 3).map(|i| (i * 7 % 256) as u8).collect(),
    }
}
