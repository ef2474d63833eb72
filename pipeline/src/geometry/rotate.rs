//! Rotation about the center, nearest or bilinear, of the image or of its mirror image
//! (incremental fixed-point source coordinates, const-generic channel loops; RGB runs, nearest
//! and bilinear, in AVX-512 VBMI (`rotate_vbmi`) where the CPU has it, bilinear ones else in
//! AVX2 or SSSE3 (`rotate_avx2`)).

use crate::config::Interpolation;
use crate::decode::Image;

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
pub(super) const ROT_FRAC: u32 = 16;

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
        // Inside is where both coordinates are: the intersection of two intervals, so every
        // pixel before or after it samples outside.
        head.as_flattened_mut().fill(fill);
        tail.as_flattened_mut().fill(fill);
        let at = (
            start.0 + half + lo as i64 * map.step_x,
            start.1 + half + lo as i64 * map.step_y,
        );
        let step = (map.step_x, map.step_y);
        #[cfg(target_arch = "x86_64")]
        if C == 3 && super::rotate_vbmi::has_vbmi() {
            #[allow(unsafe_code)]
            // SAFETY: the CPU has every target feature `nearest_rgb_run_vbmi` enables.
            unsafe {
                super::rotate_vbmi::nearest_rgb_run_vbmi(
                    &src.data,
                    stride,
                    inner.as_flattened_mut(),
                    at,
                    step,
                );
            }
            continue;
        }
        nearest_run::<C>(&src.data, stride, inner, at, step);
    }
}

/// Nearest samples along a run: each the pixel at the floor of its coordinates (which the
/// caller offset by one half), all inside `data` (rows of `stride` bytes).
pub(super) fn nearest_run<const C: usize>(
    data: &[u8],
    stride: usize,
    run: &mut [[u8; C]],
    (mut sx, mut sy): (i64, i64),
    (step_x, step_y): (i64, i64),
) {
    for px in run {
        let i = (sy >> ROT_FRAC) as usize * stride + (sx >> ROT_FRAC) as usize * C;
        px.copy_from_slice(&data[i..i + C]);
        sx += step_x;
        sy += step_y;
    }
}

/// The bilinear weight (0..=255, of 256) of the right or lower neighbour at a coordinate.
pub(super) fn weight(v: i64) -> u32 {
    ((v >> (ROT_FRAC - 8)) & 0xFF) as u32
}

