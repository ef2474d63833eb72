//! Geometric transforms on 8-bit HWC images: resize and random resized crop (one
//! fast_image_resize call each), crops with constant or reflect padding (row copies), flips in
//! place, bilinear rotation (incremental source coordinates, const-generic channel loops).

use fast_image_resize::{self as fr, PixelType, ResizeAlg, ResizeOptions, Resizer};
use rand::Rng;

use crate::config::Filter;
use crate::decode::Image;
use crate::error::{Error, Result};

/// A crop box `(left, top, width, height)` in source pixels.
pub type CropBox = (u32, u32, u32, u32);

/// torchvision's `RandomResizedCrop.get_params`: up to 10 tries of a box with area fraction
/// uniform in `scale` and aspect ratio log-uniform in `ratio`; then the whole image clamped to
/// the ratio range, centered.
pub fn random_resized_crop_box<R: Rng>(
    w: u32,
    h: u32,
    scale: [f32; 2],
    ratio: [f32; 2],
    rng: &mut R,
) -> CropBox {
    let area = f64::from(w) * f64::from(h);
    let (lr0, lr1) = (f64::from(ratio[0]).ln(), f64::from(ratio[1]).ln());
    for _ in 0..10 {
        let target = area * rng.random_range(f64::from(scale[0])..=f64::from(scale[1]));
        let aspect = if lr1 > lr0 {
            rng.random_range(lr0..=lr1)
        } else {
            lr0
        }
        .exp();
        let cw = (target * aspect).sqrt().round();
        let ch = (target / aspect).sqrt().round();
        if cw > 0.0 && ch > 0.0 && cw <= f64::from(w) && ch <= f64::from(h) {
            let (cw, ch) = (cw as u32, ch as u32);
            let top = rng.random_range(0..=h - ch);
            let left = rng.random_range(0..=w - cw);
            return (left, top, cw, ch);
        }
    }
    let in_ratio = f64::from(w) / f64::from(h);
    let (cw, ch) = if in_ratio < f64::from(ratio[0]) {
        (
            w,
            ((f64::from(w) / f64::from(ratio[0])).round() as u32).clamp(1, h),
        )
    } else if in_ratio > f64::from(ratio[1]) {
        (
            ((f64::from(h) * f64::from(ratio[1])).round() as u32).clamp(1, w),
            h,
        )
    } else {
        (w, h)
    };
    ((w - cw) / 2, (h - ch) / 2, cw, ch)
}

fn pixel_type(channels: u8) -> PixelType {
    if channels == 1 {
        PixelType::U8
    } else {
        PixelType::U8x3
    }
}

fn filter_alg(filter: Filter) -> ResizeAlg {
    match filter {
        Filter::Nearest => ResizeAlg::Nearest,
        Filter::Bilinear => ResizeAlg::Convolution(fr::FilterType::Bilinear),
        Filter::Bicubic => ResizeAlg::Convolution(fr::FilterType::CatmullRom),
        Filter::Lanczos3 => ResizeAlg::Convolution(fr::FilterType::Lanczos3),
    }
}

/// Resizes (the `crop` box of) `src` to `w`×`h` into `dst`, in one fast_image_resize call.
pub fn resize_into(
    src: &Image,
    crop: Option<CropBox>,
    w: u32,
    h: u32,
    filter: Filter,
    resizer: &mut Resizer,
    dst: &mut Image,
) -> Result<()> {
    let err = |m: String| Error::Resize {
        width: src.width,
        height: src.height,
        message: m,
    };
    let pt = pixel_type(src.channels);
    let view = fr::images::ImageRef::new(src.width, src.height, &src.data, pt)
        .map_err(|e| err(e.to_string()))?;
    dst.width = w;
    dst.height = h;
    dst.channels = src.channels;
    dst.data
        .resize(w as usize * h as usize * src.channels as usize, 0);
    let mut out = fr::images::Image::from_slice_u8(w, h, &mut dst.data, pt)
        .map_err(|e| err(e.to_string()))?;
    let mut options = ResizeOptions::new().resize_alg(filter_alg(filter));
    if let Some((l, t, cw, ch)) = crop {
        options = options.crop(f64::from(l), f64::from(t), f64::from(cw), f64::from(ch));
    }
    resizer
        .resize(&view, &mut out, &options)
        .map_err(|e| err(e.to_string()))
}

