//! Reduced-scale decoding (`data.decode_scale = "auto"`): the smallest decoded size a transform
//! chain can take ([`MinDecodeSize`]) and the DCT scale a JPEG is then decoded at
//! ([`reduced_scale`]).
//!
//! A JPEG can be decoded at 1/2, 1/4 or 1/8 of its size straight from its DCT coefficients,
//! skipping most of the inverse DCT and colour conversion of a full decode (not the entropy
//! decoding) and giving a decoded image 4 to 64 times smaller. As Pillow's `Image.draft`, the
//! smallest such scale is taken whose image the chain still only ever shrinks; when none is, the
//! image is decoded at full size.

/// The denominators of the scales a JPEG can be decoded at, smallest image first: 1/8, 1/4,
/// 1/2, 1 (full size).
pub const DCT_SCALES: [u32; 4] = [8, 4, 2, 1];

/// The smallest decoded image a transform chain takes without upsampling where a full-size
/// decode would not: a decoded `width × height` is admitted when it meets every bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MinDecodeSize {
    /// Least width.
    pub width: u32,
    /// Least height.
    pub height: u32,
    /// Least shorter side.
    pub short_side: u32,
    /// Least width × height.
    pub area: u64,
}

impl MinDecodeSize {
    /// Whether a decoded `width × height` image meets every bound.
    pub fn admits(&self, width: u32, height: u32) -> bool {
        width >= self.width
            && height >= self.height
            && width.min(height) >= self.short_side
            && u64::from(width) * u64::from(height) >= self.area
    }
}

/// The size of a `width × height` JPEG decoded at `1/denominator`: each side rounded up, as
/// libjpeg and jpeg-decoder round it.
pub fn scaled_size(width: u32, height: u32, denominator: u32) -> (u32, u32) {
    let d = denominator.max(1);
    (width.div_ceil(d), height.div_ceil(d))
}

/// The denominator of the smallest DCT scale ([`DCT_SCALES`]) at which a `width × height` JPEG
/// decodes to an image `min` admits; 1 (full size) when no reduced scale does.
pub fn reduced_scale(width: u32, height: u32, min: &MinDecodeSize) -> u32 {
    DCT_SCALES
        .into_iter()
        .find(|&d| {
            let (w, h) = scaled_size(width, height, d);
            min.admits(w, h)
        })
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_twelve_megapixel_photo_is_decoded_at_the_smallest_scale_the_output_allows() {
        let short = |s| MinDecodeSize {
            short_side: s,
            ..Default::default()
        };
        assert_eq!(reduced_scale(4032, 3024, &short(256)), 8);
        assert_eq!(reduced_scale(4032, 3024, &short(379)), 4);
        assert_eq!(reduced_scale(4032, 3024, &short(757)), 2);
        assert_eq!(reduced_scale(4032, 3024, &short(1513)), 1);
        assert_eq!(reduced_scale(500, 375, &short(256)), 1);
        assert_eq!(scaled_size(4031, 3023, 8), (504, 378));
    }

    proptest! {
        #[test]
        fn the_chosen_scale_is_the_smallest_that_keeps_every_bound(
            w in 1u32..20_000, h in 1u32..20_000,
            mw in 0u32..3_000, mh in 0u32..3_000, ms in 0u32..3_000, ma in 0u64..5_000_000,
        ) {
            let min = MinDecodeSize { width: mw, height: mh, short_side: ms, area: ma };
            let d = reduced_scale(w, h, &min);
            let (sw, sh) = scaled_size(w, h, d);
            if d > 1 {
                prop_assert!(sw >= mw && sh >= mh && sw.min(sh) >= ms);
                prop_assert!(u64::from(sw) * u64::from(sh) >= ma);
            }
            for smaller in DCT_SCALES.into_iter().filter(|&s| s > d) {
                let (w2, h2) = scaled_size(w, h, smaller);
                prop_assert!(!min.admits(w2, h2), "1/{smaller} ({w2}x{h2}) also fits");
            }
        }
    }
}
