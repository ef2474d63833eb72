//! Transforms on 8-bit images (HWC): resize, crops, flips, rotation, color jitter; and the
//! final normalization to `f32` CHW. A [`Chain`] is the compiled, validated list for one split.
//!
//! Every loop works on whole rows or on const-generic channel counts so the compiler can
//! vectorize; no per-pixel allocation; per-worker buffers are reused through [`Scratch`].
//!
//! Colour jitter composes brightness, contrast, saturation and hue (in a random order) into one
//! affine colour map applied in a single pass, clamped once at the end (torchvision clamps after
//! every step; the results differ only where an intermediate value left [0, 255]). Hue is a
//! rotation of the chroma plane in YIQ space by `hue × 360°`, a 3×3 matrix (no per-pixel
//! trigonometry or HSV round trip); it approximates torchvision's HSV hue shift.

use fast_image_resize::{self as fr, PixelType, ResizeAlg, ResizeOptions, Resizer};
use rand::Rng;
use rand::seq::SliceRandom;

use crate::config::{Filter, PaddingMode, TransformSpec};
use crate::decode::Image;
use crate::error::{Error, Result};

/// Per-worker reusable state: the resizer and a spare image buffer.
#[derive(Default)]
pub struct Scratch {
    resizer: Resizer,
    spare: Option<Image>,
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scratch").finish_non_exhaustive()
    }
}

impl Scratch {
    /// A fresh scratch space.
    pub fn new() -> Scratch {
        Scratch::default()
    }

    fn take_spare(&mut self) -> Image {
        self.spare
            .take()
            .unwrap_or_else(|| Image::filled(0, 0, 1, 0))
    }
}

/// A compiled transform chain: geometric and colour ops, then normalization to CHW `f32`.
#[derive(Debug, Clone)]
pub struct Chain {
    specs: Vec<TransformSpec>,
    channels: u8,
    /// Per-channel `1 / (255·std)`.
    scale: Vec<f32>,
    /// Per-channel `-mean / std`.
    offset: Vec<f32>,
    out_size: (u32, u32),
}

impl Chain {
    /// Compiles `specs` for images of `channels` channels, normalized by per-channel `mean` and
    /// `std` (in [0, 1] units; one value is used for every channel). `input_size` is the size
    /// every input has, if fixed. `key` names the chain in errors.
    ///
    /// Errors: a parameter out of range, or a chain whose output size depends on its input.
    pub fn new(
        specs: Vec<TransformSpec>,
        channels: u8,
        mean: &[f32],
        std: &[f32],
        input_size: Option<(u32, u32)>,
        key: &str,
    ) -> Result<Chain> {
        for (i, s) in specs.iter().enumerate() {
            s.validate(&format!("{key}[{i}]"))?;
        }
        let out_size = output_size(&specs, input_size).ok_or_else(|| {
            Error::config(
                key,
                "the output size depends on the input image: end the chain with center_crop, \
                 random_crop, random_resized_crop or resize(width, height)",
            )
        })?;
        let per_channel = |v: &[f32], c: usize| if v.len() == 1 { v[0] } else { v[c] };
        if mean.is_empty() || std.is_empty() || (mean.len() != 1 && mean.len() != channels as usize)
        {
            return Err(Error::config(
                "transforms.normalize",
                format!("{} mean values for {channels}-channel images", mean.len()),
            ));
        }
        let (mut scale, mut offset) = (Vec::new(), Vec::new());
        for c in 0..channels as usize {
            let (m, s) = (per_channel(mean, c), per_channel(std, c.min(std.len() - 1)));
            scale.push(1.0 / (255.0 * s));
            offset.push(-m / s);
        }
        Ok(Chain {
            specs,
            channels,
            scale,
            offset,
            out_size,
        })
    }

    /// The transforms, in order.
    pub fn specs(&self) -> &[TransformSpec] {
        &self.specs
    }

    /// Output shape `[C, H, W]`.
    pub fn shape(&self) -> [usize; 3] {
        [
            self.channels as usize,
            self.out_size.1 as usize,
            self.out_size.0 as usize,
        ]
    }

    /// Floats per output sample (C·H·W).
    pub fn sample_len(&self) -> usize {
        self.shape().iter().product()
    }

