//! Geometric transforms on 8-bit HWC images: resize and random resized crop (one
//! fast_image_resize call each), crops with constant or reflect padding (row copies), flips in
//! place, nearest or bilinear rotation of the image or of its mirror image (incremental
//! fixed-point source coordinates, const-generic channel loops).

use fast_image_resize::{self as fr, ResizeAlg, ResizeOptions, Resizer};
use rand::Rng;

use crate::config::{Filter, Interpolation};
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
    dst.width = w;
    dst.height = h;
    dst.channels = src.channels;
    dst.data
        .resize(w as usize * h as usize * src.channels as usize, 0);
    let mut options = ResizeOptions::new().resize_alg(filter_alg(filter));
    if let Some((l, t, cw, ch)) = crop {
        options = options.crop(f64::from(l), f64::from(t), f64::from(cw), f64::from(ch));
    }
    let resized = match src.channels {
        1 => resize_typed::<fr::pixels::U8>(src, &mut dst.data, (w, h), &options, resizer),
        _ => resize_typed::<fr::pixels::U8x3>(src, &mut dst.data, (w, h), &options, resizer),
    };
    resized.map_err(|message| Error::Resize {
        width: src.width,
        height: src.height,
        message,
    })
}

/// One resize of pixel type `P`. `Resizer::resize` would compile every pixel type's kernels
/// (13 of them) into this crate; typed, only gray and RGB are (the crate compiles much faster).
fn resize_typed<P: fr::PixelTrait>(
    src: &Image,
    dst: &mut [u8],
    (w, h): (u32, u32),
    options: &ResizeOptions,
    resizer: &mut Resizer,
) -> std::result::Result<(), String> {
    let view = fr::images::TypedImageRef::<P>::from_buffer(src.width, src.height, &src.data)
        .map_err(|e| e.to_string())?;
    let mut out = fr::images::TypedImage::<P>::from_buffer(w, h, dst).map_err(|e| e.to_string())?;
    resizer
        .resize_typed(&view, &mut out, options)
        .map_err(|e| e.to_string())
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

/// One rotation for [`rotate_into`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rotate {
    /// Counter-clockwise angle, in degrees.
    pub degrees: f32,
    /// Nearest or bilinear sampling.
    pub interpolation: Interpolation,
    /// The byte of output pixels that come from outside the source.
    pub fill: u8,
    /// Sample the source mirrored left-right: a horizontal flip in the same pass.
    pub mirror: bool,
}

/// Rotates (the mirror image of, with `mirror`) `src` about its center into `dst`, same size;
/// pixels that come from outside the source are `fill`.
pub fn rotate_into(src: &Image, rotate: &Rotate, dst: &mut Image) {
    dst.width = src.width;
    dst.height = src.height;
    dst.channels = src.channels;
    dst.data.resize(src.data.len(), 0);
    if src.width == 0 || src.height == 0 {
        return;
    }
    let map = SourceMap::new(src.width, src.height, rotate);
    match (rotate.interpolation, src.channels) {
        (Interpolation::Nearest, 1) => rotate_nearest::<1>(src, &map, rotate.fill, &mut dst.data),
        (Interpolation::Nearest, _) => rotate_nearest::<3>(src, &map, rotate.fill, &mut dst.data),
        (Interpolation::Bilinear, 1) => rotate_bilinear::<1>(src, &map, rotate.fill, &mut dst.data),
        (Interpolation::Bilinear, _) => rotate_bilinear::<3>(src, &map, rotate.fill, &mut dst.data),
    }
}

/// Fixed-point fraction bits of source coordinates.
const ROT_FRAC: u32 = 16;

/// Where output pixels sample the source: 48.16 fixed-point coordinates, linear along a row
/// (stepped by (cos, sin), negated in x when mirrored), so no per-pixel float work.
struct SourceMap {
    sin: f64,
    cos: f64,
    cx: f64,
    cy: f64,
    step_x: i64,
    step_y: i64,
    /// `(w - 1)` in fixed point when mirrored: x ↦ mirror_x − x.
    mirror_x: Option<i64>,
}

impl SourceMap {
    fn new(w: u32, h: u32, rotate: &Rotate) -> SourceMap {
        let one = f64::from(1u32 << ROT_FRAC);
        let (sin, cos) = f64::from(rotate.degrees).to_radians().sin_cos();
        let step_x = (cos * one).round() as i64;
        let mirror_x = rotate.mirror.then(|| (i64::from(w) - 1) << ROT_FRAC);
        SourceMap {
            sin,
            cos,
            cx: f64::from(w) * 0.5,
            cy: f64::from(h) * 0.5,
            step_x: if mirror_x.is_some() { -step_x } else { step_x },
            step_y: (sin * one).round() as i64,
            mirror_x,
        }
    }

    /// The source coordinates of output pixel (0, `y`).
    fn row_start(&self, y: usize) -> (i64, i64) {
        let one = f64::from(1u32 << ROT_FRAC);
        let dy = y as f64 + 0.5 - self.cy;
        let dx0 = 0.5 - self.cx;
        let sx = ((dx0 * self.cos - dy * self.sin + self.cx - 0.5) * one).round() as i64;
        let sy = ((dx0 * self.sin + dy * self.cos + self.cy - 0.5) * one).round() as i64;
        (self.mirror_x.map_or(sx, |m| m - sx), sy)
    }

