//! Geometric transforms on 8-bit HWC images: resize and random resized crop (one
//! fast_image_resize call each), crops with constant or reflect padding (row copies), flips in
//! place, nearest or bilinear rotation of the image or of its mirror image (incremental
//! fixed-point source coordinates, const-generic channel loops).
//!
//! One file per kind of operation: `resize` (and the random resized crop box), `crop`, `flip`,
//! `rotate` (with its AVX2 and SSSE3 runs in `rotate_avx2`, its AVX-512 VBMI runs in
//! `rotate_vbmi`).

mod crop;
mod flip;
mod resize;
mod rotate;
#[cfg(target_arch = "x86_64")]
mod rotate_avx2;
#[cfg(target_arch = "x86_64")]
mod rotate_vbmi;
#[cfg(test)]
mod tests;

pub use crop::{Pad, crop_into};
pub use flip::{hflip, vflip};
pub use resize::{CropBox, random_resized_crop_box, resize_into};
pub use rotate::{Rotate, rotate_into};