/// How pixels outside the source are filled.
#[derive(Debug, Clone, Copy)]
pub enum Pad {
    /// A constant byte.
    Constant(u8),
    /// Mirror without repeating the edge (torchvision's `reflect`).
    Reflect,
}

/// Mirror index without edge repeat; `n >= 1`.
fn reflect(i: i64, n: i64) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let m = i.rem_euclid(period);
    (if m < n { m } else { period - m }) as usize
}

/// Copies the `w`×`h` window at (`x0`, `y0`) of `src` (may reach outside it: filled per `pad`)
/// into `dst`. Rows are copied with one `copy_from_slice` for the in-range part.
pub fn crop_into(src: &Image, x0: i64, y0: i64, w: u32, h: u32, pad: Pad, dst: &mut Image) {
    let c = src.channels as usize;
    let (sw, sh) = (i64::from(src.width), i64::from(src.height));
    dst.width = w;
    dst.height = h;
    dst.channels = src.channels;
    let row_len = w as usize * c;
    dst.data.resize(row_len * h as usize, 0);
    let stride = src.stride();
    // The in-range column span of the window.
    let lo = x0.clamp(0, sw);
    let hi = (x0 + i64::from(w)).clamp(0, sw);
    for (y, row) in dst.data.chunks_exact_mut(row_len).enumerate() {
        let sy = y0 + y as i64;
        let sy = match pad {
            Pad::Constant(fill) if sy < 0 || sy >= sh || sw == 0 => {
                row.fill(fill);
                continue;
            }
            Pad::Constant(_) => sy as usize,
            Pad::Reflect => reflect(sy, sh),
        };
        let srow = &src.data[sy * stride..(sy + 1) * stride];
        if hi > lo {
            let d0 = ((lo - x0) as usize) * c;
            row[d0..d0 + (hi - lo) as usize * c]
                .copy_from_slice(&srow[lo as usize * c..hi as usize * c]);
        }
        // Columns left and right of the in-range span.
        let outside =
            (0..(lo - x0).max(0).min(i64::from(w))).chain(((hi - x0).max(0))..i64::from(w));
        for x in outside {
            let d = &mut row[x as usize * c..(x as usize + 1) * c];
            match pad {
                Pad::Constant(fill) => d.fill(fill),
                Pad::Reflect => {
                    let sx = reflect(x0 + x, sw);
                    d.copy_from_slice(&srow[sx * c..(sx + 1) * c]);
                }
            }
        }
    }
}

/// Mirrors left-right in place.
pub fn hflip(img: &mut Image) {
    let stride = img.stride();
    if stride == 0 {
        return;
    }
    match img.channels {
        1 => img
            .data
            .chunks_exact_mut(stride)
            .for_each(|row| row.reverse()),
        _ => img.data.chunks_exact_mut(stride).for_each(|row| {
            let px = row.as_chunks_mut::<3>().0;
            px.reverse();
        }),
    }
}

/// Mirrors top-bottom in place.
pub fn vflip(img: &mut Image) {
    let stride = img.stride();
    let h = img.height as usize;
    for y in 0..h / 2 {
        let (top, bottom) = img.data.split_at_mut((h - 1 - y) * stride);
        top[y * stride..(y + 1) * stride].swap_with_slice(&mut bottom[..stride]);
    }
}

/// Rotates counter-clockwise by `degrees` about the center, bilinear, same size; pixels that
/// come from outside the source are `fill`.
pub fn rotate_into(src: &Image, degrees: f32, fill: u8, dst: &mut Image) {
    dst.width = src.width;
    dst.height = src.height;
    dst.channels = src.channels;
    dst.data.resize(src.data.len(), 0);
    match src.channels {
        1 => rotate_impl::<1>(src, degrees, fill, &mut dst.data),
        _ => rotate_impl::<3>(src, degrees, fill, &mut dst.data),
    }
}

