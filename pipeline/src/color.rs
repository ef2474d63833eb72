//! Colour transforms: colour jitter and the final normalization to `f32` CHW.
//!
//! Colour jitter composes brightness, contrast, saturation and hue (in a random order) into one
//! affine colour map applied in a single pass, clamped once at the end (torchvision clamps after
//! every step; the results differ only where an intermediate value left [0, 255]). Contrast's
//! gray mean is derived from the input's mean colour through the map (it is linear), so the
//! whole jitter costs two passes: one for the mean, one to apply. Hue is a rotation of the
//! chroma plane in YIQ space by `hue × 360°`, a 3×3 matrix (no per-pixel trigonometry or HSV
//! round trip); it approximates torchvision's HSV hue shift.

use rand::Rng;
use rand::seq::SliceRandom;

use crate::decode::Image;

/// ITU-R BT.601 luma weights (torchvision's grayscale).
const LUMA: [f32; 3] = [0.299, 0.587, 0.114];

/// One draw of colour-jitter factors: brightness, contrast, saturation, hue (each optional)
/// and the random order they apply in.
#[derive(Debug, Clone, PartialEq)]
pub struct ColorJitter {
    order: [u8; 4],
    brightness: Option<f32>,
    contrast: Option<f32>,
    saturation: Option<f32>,
    hue: Option<f32>,
}

impl ColorJitter {
    /// Draws as torchvision's `ColorJitter.get_params`: the order, then each enabled factor.
    pub fn sample<R: Rng>(
        brightness: f32,
        contrast: f32,
        saturation: f32,
        hue: f32,
        rng: &mut R,
    ) -> ColorJitter {
        let mut order = [0u8, 1, 2, 3];
        order.shuffle(rng);
        let mut factor = |x: f32| (x > 0.0).then(|| rng.random_range((1.0 - x).max(0.0)..=1.0 + x));
        let b = factor(brightness);
        let c = factor(contrast);
        let s = factor(saturation);
        let h = (hue > 0.0).then(|| rng.random_range(-hue..=hue));
        ColorJitter {
            order,
            brightness: b,
            contrast: c,
            saturation: s,
            hue: h,
        }
    }

    /// Applies the jitter in place as one affine colour map (see the module docs).
    pub fn apply(&self, img: &mut Image) {
        let (m, t) = self.affine(img);
        if img.channels == 1 {
            let (a, b) = (m[0][0], t[0] + 0.5);
            for v in img.data.iter_mut() {
                *v = (f32::from(*v) * a + b).clamp(0.0, 255.0) as u8;
            }
        } else {
            for px in img.data.as_chunks_mut::<3>().0 {
                let (r, g, b) = (f32::from(px[0]), f32::from(px[1]), f32::from(px[2]));
                for i in 0..3 {
                    px[i] = (m[i][0] * r + m[i][1] * g + m[i][2] * b + t[i] + 0.5).clamp(0.0, 255.0)
                        as u8;
                }
            }
        }
    }