/// Bilinear value of one channel from its four neighbours: exact integer
/// `Σ p·wx·wy / 65536`, rounded.
pub(super) fn lerp(tl: u8, tr: u8, bl: u8, br: u8, ax: u32, ay: u32) -> u8 {
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

/// Bilinear rotation: `fill` where no neighbour lies inside, the bordered rule where some do,
/// and on the run of pixels whose four neighbours all lie inside, branch-free, the two
/// neighbours of a source row are the `2·C` bytes at the pixel. Each of these is an interval
/// of a row (coordinates are linear in x), the inner one within the outer.
fn rotate_bilinear<const C: usize>(src: &Image, map: &SourceMap, fill: u8, out: &mut [u8]) {
    let (w, h) = (src.width as usize, src.height as usize);
    let stride = w * C;
    let one = 1i64 << ROT_FRAC;
    // All four neighbours inside: 0 <= coordinate < (size - 1)·one.
    let inner = (
        ((w as i64 - 1) << ROT_FRAC) - 1,
        ((h as i64 - 1) << ROT_FRAC) - 1,
    );
    // Some neighbour inside: -one <= coordinate < size·one, shifted by `one` to start at 0.
    let touching = (
        ((w as i64 + 1) << ROT_FRAC) - 1,
        ((h as i64 + 1) << ROT_FRAC) - 1,
    );
    for (y, row) in out.chunks_exact_mut(stride).enumerate() {
        let start = map.row_start(y);
        let pixels = row.as_chunks_mut::<C>().0;
        let (near_lo, near_hi) = map.inner_run(start, one, touching, pixels.len());
        let (lo, hi) = map.inner_run(start, 0, inner, pixels.len());
        let lo = lo.clamp(near_lo, near_hi);
        let hi = hi.clamp(lo, near_hi);
        let at = |x: usize| {
            (
                start.0 + x as i64 * map.step_x,
                start.1 + x as i64 * map.step_y,
            )
        };
        let (outside, rest) = pixels.split_at_mut(near_lo);
        let (near, outside_after) = rest.split_at_mut(near_hi - near_lo);
        outside.as_flattened_mut().fill(fill);
        outside_after.as_flattened_mut().fill(fill);
        let (head, rest) = near.split_at_mut(lo - near_lo);
        let (run, tail) = rest.split_at_mut(hi - lo);
        for (x, px) in head.iter_mut().enumerate() {
            let (sx, sy) = at(near_lo + x);
            bilinear_bordered(src, fill, px, sx, sy);
        }
        let (sx, sy) = at(lo);
        let step = (map.step_x, map.step_y);
        if C == 3 {
            lerp_rgb_run(&src.data, stride, run.as_flattened_mut(), (sx, sy), step);
        } else {
            lerp_run::<C>(&src.data, stride, run, (sx, sy), step);
        }
        for (x, px) in tail.iter_mut().enumerate() {
            let (sx, sy) = at(hi + x);
            bilinear_bordered(src, fill, px, sx, sy);
        }
    }
}

/// Bilinear samples along a run whose four neighbours all lie inside `data` (rows of
/// `stride` bytes): the two neighbours of a source row are the `2·C` bytes at the pixel.
pub(super) fn lerp_run<const C: usize>(
    data: &[u8],
    stride: usize,
    run: &mut [[u8; C]],
    (mut sx, mut sy): (i64, i64),
    (step_x, step_y): (i64, i64),
) {
    for px in run {
        let i = (sy >> ROT_FRAC) as usize * stride + (sx >> ROT_FRAC) as usize * C;
        lerp_pixel(data, stride, i, (weight(sx), weight(sy)), px);
        sx += step_x;
        sy += step_y;
    }
}

/// One bilinear sample whose top-left neighbour is the byte `i` of `data` (rows of `stride`
/// bytes): the two neighbours of a source row are the `2·C` bytes there.
pub(super) fn lerp_pixel<const C: usize>(
    data: &[u8],
    stride: usize,
    i: usize,
    (ax, ay): (u32, u32),
    px: &mut [u8; C],
) {
    let top = &data[i..i + 2 * C];
    let bot = &data[i + stride..i + stride + 2 * C];
    for c in 0..C {
        px[c] = lerp(top[c], top[C + c], bot[c], bot[C + c], ax, ay);
    }
}

/// [`lerp_run`] for 3 channels, `run` the RGB bytes: with AVX-512 VBMI, eight pixels a pass
/// picked out of their source rows by byte permutes for rotations up to about 16°
/// ([`super::rotate_vbmi`], the AVX2 path otherwise); with AVX2, eight pixels a pass of
/// 32-byte operations; with SSSE3 (x86-64 CPUs since 2006), one pixel a pass of
/// 16-byte operations; else [`lerp_run`]. The same bytes every way.
pub(super) fn lerp_rgb_run(
    data: &[u8],
    stride: usize,
    run: &mut [u8],
    at: (i64, i64),
    step: (i64, i64),
) {
    #[cfg(target_arch = "x86_64")]
    if super::rotate_vbmi::has_vbmi() {
        #[allow(unsafe_code)]
        // SAFETY: the CPU has every target feature `lerp_rgb_run_vbmi` enables.
        unsafe {
            super::rotate_vbmi::lerp_rgb_run_vbmi(data, stride, run, at, step);
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[allow(unsafe_code)]
        // SAFETY: the CPU has AVX2, the one target feature `lerp_rgb_run_avx2` enables.
        unsafe {
            super::rotate_avx2::lerp_rgb_run_avx2(data, stride, run, at, step);
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("ssse3") {
        #[allow(unsafe_code)]
        // SAFETY: the CPU has SSSE3, the one target feature `lerp_rgb_run_ssse3` enables.
        unsafe {
            super::rotate_avx2::lerp_rgb_run_ssse3(data, stride, run, at, step);
        }
        return;
    }
    lerp_run::<3>(data, stride, run.as_chunks_mut::<3>().0, at, step);
}

/// The half-open range of `x` in `0..n` where `lo <= v0 + x·step <= hi`, as `(start, end)`
/// (empty: `start == end`).
pub(super) fn linear_range(v0: i64, step: i64, lo: i64, hi: i64, n: i64) -> (i64, i64) {
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