    /// Runs the chain on `input`, drawing random choices from `rng`, and writes the normalized
    /// CHW result into `out` (`sample_len()` floats).
    pub fn apply<R: Rng>(
        &self,
        input: &Image,
        rng: &mut R,
        scratch: &mut Scratch,
        out: &mut [f32],
    ) -> Result<()> {
        let mut owned: Option<Image> = None;
        for spec in &self.specs {
            let cur: &Image = owned.as_ref().unwrap_or(input);
            let mut dst = scratch.take_spare();
            let produced: Option<Image> = match *spec {
                TransformSpec::Resize {
                    size,
                    width,
                    height,
                    filter,
                } => {
                    let (w, h) = resize_target(cur.width, cur.height, size, width, height);
                    resize_into(cur, None, w, h, filter, &mut scratch.resizer, &mut dst)?;
                    Some(dst)
                }
                TransformSpec::CenterCrop { size } => {
                    let x0 = (i64::from(cur.width) - i64::from(size)) / 2;
                    let y0 = (i64::from(cur.height) - i64::from(size)) / 2;
                    crop_into(cur, x0, y0, size, size, Pad::Constant(0), &mut dst);
                    Some(dst)
                }
                TransformSpec::RandomResizedCrop {
                    size,
                    scale,
                    ratio,
                    filter,
                } => {
                    let b = random_resized_crop_box(cur.width, cur.height, scale, ratio, rng);
                    resize_into(
                        cur,
                        Some(b),
                        size,
                        size,
                        filter,
                        &mut scratch.resizer,
                        &mut dst,
                    )?;
                    Some(dst)
                }
                TransformSpec::RandomCrop {
                    size,
                    padding,
                    padding_mode,
                    fill,
                } => {
                    let (pw, ph) = (
                        i64::from(cur.width + 2 * padding),
                        i64::from(cur.height + 2 * padding),
                    );
                    let s = i64::from(size);
                    let x0 = if pw > s {
                        rng.random_range(0..=pw - s)
                    } else {
                        (pw - s) / 2
                    } - i64::from(padding);
                    let y0 = if ph > s {
                        rng.random_range(0..=ph - s)
                    } else {
                        (ph - s) / 2
                    } - i64::from(padding);
                    let pad = match padding_mode {
                        PaddingMode::Constant => Pad::Constant(fill),
                        PaddingMode::Reflect => Pad::Reflect,
                    };
                    crop_into(cur, x0, y0, size, size, pad, &mut dst);
                    Some(dst)
                }
                TransformSpec::Rotation { degrees, fill } => {
                    let angle = if degrees > 0.0 {
                        rng.random_range(-degrees..=degrees)
                    } else {
                        0.0
                    };
                    rotate_into(cur, angle, fill, &mut dst);
                    Some(dst)
                }
                TransformSpec::Hflip { p } | TransformSpec::Vflip { p } => {
                    let flip = rng.random::<f32>() < p;
                    scratch.spare = Some(dst);
                    if flip {
                        let img = owned.get_or_insert_with(|| input.clone());
                        if matches!(spec, TransformSpec::Hflip { .. }) {
                            hflip(img)
                        } else {
                            vflip(img)
                        }
                    }
                    None
                }
                TransformSpec::ColorJitter {
                    brightness,
                    contrast,
                    saturation,
                    hue,
                } => {
                    scratch.spare = Some(dst);
                    let jitter = ColorJitter::sample(brightness, contrast, saturation, hue, rng);
                    let img = owned.get_or_insert_with(|| input.clone());
                    jitter.apply(img);
                    None
                }
            };
            if let Some(new) = produced
                && let Some(old) = owned.replace(new)
            {
                scratch.spare = Some(old);
            }
        }
        let cur = owned.as_ref().unwrap_or(input);
        normalize_into(cur, &self.scale, &self.offset, out);
        if let Some(img) = owned {
            scratch.spare = Some(img);
        }
        Ok(())
    }
}

/// The output size of `specs` on inputs of `input` size; none when it depends on the input.
pub fn output_size(specs: &[TransformSpec], input: Option<(u32, u32)>) -> Option<(u32, u32)> {
    let mut size = input;
    for spec in specs {
        size = match *spec {
            TransformSpec::Resize {
                size: s,
                width,
                height,
                ..
            } => match (width, height) {
                (Some(w), Some(h)) => Some((w, h)),
                _ => size.map(|(w, h)| resize_target(w, h, s, None, None)),
            },
            TransformSpec::CenterCrop { size: s }
            | TransformSpec::RandomResizedCrop { size: s, .. }
            | TransformSpec::RandomCrop { size: s, .. } => Some((s, s)),
            _ => size,
        };
    }
    size
}

/// Target of a resize: exact `width`×`height`, or shorter side = `size` with the aspect kept
/// (the longer side truncated as torchvision does).
fn resize_target(
    w: u32,
    h: u32,
    size: Option<u32>,
    width: Option<u32>,
    height: Option<u32>,
) -> (u32, u32) {
    match (width, height, size) {
        (Some(w), Some(h), _) => (w, h),
        (_, _, Some(s)) if w <= h => (
            s,
            ((u64::from(s) * u64::from(h)) / u64::from(w.max(1))).max(1) as u32,
        ),
        (_, _, Some(s)) => (
            ((u64::from(s) * u64::from(w)) / u64::from(h.max(1))).max(1) as u32,
            s,
        ),
        _ => (w, h),
    }
}

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

