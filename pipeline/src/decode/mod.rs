//! Reading and decoding JPEG and PNG (8/16-bit; gray, RGB, RGBA, palette) to 8-bit gray or RGB,
//! with limits checked before any pixel is allocated: the file's kind and size before it is read
//! ([`read_file`]), decoded pixels and aspect ratio from the header ([`DecodeLimits`]), so a
//! decompression bomb, a 1×4,000,000 strip, a FIFO or a link to `/dev/zero` is a counted skip.
//!
//! A file is complete when its image data is: a JPEG needs its end-of-image marker (anything
//! after it is ignored, as Pillow and browsers do), a PNG needs every row of pixels (a cut in the
//! chunks after them, such as a missing `IEND`, is ignored, as Pillow does).
//!
//! Flow: [`read_file`] (`read`) → [`decode_with`] (`dispatch`: the format) → `png` or `jpeg`,
//! each checking [`DecodeLimits`] (`limits`) from the header → an [`Image`] or a [`DecodeError`]
//! (`decoded`). [`decode_at_least`] may decode a large JPEG at a reduced DCT scale instead
//! (`jpeg_reduced`), the smallest one whose image a [`MinDecodeSize`] admits (`scale`).

mod decoded;
mod dispatch;
mod jpeg;
mod jpeg_reduced;
mod limits;
mod png;
mod read;
#[cfg(test)]
mod reduced_tests;
mod scale;
#[cfg(test)]
mod tests;

pub use decoded::{DecodeError, Image, SkipReason, convert};
pub use dispatch::{decode, decode_at_least, decode_with, format_of_extension};
pub use limits::{DEFAULT_MAX_ASPECT_RATIO, DecodeLimits};
pub use read::read_file;
pub use scale::{DCT_SCALES, MinDecodeSize, reduced_scale, scaled_size};
