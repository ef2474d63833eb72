//! Geometry tests: hand-computed pixels, and properties against a pixel-by-pixel reference.

use super::rotate::{ROT_FRAC, lerp_rgb_run, lerp_run, linear_range, nearest_run};
#[cfg(target_arch = "x86_64")]
use super::rotate_vbmi::Reach;
use super::*;
use crate::config::Interpolation;
use crate::decode::Image;
use crate::fixtures::{gray, rgb};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[test]
fn flips_match_hand_computed_pixels() {
    let mut g = gray(3, 2); // rows [0 1 2] [3 4 5]
    hflip(&mut g);
    assert_eq!(g.data, vec![2, 1, 0, 5, 4, 3]);
    vflip(&mut g);
    assert_eq!(g.data, vec![5, 4, 3, 2, 1, 0]);
    let mut c = Image {
        width: 2,
        height: 1,
        channels: 3,
        data: vec![1, 2, 3, 4, 5, 6],
    };
    hflip(&mut c);
    assert_eq!(c.data, vec![4, 5, 6, 1, 2, 3]);
    let mut v = Image {
        width: 1,
        height: 3,
        channels: 3,
        data: (0..9).collect(),
    };
    vflip(&mut v);
    assert_eq!(v.data, vec![6, 7, 8, 3, 4, 5, 0, 1, 2]);
}

#[test]
fn crops_match_hand_computed_pixels() {
    let g = gray(4, 4); // value = 4y + x
    let mut out = Image::filled(0, 0, 1, 0);
    crop_into(&g, 1, 1, 2, 2, Pad::Constant(0), &mut out);
    assert_eq!(out.data, vec![5, 6, 9, 10]);
    // Window reaching one pixel outside on the top-left, constant fill 99.
    crop_into(&g, -1, -1, 3, 3, Pad::Constant(99), &mut out);
    assert_eq!(out.data, vec![99, 99, 99, 99, 0, 1, 99, 4, 5]);
    // Reflect (no edge repeat): index -1 → 1, -2 → 2, 4 → 2.
    crop_into(&g, -2, -1, 3, 2, Pad::Reflect, &mut out);
    assert_eq!(out.data, vec![6, 5, 4, 2, 1, 0]);
    crop_into(&g, 3, 3, 2, 1, Pad::Reflect, &mut out);
    assert_eq!(out.data, vec![15, 14]);
}

fn rot(degrees: f32, interpolation: Interpolation, mirror: bool) -> Rotate {
    Rotate {
        degrees,
        interpolation,
        fill: 0,
        mirror,
    }
}

const BOTH: [Interpolation; 2] = [Interpolation::Nearest, Interpolation::Bilinear];

#[test]
fn rotation_by_zero_is_identity_and_by_180_reverses() {
    let g = gray(5, 3);
    let mut out = Image::filled(0, 0, 1, 0);
    for interp in BOTH {
        rotate_into(&g, &rot(0.0, interp, false), &mut out);
        assert_eq!(out.data, g.data, "{interp:?}");
        rotate_into(&g, &rot(180.0, interp, false), &mut out);
        let mut rev = g.data.clone();
        rev.reverse();
        assert_eq!(out.data, rev, "{interp:?}");
        // 90° on a square turns the first row into the first column (counter-clockwise).
        let s = gray(3, 3);
        rotate_into(&s, &rot(90.0, interp, false), &mut out);
        assert_eq!(out.data, vec![2, 5, 8, 1, 4, 7, 0, 3, 6], "{interp:?}");
    }
}

#[test]
fn mirrored_rotation_by_zero_is_the_horizontal_flip() {
    for img in [gray(7, 4), rgb(6, 5), rgb(1, 3)] {
        let mut flipped = img.clone();
        hflip(&mut flipped);
        let mut out = Image::filled(0, 0, 1, 0);
        for interp in BOTH {
            rotate_into(&img, &rot(0.0, interp, true), &mut out);
            assert_eq!(out, flipped, "{interp:?}");
        }
    }
}