fn rotate_impl<const C: usize>(src: &Image, degrees: f32, fill: u8, out: &mut [u8]) {
    let (w, h) = (src.width as usize, src.height as usize);
    if w == 0 || h == 0 {
        return;
    }
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (cx, cy) = (w as f32 * 0.5, h as f32 * 0.5);
    let stride = w * C;
    let fillf = f32::from(fill);
    let (wl, hl) = (w as i64 - 1, h as i64 - 1);
    for (y, row) in out.chunks_exact_mut(stride).enumerate() {
        let dy = y as f32 + 0.5 - cy;
        // Source position of x = 0 in this row; steps by (cos, sin) per output pixel.
        let dx0 = 0.5 - cx;
        let mut sx = dx0 * cos - dy * sin + cx - 0.5;
        let mut sy = dx0 * sin + dy * cos + cy - 0.5;
        for px in row.as_chunks_mut::<C>().0 {
            let fx0 = sx.floor();
            let fy0 = sy.floor();
            let (ax, ay) = (sx - fx0, sy - fy0);
            let (x0, y0) = (fx0 as i64, fy0 as i64);
            if x0 >= 0 && y0 >= 0 && x0 < wl && y0 < hl {
                let i = y0 as usize * stride + x0 as usize * C;
                let top = &src.data[i..i + 2 * C];
                let bot = &src.data[i + stride..i + stride + 2 * C];
                for c in 0..C {
                    let t = f32::from(top[c]) + (f32::from(top[C + c]) - f32::from(top[c])) * ax;
                    let b = f32::from(bot[c]) + (f32::from(bot[C + c]) - f32::from(bot[c])) * ax;
                    px[c] = (t + (b - t) * ay + 0.5) as u8;
                }
            } else if x0 < -1 || y0 < -1 || x0 > wl || y0 > hl {
                px.fill(fill);
            } else {
                // Border: neighbours outside the source count as `fill`.
                let get = |x: i64, y: i64, c: usize| -> f32 {
                    if x < 0 || y < 0 || x > wl || y > hl {
                        fillf
                    } else {
                        f32::from(src.data[y as usize * stride + x as usize * C + c])
                    }
                };
                for c in 0..C {
                    let t = get(x0, y0, c) + (get(x0 + 1, y0, c) - get(x0, y0, c)) * ax;
                    let b = get(x0, y0 + 1, c) + (get(x0 + 1, y0 + 1, c) - get(x0, y0 + 1, c)) * ax;
                    px[c] = (t + (b - t) * ay + 0.5).clamp(0.0, 255.0) as u8;
                }
            }
            sx += cos;
            sy += sin;
        }
    }
}

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
        let c = img.channels as usize;
        let n = (img.width as usize * img.height as usize).max(1);
        // Mean colour of the input, for contrast (mean of gray is linear in it).
        let mut sums = [0u64; 3];
        for px in img.data.chunks_exact(c) {
            for (s, &v) in sums.iter_mut().zip(px) {
                *s += u64::from(v);
            }
        }
        let mean_in: Vec<f32> = sums[..c].iter().map(|&s| s as f32 / n as f32).collect();
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
        if c == 1 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DEFAULT_RRC_RATIO, DEFAULT_RRC_SCALE};
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn gray(w: u32, h: u32) -> Image {
        Image {
            width: w,
            height: h,
            channels: 1,
            data: (0..w * h).map(|i| i as u8).collect(),
        }
    }

    fn rgb(w: u32, h: u32) -> Image {
        Image {
            width: w,
            height: h,
            channels: 3,
            data: (0..w * h * 3).map(|i| (i * 7 % 256) as u8).collect(),
        }
    }

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
    fn center_crop_chain_is_exact_and_normalize_is_exact() {
        let g = gray(4, 4);
        let chain = Chain::new(
            vec![TransformSpec::CenterCrop { size: 2 }],
            1,
            &[0.5],
            &[0.25],
            None,
            "t",
        )
        .unwrap();
        assert_eq!(chain.shape(), [1, 2, 2]);
        let mut out = vec![0.0; 4];
        chain
            .apply(
                &g,
                &mut ChaCha8Rng::seed_from_u64(0),
                &mut Scratch::new(),
                &mut out,
            )
            .unwrap();
        let expect: Vec<f32> = [5u8, 6, 9, 10]
            .iter()
            .map(|&v| (f32::from(v) / 255.0 - 0.5) / 0.25)
            .collect();
        for (a, b) in out.iter().zip(&expect) {
            assert!((a - b).abs() < 1e-5, "{out:?} vs {expect:?}");
        }
    }

    #[test]
    fn normalize_writes_chw_exactly() {
        let img = Image {
            width: 2,
            height: 1,
            channels: 3,
            data: vec![0, 51, 255, 255, 102, 0],
        };
        let mean = [0.0, 0.2, 0.5];
        let std = [1.0, 0.5, 0.5];
        let chain = Chain::new(Vec::new(), 3, &mean, &std, Some((2, 1)), "t").unwrap();
        let mut out = vec![0.0; 6];
        chain
            .apply(
                &img,
                &mut ChaCha8Rng::seed_from_u64(0),
                &mut Scratch::new(),
                &mut out,
            )
            .unwrap();
        let expect = [0.0, 1.0, (0.2 - 0.2) / 0.5, (0.4 - 0.2) / 0.5, 1.0, -1.0];
        for (a, b) in out.iter().zip(expect) {
            assert!((a - b).abs() < 1e-6, "{out:?}");
        }
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
    fn variable_output_chain_is_rejected() {
        let e = Chain::new(
            vec![TransformSpec::Hflip { p: 0.5 }],
            3,
            &[0.0],
            &[1.0],
            None,
            "transforms.train",
        )
        .unwrap_err();
        assert!(e.to_string().contains("transforms.train"), "{e}");
    }

    fn any_spec() -> impl Strategy<Value = TransformSpec> {
        prop_oneof![
            (1..64u32).prop_map(|s| TransformSpec::Resize {
                size: Some(s),
                width: None,
                height: None,
                filter: Filter::Bilinear
            }),
            (1..64u32, 1..64u32).prop_map(|(w, h)| TransformSpec::Resize {
                size: None,
                width: Some(w),
                height: Some(h),
                filter: Filter::Lanczos3
            }),
            (1..64u32).prop_map(|s| TransformSpec::CenterCrop { size: s }),
            (1..64u32).prop_map(|s| TransformSpec::RandomResizedCrop {
                size: s,
                scale: DEFAULT_RRC_SCALE,
                ratio: DEFAULT_RRC_RATIO,
                filter: Filter::Bilinear
            }),
            (1..64u32, 0..6u32, any::<bool>()).prop_map(|(s, p, r)| TransformSpec::RandomCrop {
                size: s,
                padding: p,
                padding_mode: if r {
                    PaddingMode::Reflect
                } else {
                    PaddingMode::Constant
                },
                fill: 3
            }),
            (0.0..=1.0f32).prop_map(|p| TransformSpec::Hflip { p }),
            (0.0..=1.0f32).prop_map(|p| TransformSpec::Vflip { p }),
            (0.0..=180.0f32).prop_map(|d| TransformSpec::Rotation {
                degrees: d,
                fill: 0
            }),
            (0.0..2.0f32, 0.0..2.0f32, 0.0..2.0f32, 0.0..0.5f32).prop_map(|(b, c, s, h)| {
                TransformSpec::ColorJitter {
                    brightness: b,
                    contrast: c,
                    saturation: s,
                    hue: h,
                }
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn every_transform_keeps_shape_and_range(
            w in 1..48u32, h in 1..48u32, gray_img in any::<bool>(),
            specs in proptest::collection::vec(any_spec(), 0..4), final_side in 1..40u32, seed in any::<u64>(),
        ) {
            let img = if gray_img { gray(w, h) } else { rgb(w, h) };
            let mut specs = specs;
            specs.push(TransformSpec::CenterCrop { size: final_side });
            let c = img.channels;
            let chain = Chain::new(specs, c, &[0.25], &[0.5], Some((w, h)), "t").unwrap();
            prop_assert_eq!(chain.shape(), [c as usize, final_side as usize, final_side as usize]);
            let mut out = vec![f32::NAN; chain.sample_len()];
            chain.apply(&img, &mut ChaCha8Rng::seed_from_u64(seed), &mut Scratch::new(), &mut out).unwrap();
            let (lo, hi) = ((0.0 - 0.25) / 0.5 - 1e-5, (1.0 - 0.25) / 0.5 + 1e-5);
            prop_assert!(out.iter().all(|v| v.is_finite() && *v >= lo && *v <= hi));
            // Deterministic in the RNG.
            let mut again = vec![0.0; chain.sample_len()];
            chain.apply(&img, &mut ChaCha8Rng::seed_from_u64(seed), &mut Scratch::new(), &mut again).unwrap();
            prop_assert_eq!(out, again);
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