/// Fixed-point fraction bits of source coordinates in [`rotate_impl`].
const ROT_FRAC: u32 = 16;

fn rotate_impl<const C: usize>(src: &Image, degrees: f32, fill: u8, out: &mut [u8]) {
    let (w, h) = (src.width as usize, src.height as usize);
    if w == 0 || h == 0 {
        return;
    }
    // Source coordinates in 48.16 fixed point, stepped by (cos, sin) per output pixel: no
    // per-pixel float floor; bilinear weights are the top 8 fraction bits.
    let one = f64::from(1u32 << ROT_FRAC);
    let (sin, cos) = f64::from(degrees).to_radians().sin_cos();
    let (cx, cy) = (w as f64 * 0.5, h as f64 * 0.5);
    let (step_x, step_y) = ((cos * one).round() as i64, (sin * one).round() as i64);
    let stride = w * C;
    let (wl, hl) = (w as i64 - 1, h as i64 - 1);
    // Fixed-point coordinates whose four bilinear neighbours all lie inside the source.
    let inner_x = (wl << ROT_FRAC) - 1;
    let inner_y = (hl << ROT_FRAC) - 1;
    let lerp = |tl: u8, tr: u8, bl: u8, br: u8, ax: u32, ay: u32| -> u8 {
        let t = u32::from(tl) * (256 - ax) + u32::from(tr) * ax;
        let b = u32::from(bl) * (256 - ax) + u32::from(br) * ax;
        ((t * (256 - ay) + b * ay + (1 << 15)) >> 16) as u8
    };
    // Any pixel: neighbours outside the source count as `fill`.
    let border = |px: &mut [u8; C], sx: i64, sy: i64| {
        let (x0, y0) = (sx >> ROT_FRAC, sy >> ROT_FRAC);
        if x0 < -1 || y0 < -1 || x0 > wl || y0 > hl {
            px.fill(fill);
            return;
        }
        let ax = ((sx >> (ROT_FRAC - 8)) & 0xFF) as u32;
        let ay = ((sy >> (ROT_FRAC - 8)) & 0xFF) as u32;
        let get = |x: i64, y: i64, c: usize| -> u8 {
            if x < 0 || y < 0 || x > wl || y > hl {
                fill
            } else {
                src.data[y as usize * stride + x as usize * C + c]
            }
        };
        for (c, v) in px.iter_mut().enumerate() {
            *v = lerp(
                get(x0, y0, c),
                get(x0 + 1, y0, c),
                get(x0, y0 + 1, c),
                get(x0 + 1, y0 + 1, c),
                ax,
                ay,
            );
        }
    };
    for (y, row) in out.chunks_exact_mut(stride).enumerate() {
        let dy = y as f64 + 0.5 - cy;
        let dx0 = 0.5 - cx;
        let sx0 = ((dx0 * cos - dy * sin + cx - 0.5) * one).round() as i64;
        let sy0 = ((dx0 * sin + dy * cos + cy - 0.5) * one).round() as i64;
        let pixels = row.as_chunks_mut::<C>().0;
        let n = pixels.len() as i64;
        // The run of pixels with every neighbour inside (an interval: coordinates are linear in
        // x) takes the branch-free path; the pixels before and after it the bordered one.
        let (ax_lo, ax_hi) = linear_range(sx0, step_x, 0, inner_x, n);
        let (ay_lo, ay_hi) = linear_range(sy0, step_y, 0, inner_y, n);
        let (lo, hi) = (ax_lo.max(ay_lo), ax_hi.min(ay_hi).max(ax_lo.max(ay_lo)));
        let (lo, hi) = (lo as usize, hi as usize);
        let (head, rest) = pixels.split_at_mut(lo);
        let (inner, tail) = rest.split_at_mut(hi - lo);
        for (x, px) in head.iter_mut().enumerate() {
            border(px, sx0 + x as i64 * step_x, sy0 + x as i64 * step_y);
        }
        let (mut sx, mut sy) = (sx0 + lo as i64 * step_x, sy0 + lo as i64 * step_y);
        for px in inner {
            let i = (sy >> ROT_FRAC) as usize * stride + (sx >> ROT_FRAC) as usize * C;
            let ax = ((sx >> (ROT_FRAC - 8)) & 0xFF) as u32;
            let ay = ((sy >> (ROT_FRAC - 8)) & 0xFF) as u32;
            let top = &src.data[i..i + 2 * C];
            let bot = &src.data[i + stride..i + stride + 2 * C];
            for c in 0..C {
                px[c] = lerp(top[c], top[C + c], bot[c], bot[C + c], ax, ay);
            }
            sx += step_x;
            sy += step_y;
        }
        for (x, px) in tail.iter_mut().enumerate() {
            let x = (hi + x) as i64;
            border(px, sx0 + x * step_x, sy0 + x * step_y);
        }
    }
}