    /// Applies the jitter and then the normalization `x·scale + offset` in one pass, writing
    /// CHW floats to `out` (what [`ColorJitter::apply`] followed by [`normalize_into`] gives,
    /// without rounding the jittered colours to 8 bits in between).
    pub fn apply_normalized(&self, img: &Image, scale: &[f32], offset: &[f32], out: &mut [f32]) {
        let (m, t) = self.affine(img);
        let n = img.width as usize * img.height as usize;
        if img.channels == 1 {
            let (a, b) = (m[0][0], t[0]);
            for (o, &v) in out[..n].iter_mut().zip(&img.data) {
                *o = (f32::from(v) * a + b).clamp(0.0, 255.0) * scale[0] + offset[0];
            }
            return;
        }
        let (r_plane, rest) = out[..3 * n].split_at_mut(n);
        let (g_plane, b_plane) = rest.split_at_mut(n);
        let planes = [r_plane, g_plane, b_plane];
        let affine = Affine {
            m,
            t,
            scale: [scale[0], scale[1], scale[2]],
            offset: [offset[0], offset[1], offset[2]],
        };
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            #[allow(unsafe_code)]
            // SAFETY: the CPU has AVX2, the one target feature `affine_planes_avx2` enables.
            unsafe {
                affine_planes_avx2(&img.data, &affine, planes);
            }
            return;
        }
        affine_planes(&img.data, &affine, planes);
    }

    /// The jitter as one affine colour map `x ↦ m·x + t` on `img`'s pixels (gray images use
    /// `m[0][0]` and `t[0]`).
    fn affine(&self, img: &Image) -> ([[f32; 3]; 3], [f32; 3]) {
        let c = img.channels as usize;
        let n = (img.width as usize * img.height as usize).max(1);
        // Mean colour of the input, for contrast (mean of gray is linear in it); only contrast
        // needs it.
        let mut sums = [0u64; 3];
        if self.contrast.is_some() {
            if c == 1 {
                sums[0] = img.data.iter().map(|&v| u64::from(v)).sum();
            } else {
                sums = channel_sums(&img.data);
            }
        }
        let mean_in = sums.map(|s| s as f32 / n as f32);
        let mut m = [[1.0f32, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let mut t = [0.0f32; 3];
        let mul = |a: &[[f32; 3]; 3], m: &mut [[f32; 3]; 3], t: &mut [f32; 3]| {
            let (om, ot) = (*m, *t);
            for i in 0..3 {
                for j in 0..3 {
                    m[i][j] = (0..3).map(|k| a[i][k] * om[k][j]).sum();
                }
                t[i] = (0..3).map(|k| a[i][k] * ot[k]).sum();
            }
        };
        for op in self.order {
            match op {
                0 => {
                    if let Some(f) = self.brightness {
                        mul(
                            &[[f, 0.0, 0.0], [0.0, f, 0.0], [0.0, 0.0, f]],
                            &mut m,
                            &mut t,
                        );
                    }
                }
                1 => {
                    if let Some(f) = self.contrast {
                        // Gray mean of the current (affine-mapped) image.
                        let gray_mean = if c == 1 {
                            m[0][0] * mean_in[0] + t[0]
                        } else {
                            (0..3)
                                .map(|i| {
                                    LUMA[i]
                                        * ((0..3).map(|j| m[i][j] * mean_in[j]).sum::<f32>() + t[i])
                                })
                                .sum()
                        };
                        mul(
                            &[[f, 0.0, 0.0], [0.0, f, 0.0], [0.0, 0.0, f]],
                            &mut m,
                            &mut t,
                        );
                        for v in t.iter_mut() {
                            *v += (1.0 - f) * gray_mean;
                        }
                    }
                }
                2 => {
                    if let (Some(f), 3) = (self.saturation, c) {
                        let mut a = [[0.0f32; 3]; 3];
                        for (i, row) in a.iter_mut().enumerate() {
                            for (j, v) in row.iter_mut().enumerate() {
                                *v = (1.0 - f) * LUMA[j] + if i == j { f } else { 0.0 };
                            }
                        }
                        mul(&a, &mut m, &mut t);
                    }
                }
                _ => {
                    if let (Some(h), 3) = (self.hue, c) {
                        mul(&hue_matrix(h), &mut m, &mut t);
                    }
                }
            }
        }
        (m, t)
    }
}

/// Per-channel sums of interleaved RGB bytes. Sixteen pixels at a time go into 48 u16 lane
/// sums (a fixed-size loop the compiler vectorizes), flushed every 256 chunks before they can
/// overflow, then folded into their channels (lane `j` holds channel `j % 3`).
fn channel_sums(data: &[u8]) -> [u64; 3] {
    const LANES: usize = 48;
    let mut sums = [0u64; 3];
    let (chunks, rest) = data.as_chunks::<LANES>();
    // 256 values of at most 255 fit a u16 lane.
    for block in chunks.chunks(256) {
        let mut lanes = [0u16; LANES];
        for chunk in block {
            for (lane, &v) in lanes.iter_mut().zip(chunk) {
                *lane += u16::from(v);
            }
        }
        for (j, lane) in lanes.into_iter().enumerate() {
            sums[j % 3] += u64::from(lane);
        }
    }
    for (j, &v) in rest.iter().enumerate() {
        sums[j % 3] += u64::from(v);
    }
    sums
}

/// A colour map `x ↦ m·x + t`, clamped to 0..=255, then normalized `·scale + offset`.
struct Affine {
    m: [[f32; 3]; 3],
    t: [f32; 3],
    scale: [f32; 3],
    offset: [f32; 3],
}

/// Maps the RGB pixels of `data` through `affine` into three planes.
#[inline(always)]
fn affine_planes(data: &[u8], affine: &Affine, [r_plane, g_plane, b_plane]: [&mut [f32]; 3]) {
    let Affine {
        m,
        t,
        scale,
        offset,
    } = affine;
    let planes = r_plane
        .iter_mut()
        .zip(g_plane.iter_mut())
        .zip(b_plane.iter_mut());
    for (((ro, go), bo), px) in planes.zip(data.as_chunks::<3>().0) {
        let (r, g, b) = (f32::from(px[0]), f32::from(px[1]), f32::from(px[2]));
        let channel = |i: usize| {
            (m[i][0] * r + m[i][1] * g + m[i][2] * b + t[i]).clamp(0.0, 255.0) * scale[i]
                + offset[i]
        };
        *ro = channel(0);
        *go = channel(1);
        *bo = channel(2);
    }
}

/// [`affine_planes`] compiled for AVX2: eight pixels a step instead of four, the same floats
/// (no fused multiply-add: Rust does not contract `a·b + c`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn affine_planes_avx2(data: &[u8], affine: &Affine, planes: [&mut [f32]; 3]) {
    affine_planes(data, affine, planes);
}

