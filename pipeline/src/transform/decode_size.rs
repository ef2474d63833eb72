//! The smallest decoded image a transform chain takes without upsampling where a full-size
//! decode would not: what `data.decode_scale = "auto"` may reduce a large JPEG to.

use crate::config::TransformSpec;
use crate::decode::MinDecodeSize;

/// The smallest decoded image `specs` can take for a reduced decode to change its output by no
/// more than softness; none when the chain needs the image at full size.
///
/// The rule is the chain's first op that depends on the input's resolution (flips, rotations
/// and colour jitter before it do not: they keep the size):
/// - `resize(size = S)`: the shorter side at least `S`; `resize(width = W, height = H)`: at
///   least `W × H`: the resize still shrinks (as Pillow's `Image.draft`).
/// - `random_resized_crop(size = S, scale = [s, _], ratio = [r0, r1])`: every box it can take
///   is at least `S` on both sides, so the smallest crop is still shrunk to the output rather
///   than enlarged. A box of area fraction `s` and aspect `r` has a shorter side of
///   `√(s·r'·area)` with `r' = min(r, 1/r)`, so the image needs an area of at least
///   `S² / (s·q)` with `q` the least `r'` over `[r0, r1]`, and a shorter side of at least
///   `S·max(1, r0, 1/r1)` (the ratio-clamped and whole-image fallbacks). With the defaults
///   (`s` = 0.08, ratio 3/4 to 4/3) that is about 1/0.06 ≈ 16.7 output-sized squares: for a
///   224 output, 0.84 megapixels, so a 12-megapixel photo (4032×3024) decodes at 1/2
///   (2016×1512) and its eval chain (`resize(256)`, `center_crop(224)`) at 1/8 (504×378); for
///   a 64 output both decode at 1/8. Pillow's draft rule (the shorter side at least `S`) would
///   decode the training image at 1/8 too, but then the small crops are enlarged from a coarse
///   image, which a full decode would not do.
/// - `center_crop`, `random_crop`: none (full size): they cut at the decoded resolution, so a
///   reduced image would change what is cut, not only how sharp it is.
pub fn min_decode_size(specs: &[TransformSpec]) -> Option<MinDecodeSize> {
    for spec in specs {
        match *spec {
            TransformSpec::Hflip { .. }
            | TransformSpec::Vflip { .. }
            | TransformSpec::Rotation { .. }
            | TransformSpec::ColorJitter { .. } => continue,
            TransformSpec::Resize {
                size,
                width,
                height,
                ..
            } => {
                return match (size, width, height) {
                    (_, Some(w), Some(h)) => Some(MinDecodeSize {
                        width: w,
                        height: h,
                        ..MinDecodeSize::default()
                    }),
                    (Some(s), _, _) => Some(MinDecodeSize {
                        short_side: s,
                        ..MinDecodeSize::default()
                    }),
                    _ => None,
                };
            }
            TransformSpec::RandomResizedCrop {
                size, scale, ratio, ..
            } => return random_resized_crop_min(size, scale, ratio),
            TransformSpec::CenterCrop { .. } | TransformSpec::RandomCrop { .. } => return None,
        }
    }
    None
}

/// See [`min_decode_size`]: every box of `random_resized_crop(size, scale, ratio)` at least
/// `size` on both sides.
fn random_resized_crop_min(size: u32, scale: [f32; 2], ratio: [f32; 2]) -> Option<MinDecodeSize> {
    let (s, r0, r1) = (
        f64::from(scale[0]),
        f64::from(ratio[0]),
        f64::from(ratio[1]),
    );
    let q = r0.min(1.0 / r0).min(r1.min(1.0 / r1));
    if !(s > 0.0 && q > 0.0 && s.is_finite() && q.is_finite()) {
        return None;
    }
    let side = f64::from(size);
    // A relative margin for the rounding of the sampled box (and of f32 parameters).
    let area = (side * side / (s * q) * (1.0 + 1e-6)).ceil() + 1.0;
    let short_side = (side * 1f64.max(r0).max(1.0 / r1)).ceil();
    if area >= u64::MAX as f64 || short_side >= f64::from(u32::MAX) {
        return None;
    }
    Some(MinDecodeSize {
        short_side: short_side as u32,
        area: area as u64,
        ..MinDecodeSize::default()
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::decode::{reduced_scale, scaled_size};
    use crate::geometry::random_resized_crop_box;

    fn rrc(size: u32, scale: [f32; 2], ratio: [f32; 2]) -> TransformSpec {
        TransformSpec::RandomResizedCrop {
            size,
            scale,
            ratio,
            filter: Default::default(),
        }
    }

    #[test]
    fn the_standard_chains_of_a_twelve_megapixel_photo_decode_at_a_half_and_an_eighth() {
        let train = [
            rrc(224, [0.08, 1.0], [0.75, 4.0 / 3.0]),
            TransformSpec::Hflip { p: 0.5 },
        ];
        let min = min_decode_size(&train).unwrap();
        assert_eq!(reduced_scale(4032, 3024, &min), 2);
        assert_eq!(reduced_scale(500, 375, &min), 1);
        let eval = [
            TransformSpec::Resize {
                size: Some(256),
                width: None,
                height: None,
                filter: Default::default(),
            },
            TransformSpec::CenterCrop { size: 224 },
        ];
        assert_eq!(
            reduced_scale(4032, 3024, &min_decode_size(&eval).unwrap()),
            8
        );
        let small = [rrc(64, [0.08, 1.0], [0.75, 4.0 / 3.0])];
        assert_eq!(
            reduced_scale(4032, 3024, &min_decode_size(&small).unwrap()),
            8
        );
    }

    #[test]
    fn a_chain_that_crops_before_it_resizes_needs_the_full_size() {
        for first in [
            TransformSpec::CenterCrop { size: 224 },
            TransformSpec::RandomCrop {
                size: 224,
                padding: 0,
                padding_mode: Default::default(),
                fill: 0,
            },
        ] {
            assert_eq!(
                min_decode_size(&[first, rrc(64, [0.5, 1.0], [1.0, 1.0])]),
                None
            );
        }
        assert_eq!(min_decode_size(&[TransformSpec::Hflip { p: 0.5 }]), None);
    }

    proptest! {
        #[test]
        fn every_random_resized_crop_of_the_reduced_image_is_at_least_the_output(
            w in 64u32..6000, h in 64u32..6000, size in 8u32..400,
            s0 in 0.02f32..1.0, r0 in 0.3f32..1.5, dr in 0.0f32..2.0, seed in any::<u64>(),
        ) {
            let ratio = [r0, r0 + dr];
            let min = min_decode_size(&[rrc(size, [s0, 1.0], ratio)]).unwrap();
            // At full size (1) the crops are whatever a full decode gives.
            let d = reduced_scale(w, h, &min);
            let (rw, rh) = scaled_size(w, h, d);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            for _ in 0..if d > 1 { 20 } else { 0 } {
                let (_, _, cw, ch) = random_resized_crop_box(rw, rh, [s0, 1.0], ratio, &mut rng);
                prop_assert!(cw >= size && ch >= size, "{cw}x{ch} from {rw}x{rh} (1/{d}) for {size}");
            }
        }
    }
}