/// The half-open range of `x` in `0..n` where `lo <= v0 + x·step <= hi`, as `(start, end)`
/// (empty: `start == end`).
fn linear_range(v0: i64, step: i64, lo: i64, hi: i64, n: i64) -> (i64, i64) {
    let (start, end) = match step {
        0 if (lo..=hi).contains(&v0) => (0, n),
        0 => (0, 0),
        s if s > 0 => (ceil_div(lo - v0, s), floor_div(hi - v0, s) + 1),
        s => (ceil_div(hi - v0, s), floor_div(lo - v0, s) + 1),
    };
    let (start, end) = (start.clamp(0, n), end.clamp(0, n));
    (start, end.max(start))
}

/// `a / b` rounded towards negative infinity, for any signs.
fn floor_div(a: i64, b: i64) -> i64 {
    let q = a / b;
    if a % b != 0 && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

/// `a / b` rounded towards positive infinity, for any signs.
fn ceil_div(a: i64, b: i64) -> i64 {
    let q = a / b;
    if a % b != 0 && ((a < 0) == (b < 0)) {
        q + 1
    } else {
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::fixtures::{gray, rgb};
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

    #[test]
    fn rotation_by_zero_is_identity_and_by_180_reverses() {
        let g = gray(5, 3);
        let mut out = Image::filled(0, 0, 1, 0);
        rotate_into(&g, 0.0, 0, &mut out);
        assert_eq!(out.data, g.data);
        rotate_into(&g, 180.0, 0, &mut out);
        let mut rev = g.data.clone();
        rev.reverse();
        assert_eq!(out.data, rev);
        // 90° on a square turns the first row into the first column (counter-clockwise).
        let s = gray(3, 3);
        rotate_into(&s, 90.0, 0, &mut out);
        assert_eq!(out.data, vec![2, 5, 8, 1, 4, 7, 0, 3, 6]);
    }

    /// Rotation computed pixel by pixel with the bordered rule everywhere (no interior run):
    /// the reference the split loop of `rotate_impl` must equal exactly.
    fn rotate_reference(src: &Image, degrees: f32, fill: u8) -> Vec<u8> {
        let (w, h, c) = (
            i64::from(src.width),
            i64::from(src.height),
            src.channels as usize,
        );
        let one = f64::from(1u32 << ROT_FRAC);
        let (sin, cos) = f64::from(degrees).to_radians().sin_cos();
        let (cx, cy) = (w as f64 * 0.5, h as f64 * 0.5);
        let (step_x, step_y) = ((cos * one).round() as i64, (sin * one).round() as i64);
        let get = |x: i64, y: i64, ch: usize| -> u32 {
            if x < 0 || y < 0 || x >= w || y >= h {
                u32::from(fill)
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
                let (sx, sy) = (sx0 + x * step_x, sy0 + x * step_y);
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
            fill in any::<u8>(), seed in any::<u64>(),
        ) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let channels = if color { 3 } else { 1 };
            let mut src = Image::filled(w, h, channels, 0);
            src.data.iter_mut().for_each(|v| *v = rng.random());
            let mut out = Image::filled(0, 0, 1, 0);
            rotate_into(&src, degrees, fill, &mut out);
            prop_assert_eq!(out.data, rotate_reference(&src, degrees, fill));
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
}