/// RGB → YIQ, rotate the IQ plane by `turns × 2π`, → RGB, as one matrix.
fn hue_matrix(turns: f32) -> [[f32; 3]; 3] {
    const T: [[f32; 3]; 3] = [
        [0.299, 0.587, 0.114],
        [0.596, -0.274, -0.322],
        [0.211, -0.523, 0.312],
    ];
    const TI: [[f32; 3]; 3] = [
        [1.0, 0.956, 0.621],
        [1.0, -0.272, -0.647],
        [1.0, -1.106, 1.703],
    ];
    let (s, c) = (turns * std::f32::consts::TAU).sin_cos();
    let r = [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]];
    let mut rt = [[0.0f32; 3]; 3];
    let mut out = [[0.0f32; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            rt[i][j] = (0..3).map(|k| r[i][k] * T[k][j]).sum();
        }
    }
    for i in 0..3 {
        for j in 0..3 {
            out[i][j] = (0..3).map(|k| TI[i][k] * rt[k][j]).sum();
        }
    }
    out
}

/// HWC `u8` → CHW `f32`: `out[c][i] = px[i][c] · scale[c] + offset[c]`.
pub fn normalize_into(img: &Image, scale: &[f32], offset: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[allow(unsafe_code)]
        // SAFETY: the CPU has AVX2, the one target feature `normalize_planes_avx2` enables.
        unsafe {
            normalize_planes_avx2(img, scale, offset, out);
        }
        return;
    }
    normalize_planes(img, scale, offset, out);
}

/// [`normalize_into`]'s loop, inlined into each build of it.
#[inline(always)]
fn normalize_planes(img: &Image, scale: &[f32], offset: &[f32], out: &mut [f32]) {
    let c = img.channels as usize;
    let n = img.width as usize * img.height as usize;
    for ch in 0..c {
        let (a, b) = (scale[ch], offset[ch]);
        let plane = &mut out[ch * n..(ch + 1) * n];
        if c == 1 {
            for (o, &v) in plane.iter_mut().zip(&img.data) {
                *o = f32::from(v) * a + b;
            }
        } else {
            for (o, px) in plane.iter_mut().zip(img.data.as_chunks::<3>().0) {
                *o = f32::from(px[ch]) * a + b;
            }
        }
    }
}