    /// The run `lo..hi` of a row's `n` pixels whose coordinates stay within `0..=max_x` and
    /// `0..=max_y` (an interval: coordinates are linear in x), after adding `bias` to both.
    fn inner_run(&self, start: (i64, i64), bias: i64, max: (i64, i64), n: usize) -> (usize, usize) {
        let n = n as i64;
        let (x_lo, x_hi) = linear_range(start.0 + bias, self.step_x, 0, max.0, n);
        let (y_lo, y_hi) = linear_range(start.1 + bias, self.step_y, 0, max.1, n);
        let lo = x_lo.max(y_lo);
        (lo as usize, x_hi.min(y_hi).max(lo) as usize)
    }
}

/// Nearest sampling: the pixel at the rounded source coordinates, `fill` outside.
fn rotate_nearest<const C: usize>(src: &Image, map: &SourceMap, fill: u8, out: &mut [u8]) {
    let (w, h) = (src.width as usize, src.height as usize);
    let stride = w * C;
    let half = 1i64 << (ROT_FRAC - 1);
    let max = (((w as i64) << ROT_FRAC) - 1, ((h as i64) << ROT_FRAC) - 1);
    for (y, row) in out.chunks_exact_mut(stride).enumerate() {
        let start = map.row_start(y);
        let pixels = row.as_chunks_mut::<C>().0;
        let (lo, hi) = map.inner_run(start, half, max, pixels.len());
        let (head, rest) = pixels.split_at_mut(lo);
        let (inner, tail) = rest.split_at_mut(hi - lo);
        let at = |x: usize| {
            (
                start.0 + half + x as i64 * map.step_x,
                start.1 + half + x as i64 * map.step_y,
            )
        };
        for (x, px) in head.iter_mut().chain(tail.iter_mut()).enumerate() {
            let x = if x < lo { x } else { x - lo + hi };
            let (sx, sy) = at(x);
            let (sx, sy) = (sx >> ROT_FRAC, sy >> ROT_FRAC);
            if sx < 0 || sy < 0 || sx >= w as i64 || sy >= h as i64 {
                px.fill(fill);
            } else {
                let i = sy as usize * stride + sx as usize * C;
                px.copy_from_slice(&src.data[i..i + C]);
            }
        }
        let (mut sx, mut sy) = at(lo);
        for px in inner {
            let i = (sy >> ROT_FRAC) as usize * stride + (sx >> ROT_FRAC) as usize * C;
            px.copy_from_slice(&src.data[i..i + C]);
            sx += map.step_x;
            sy += map.step_y;
        }
    }
}

/// The bilinear weight (0..=255, of 256) of the right or lower neighbour at a coordinate.
fn weight(v: i64) -> u32 {
    ((v >> (ROT_FRAC - 8)) & 0xFF) as u32
}

/// Bilinear value of one channel from its four neighbours: exact integer
/// `Σ p·wx·wy / 65536`, rounded.
fn lerp(tl: u8, tr: u8, bl: u8, br: u8, ax: u32, ay: u32) -> u8 {
    let t = u32::from(tl) * (256 - ax) + u32::from(tr) * ax;
    let b = u32::from(bl) * (256 - ax) + u32::from(br) * ax;
    ((t * (256 - ay) + b * ay + (1 << 15)) >> 16) as u8
}

/// Bilinear sampling of any pixel: neighbours outside the source count as `fill`.
fn bilinear_bordered<const C: usize>(src: &Image, fill: u8, px: &mut [u8; C], sx: i64, sy: i64) {
    let (wl, hl) = (i64::from(src.width) - 1, i64::from(src.height) - 1);
    let (x0, y0) = (sx >> ROT_FRAC, sy >> ROT_FRAC);
    if x0 < -1 || y0 < -1 || x0 > wl || y0 > hl {
        px.fill(fill);
        return;
    }
    let (ax, ay) = (weight(sx), weight(sy));
    let stride = src.width as usize * C;
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
}

/// Bilinear rotation: the bordered rule before and after the run of pixels whose four
/// neighbours all lie inside; on that run, branch-free, the two neighbours of a source row are
/// the `2·C` bytes at the pixel.
fn rotate_bilinear<const C: usize>(src: &Image, map: &SourceMap, fill: u8, out: &mut [u8]) {
    let (w, h) = (src.width as usize, src.height as usize);
    let stride = w * C;
    let max = (
        ((w as i64 - 1) << ROT_FRAC) - 1,
        ((h as i64 - 1) << ROT_FRAC) - 1,
    );
    for (y, row) in out.chunks_exact_mut(stride).enumerate() {
        let start = map.row_start(y);
        let pixels = row.as_chunks_mut::<C>().0;
        let (lo, hi) = map.inner_run(start, 0, max, pixels.len());
        let at = |x: usize| {
            (
                start.0 + x as i64 * map.step_x,
                start.1 + x as i64 * map.step_y,
            )
        };
        let (head, rest) = pixels.split_at_mut(lo);
        let (run, tail) = rest.split_at_mut(hi - lo);
        for (x, px) in head.iter_mut().enumerate() {
            let (sx, sy) = at(x);
            bilinear_bordered(src, fill, px, sx, sy);
        }
        let (mut sx, mut sy) = at(lo);
        for px in run {
            let i = (sy >> ROT_FRAC) as usize * stride + (sx >> ROT_FRAC) as usize * C;
            let (ax, ay) = (weight(sx), weight(sy));
            let top = &src.data[i..i + 2 * C];
            let bot = &src.data[i + stride..i + stride + 2 * C];
            for c in 0..C {
                px[c] = lerp(top[c], top[C + c], bot[c], bot[C + c], ax, ay);
            }
            sx += map.step_x;
            sy += map.step_y;
        }
        for (x, px) in tail.iter_mut().enumerate() {
            let (sx, sy) = at(hi + x);
            bilinear_bordered(src, fill, px, sx, sy);
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
}