/// Rotation computed pixel by pixel, coordinates from floats and every pixel by the
/// bordered rule: the reference the split loops of `rotate_into` must equal exactly.
fn rotate_reference(src: &Image, r: &Rotate) -> Vec<u8> {
    let (w, h, c) = (
        i64::from(src.width),
        i64::from(src.height),
        src.channels as usize,
    );
    let one = f64::from(1u32 << ROT_FRAC);
    let (sin, cos) = f64::from(r.degrees).to_radians().sin_cos();
    let (cx, cy) = (w as f64 * 0.5, h as f64 * 0.5);
    let (step_x, step_y) = ((cos * one).round() as i64, (sin * one).round() as i64);
    let get = |x: i64, y: i64, ch: usize| -> u32 {
        if x < 0 || y < 0 || x >= w || y >= h {
            u32::from(r.fill)
        } else {
            u32::from(src.data[(y * w + x) as usize * c + ch])
        }
    };
    let mut out = Vec::new();
    for y in 0..h {
        let dy = y as f64 + 0.5 - cy;
        let dx0 = 0.5 - cx;
        let sx0 = ((dx0 * cos - dy * sin + cx - 0.5) * one).round() as i64;
        let sy0 = ((dx0 * sin + dy * cos + cy - 0.5) * one).round() as i64;
        for x in 0..w {
            let (mut sx, sy) = (sx0 + x * step_x, sy0 + x * step_y);
            if r.mirror {
                sx = ((w - 1) << ROT_FRAC) - sx;
            }
            if r.interpolation == Interpolation::Nearest {
                let half = 1 << (ROT_FRAC - 1);
                let (xn, yn) = ((sx + half) >> ROT_FRAC, (sy + half) >> ROT_FRAC);
                out.extend((0..c).map(|ch| get(xn, yn, ch) as u8));
                continue;
            }
            let (x0, y0) = (sx >> ROT_FRAC, sy >> ROT_FRAC);
            let ax = ((sx >> (ROT_FRAC - 8)) & 0xFF) as u32;
            let ay = ((sy >> (ROT_FRAC - 8)) & 0xFF) as u32;
            for ch in 0..c {
                let t = get(x0, y0, ch) * (256 - ax) + get(x0 + 1, y0, ch) * ax;
                let b = get(x0, y0 + 1, ch) * (256 - ax) + get(x0 + 1, y0 + 1, ch) * ax;
                out.push(((t * (256 - ay) + b * ay + (1 << 15)) >> 16) as u8);
            }
        }
    }
    out
}

#[test]
fn rgb_bilinear_run_reaching_the_last_pair_equals_the_per_channel_run() {
    // A run ending at the bottom-right pair, where the bottom row has six bytes left, not the
    // eight the SIMD path loads: those pixels take the scalar rule.
    for (w, h) in [(2usize, 2usize), (3, 2), (5, 4)] {
        let data: Vec<u8> = (0..w * h * 3).map(|v| (v * 37 % 251) as u8).collect();
        let last = (
            ((w as i64 - 2) << ROT_FRAC) + 0x8000,
            ((h as i64 - 2) << ROT_FRAC) + 0x4000,
        );
        for n in 1..=w - 1 {
            // n samples stepping right by one pixel, the last at `last`.
            let at = (last.0 - ((n as i64 - 1) << ROT_FRAC), last.1);
            let (mut simd, mut scalar) = (vec![0u8; n * 3], vec![[0u8; 3]; n]);
            lerp_rgb_run(&data, w * 3, &mut simd, at, (1 << ROT_FRAC, 0));
            lerp_run::<3>(&data, w * 3, &mut scalar, at, (1 << ROT_FRAC, 0));
            assert_eq!(simd, scalar.as_flattened(), "{w}x{h}, {n} samples");
        }
    }
}