/// [`normalize_planes`] compiled for AVX2: the same floats, twice as wide.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn normalize_planes_avx2(img: &Image, scale: &[f32], offset: &[f32], out: &mut [f32]) {
    normalize_planes(img, scale, offset, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::rgb;
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn color_jitter_identity_and_brightness_are_exact() {
        let img = rgb(4, 3);
        let mut same = img.clone();
        ColorJitter {
            order: [0, 1, 2, 3],
            brightness: Some(1.0),
            contrast: Some(1.0),
            saturation: Some(1.0),
            hue: Some(0.0),
        }
        .apply(&mut same);
        assert_eq!(same.data, img.data);
        let mut bright = img.clone();
        ColorJitter {
            order: [3, 2, 1, 0],
            brightness: Some(1.5),
            contrast: None,
            saturation: None,
            hue: None,
        }
        .apply(&mut bright);
        let expect: Vec<u8> = img
            .data
            .iter()
            .map(|&v| (f32::from(v) * 1.5 + 0.5).clamp(0.0, 255.0) as u8)
            .collect();
        assert_eq!(bright.data, expect);
        // Saturation 0 makes every pixel gray.
        let mut g = img.clone();
        ColorJitter {
            order: [2, 0, 1, 3],
            brightness: None,
            contrast: None,
            saturation: Some(0.0),
            hue: None,
        }
        .apply(&mut g);
        for px in g.data.chunks(3) {
            assert!(
                px[0].abs_diff(px[1]) <= 1 && px[1].abs_diff(px[2]) <= 1,
                "{px:?}"
            );
        }
    }

    #[test]
    fn channel_sums_of_a_white_image_do_not_overflow_their_lanes() {
        // 300×300 pixels: 5,625 chunks of 16, so lanes of 255s are flushed many times full.
        let white = vec![255u8; 3 * 300 * 300];
        assert_eq!(channel_sums(&white), [255 * 300 * 300; 3]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The lane sums fold into exactly the per-pixel channel sums, for any pixel count
        /// (whole 16-pixel chunks, flushes every 4,096 pixels, and the rest).
        #[test]
        fn channel_sums_equal_per_pixel_sums(
            pixels in prop::collection::vec(any::<[u8; 3]>(), 0..9000),
        ) {
            let data: Vec<u8> = pixels.iter().flatten().copied().collect();
            let mut expect = [0u64; 3];
            for px in &pixels {
                for (s, &v) in expect.iter_mut().zip(px) {
                    *s += u64::from(v);
                }
            }
            prop_assert_eq!(channel_sums(&data), expect);
        }

        /// The AVX2 builds of the per-pixel loops give the very floats of the plain ones.
        #[test]
        fn wide_loops_equal_the_plain_ones_bit_for_bit(
            pixels in prop::collection::vec(any::<[u8; 3]>(), 1..700), seed in any::<u64>(),
        ) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let img = Image {
                width: pixels.len() as u32,
                height: 1,
                channels: 3,
                data: pixels.iter().flatten().copied().collect(),
            };
            let jitter = ColorJitter::sample(0.4, 0.4, 0.4, 0.1, &mut rng);
            let (m, t) = jitter.affine(&img);
            let affine = Affine {
                m,
                t,
                scale: [0.017, -0.02, 0.0175],
                offset: [-2.1, 1.9, -1.8],
            };
            let n = pixels.len();
            let mut p = [vec![0f32; n], vec![0f32; n], vec![0f32; n]];
            let mut w = p.clone();
            let [p0, p1, p2] = &mut p;
            affine_planes(&img.data, &affine, [p0, p1, p2]);
            let mut normalized = vec![0f32; 3 * n];
            normalize_planes(&img, &affine.scale, &affine.offset, &mut normalized);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                let [w0, w1, w2] = &mut w;
                let mut wide_normalized = vec![0f32; 3 * n];
                #[allow(unsafe_code)]
                // SAFETY: the CPU has AVX2, the one target feature both functions enable.
                unsafe {
                    affine_planes_avx2(&img.data, &affine, [w0, w1, w2]);
                    normalize_planes_avx2(&img, &affine.scale, &affine.offset, &mut wide_normalized);
                }
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                prop_assert_eq!(bits(&p.concat()), bits(&w.concat()));
                prop_assert_eq!(bits(&normalized), bits(&wide_normalized));
            }
            // And the plain loop is the formula itself.
            for (i, px) in pixels.iter().enumerate() {
                for c in 0..3 {
                    let expect = f32::from(px[c]) * affine.scale[c] + affine.offset[c];
                    prop_assert_eq!(normalized[c * n + i].to_bits(), expect.to_bits());
                }
            }
        }

        /// The fused pass equals jitter-then-normalize up to the 8-bit rounding it skips.
        #[test]
        fn apply_normalized_equals_apply_then_normalize(
            w in 1..24u32, h in 1..24u32, color in any::<bool>(), seed in any::<u64>(),
            strength in 0.0..0.9f32, hue in 0.0..0.5f32,
        ) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let channels = if color { 3 } else { 1 };
            let mut img = Image::filled(w, h, channels, 0);
            img.data.iter_mut().for_each(|v| *v = rng.random());
            let jitter = ColorJitter::sample(strength, strength, strength, hue, &mut rng);
            let (scale, offset) = ([0.017f32, -0.02, 0.0175], [-2.1f32, 1.9, -1.8]);
            let n = (w * h) as usize * channels as usize;
            let mut fused = vec![0.0; n];
            jitter.apply_normalized(&img, &scale, &offset, &mut fused);
            let mut jittered = img.clone();
            jitter.apply(&mut jittered);
            let mut plain = vec![0.0; n];
            normalize_into(&jittered, &scale, &offset, &mut plain);
            let plane = (w * h) as usize;
            for (i, (a, b)) in fused.iter().zip(&plain).enumerate() {
                let tolerance = 0.5 * scale[i / plane].abs() + 1e-4;
                prop_assert!((a - b).abs() <= tolerance, "value {i}: fused {a}, unfused {b}");
            }
        }
    }
}