#[test]
fn rgb_bilinear_run_beyond_32_bit_coordinates_equals_the_per_channel_run() {
    // A row wider than 2^15 pixels: 16.16 source coordinates past it no longer fit the 32-bit
    // lanes of the eight-pixel pass, which must then leave the run to the one-pixel pass.
    let (w, h) = (40_000usize, 2usize);
    let data: Vec<u8> = (0..w * h * 3).map(|v| (v * 31 % 253) as u8).collect();
    for (x, step) in [
        (30_000i64, 1i64 << ROT_FRAC),
        (39_000, -(3 << (ROT_FRAC - 1))),
    ] {
        let at = ((x << ROT_FRAC) + 0x5A5A, 0x2000);
        let n = 600;
        let (mut simd, mut scalar) = (vec![0u8; n * 3], vec![[0u8; 3]; n]);
        lerp_rgb_run(&data, w * 3, &mut simd, at, (step, 0));
        lerp_run::<3>(&data, w * 3, &mut scalar, at, (step, 0));
        assert_eq!(simd, scalar.as_flattened(), "from x = {x}");
    }
}

/// Random RGB bytes of `w`×`h` pixels and a run of up to `n` samples stepped as a rotation by
/// `degrees` (mirrored or not) steps along an output row, from `start` taken modulo the
/// coordinates whose pixel and `reach` more to the right and below lie inside; the run as long
/// as its samples stay there. Returns the bytes, the start, the step and the run's length.
fn small_rotation_run(
    (w, h): (usize, usize),
    degrees: f64,
    mirror: bool,
    start: (u32, u32),
    n: usize,
    seed: u64,
    reach: i64,
) -> (Vec<u8>, (i64, i64), (i64, i64), usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let data: Vec<u8> = (0..w * h * 3).map(|_| rng.random()).collect();
    let max = |side: usize| ((side as i64 - reach) << ROT_FRAC) - 1;
    let (max_x, max_y) = (max(w), max(h));
    let at = (
        i64::from(start.0) % (max_x + 1),
        i64::from(start.1) % (max_y + 1),
    );
    let one = f64::from(1u32 << ROT_FRAC);
    let (sin, cos) = degrees.to_radians().sin_cos();
    let cos = if mirror { -cos } else { cos };
    let step = ((cos * one).round() as i64, (sin * one).round() as i64);
    let inside = |v0: i64, s: i64, max: i64| linear_range(v0, s, 0, max, n as i64).1 as usize;
    let n = inside(at.0, step.0, max_x).min(inside(at.1, step.1, max_y));
    (data, at, step, n)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn linear_range_is_exactly_where_the_bounds_hold(
        v0 in -2000..2000i64, step in -300..300i64, lo in -500..500i64, span in 0..900i64,
        n in 0..64i64,
    ) {
        let hi = lo + span;
        let (start, end) = linear_range(v0, step, lo, hi, n);
        let inside: Vec<i64> = (0..n).filter(|x| (lo..=hi).contains(&(v0 + x * step))).collect();
        let got: Vec<i64> = (start..end).collect();
        prop_assert_eq!(got, inside);
    }

    #[test]
    fn rotation_equals_the_pixel_by_pixel_reference(
        w in 1..40u32, h in 1..40u32, color in any::<bool>(), degrees in -180.0..180.0f32,
        nearest in any::<bool>(), mirror in any::<bool>(), fill in any::<u8>(),
        seed in any::<u64>(),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let channels = if color { 3 } else { 1 };
        let mut src = Image::filled(w, h, channels, 0);
        src.data.iter_mut().for_each(|v| *v = rng.random());
        let interpolation = if nearest { Interpolation::Nearest } else { Interpolation::Bilinear };
        let r = Rotate { degrees, interpolation, fill, mirror };
        let mut out = Image::filled(0, 0, 1, 0);
        rotate_into(&src, &r, &mut out);
        prop_assert_eq!(out.data, rotate_reference(&src, &r));
    }

    #[test]
    fn rgb_bilinear_run_equals_the_per_channel_run(
        w in 2..48usize, h in 2..24usize, start in any::<(u32, u32)>(), step in any::<(i32, i32)>(),
        n in 0..64usize, seed in any::<u64>(),
    ) {
        // A run of `n` samples whose four neighbours stay inside, ending anywhere up to the
        // bottom-right pair (fewer than eight bytes after the last row's pair).
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let data: Vec<u8> = (0..w * h * 3).map(|_| rng.random()).collect();
        let (max_x, max_y) = (((w as i64 - 1) << ROT_FRAC) - 1, ((h as i64 - 1) << ROT_FRAC) - 1);
        let at = (i64::from(start.0) % (max_x + 1), i64::from(start.1) % (max_y + 1));
        let limit = |v: i64, max: i64, s: i32| {
            let room = if s >= 0 { max - v } else { v };
            i64::from(s).signum() * i64::from(s.unsigned_abs()).min(room / n.max(1) as i64)
        };
        let step = (limit(at.0, max_x, step.0), limit(at.1, max_y, step.1));
        let (mut simd, mut scalar) = (vec![0u8; n * 3], vec![[0u8; 3]; n]);
        lerp_rgb_run(&data, w * 3, &mut simd, at, step);
        lerp_run::<3>(&data, w * 3, &mut scalar, at, step);
        prop_assert_eq!(&simd, scalar.as_flattened());
        // The one-pixel SSSE3 pass, which CPUs without AVX2 take for the whole run.
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("ssse3") {
            let mut narrow = vec![0u8; n * 3];
            #[allow(unsafe_code)]
            // SAFETY: the CPU has SSSE3, the one target feature the function enables.
            unsafe {
                super::rotate_avx2::lerp_rgb_run_ssse3(&data, w * 3, &mut narrow, at, step);
            }
            prop_assert_eq!(narrow, simd);
        }
    }

    #[test]
    fn rgb_bilinear_run_of_a_small_rotation_equals_the_per_channel_run(
        w in 2..96usize, h in 2..40usize, degrees in -16.0..16.0f64, mirror in any::<bool>(),
        start in any::<(u32, u32)>(), n in 0..120usize, seed in any::<u64>(),
    ) {
        // Runs as long as their four neighbours stay inside: the runs the AVX-512 VBMI passes
        // take whole, down to the bottom-right pixel pair.
        let (data, at, step, n) = small_rotation_run((w, h), degrees, mirror, start, n, seed, 1);
        let (mut simd, mut scalar) = (vec![0u8; n * 3], vec![[0u8; 3]; n]);
        lerp_rgb_run(&data, w * 3, &mut simd, at, step);
        lerp_run::<3>(&data, w * 3, &mut scalar, at, step);
        prop_assert_eq!(&simd, scalar.as_flattened());
        #[cfg(target_arch = "x86_64")]
        {
            let applies = super::rotate_vbmi::vbmi_applies(data.len(), w * 3, at, step, n, Reach::Bilinear);
            prop_assert_eq!(applies, n >= 8);
            if super::rotate_vbmi::has_vbmi() {
                let mut wide = vec![0u8; n * 3];
                #[allow(unsafe_code)]
                // SAFETY: the CPU has every target feature the function enables.
                unsafe {
                    super::rotate_vbmi::lerp_rgb_run_vbmi(&data, w * 3, &mut wide, at, step);
                }
                prop_assert_eq!(&wide, scalar.as_flattened());
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                let mut avx2 = vec![0u8; n * 3];
                #[allow(unsafe_code)]
                // SAFETY: the CPU has AVX2, the one target feature the function enables.
                unsafe {
                    super::rotate_avx2::lerp_rgb_run_avx2(&data, w * 3, &mut avx2, at, step);
                }
                prop_assert_eq!(&avx2, scalar.as_flattened());
            }
        }
    }

    #[test]
    fn nearest_rgb_run_of_a_small_rotation_equals_the_pixel_by_pixel_run(
        w in 1..96usize, h in 1..40usize, degrees in -16.0..16.0f64, mirror in any::<bool>(),
        start in any::<(u32, u32)>(), n in 0..120usize, seed in any::<u64>(),
    ) {
        // Coordinates offset by one half, as the nearest rule passes them: each sample reads
        // the pixel at their floor, the run as long as that stays inside.
        let (data, at, step, n) = small_rotation_run((w, h), degrees, mirror, start, n, seed, 0);
        let mut scalar = vec![[0u8; 3]; n];
        nearest_run::<3>(&data, w * 3, &mut scalar, at, step);
        #[cfg(target_arch = "x86_64")]
        {
            let applies = super::rotate_vbmi::vbmi_applies(data.len(), w * 3, at, step, n, Reach::Nearest);
            prop_assert_eq!(applies, n >= 8);
            if super::rotate_vbmi::has_vbmi() {
                let mut wide = vec![0u8; n * 3];
                #[allow(unsafe_code)]
                // SAFETY: the CPU has every target feature the function enables.
                unsafe {
                    super::rotate_vbmi::nearest_rgb_run_vbmi(&data, w * 3, &mut wide, at, step);
                }
                prop_assert_eq!(&wide, scalar.as_flattened());
            }
        }
    }

    #[test]
    fn mirrored_rotation_is_within_two_levels_of_flip_then_rotate(
        w in 1..40u32, h in 1..40u32, color in any::<bool>(), degrees in -30.0..30.0f32,
        seed in any::<u64>(),
    ) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut src = Image::filled(w, h, if color { 3 } else { 1 }, 0);
        src.data.iter_mut().for_each(|v| *v = rng.random());
        let mut flipped = src.clone();
        hflip(&mut flipped);
        let (mut fused, mut apart) = (Image::filled(0, 0, 1, 0), Image::filled(0, 0, 1, 0));
        rotate_into(&src, &rot(degrees, Interpolation::Bilinear, true), &mut fused);
        rotate_into(&flipped, &rot(degrees, Interpolation::Bilinear, false), &mut apart);
        let worst = fused.data.iter().zip(&apart.data).map(|(a, b)| a.abs_diff(*b)).max();
        prop_assert!(worst.unwrap_or(0) <= 2, "{worst:?}");
    }

    #[test]
    fn random_resized_crop_box_is_inside_with_area_and_ratio_in_range(
        w in 1..600u32, h in 1..600u32, s0 in 0.05..1.0f32, ds in 0.0..1.0f32,
        r0 in 0.5..1.0f32, dr in 0.0..1.0f32, seed in any::<u64>(),
    ) {
        let scale = [s0, (s0 + ds).min(1.0)];
        let ratio = [r0, r0 + dr];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (l, t, cw, ch) = random_resized_crop_box(w, h, scale, ratio, &mut rng);
        prop_assert!(cw >= 1 && ch >= 1 && l + cw <= w && t + ch <= h);
        // Boxes from the tries (not the full-image fallback) respect the ranges up to rounding.
        {
            let area = f64::from(cw) * f64::from(ch) / (f64::from(w) * f64::from(h));
            let r = f64::from(cw) / f64::from(ch);
            let slack_a = (f64::from(cw) + f64::from(ch) + 1.0) / (f64::from(w) * f64::from(h));
            let slack_r = 1.0 / f64::from(ch.min(cw)) + 1e-6;
            let fell_back = cw == w || ch == h;
            if !fell_back {
                prop_assert!(area >= f64::from(scale[0]) - slack_a && area <= f64::from(scale[1]) + slack_a, "area {area}");
                prop_assert!(r >= f64::from(ratio[0]) * (1.0 - slack_r) - slack_r && r <= f64::from(ratio[1]) * (1.0 + slack_r) + slack_r, "ratio {r}");
            }
        }
    }

    #[test]
    fn double_flip_is_identity(w in 1..30u32, h in 1..30u32, color in any::<bool>()) {
        let img = if color { rgb(w, h) } else { gray(w, h) };
        let mut x = img.clone();
        hflip(&mut x);
        hflip(&mut x);
        vflip(&mut x);
        vflip(&mut x);
        prop_assert_eq!(x, img);
    }
}
