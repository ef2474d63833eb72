//! The transform chain: a [`Chain`] is the compiled, validated list of transforms of one split
//! (geometric ops from [`crate::geometry`], colour ops from [`crate::color`]) followed by the
//! normalization to `f32` CHW.
//!
//! [`min_decode_size`] (`decode_size`) is the smallest decoded image a chain takes, for
//! `data.decode_scale = "auto"`.
//!
//! Images stay 8-bit HWC until the final normalization; per-worker buffers (the resizer, two
//! spare images) are reused through [`Scratch`], so a sample allocates nothing but its output.

use fast_image_resize::Resizer;
use rand::Rng;

use crate::color::{ColorJitter, normalize_into};
use crate::config::{PaddingMode, TransformSpec};
use crate::decode::{Image, MinDecodeSize};
use crate::error::{Error, Result};
use crate::geometry::{
    Pad, Rotate, crop_into, hflip, random_resized_crop_box, resize_into, rotate_into, vflip,
};

mod decode_size;
pub use decode_size::min_decode_size;

/// Per-worker reusable state: the resizer and spare image buffers.
#[derive(Default)]
pub struct Scratch {
    resizer: Resizer,
    spare: Vec<Image>,
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

    /// Keeps `img` as a spare buffer for a later transform to reuse (two at most: a chain step
    /// reads one image and writes another).
    fn stock(&mut self, img: Image) {
        if self.spare.len() < 2 {
            self.spare.push(img);
        }
    }

    fn take_spare(&mut self) -> Image {
        self.spare
            .pop()
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
    min_decode: Option<MinDecodeSize>,
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
        let min_decode = min_decode_size(&specs);
        Ok(Chain {
            specs,
            channels,
            scale,
            offset,
            out_size,
            min_decode,
        })
    }

    /// The transforms, in order.
    pub fn specs(&self) -> &[TransformSpec] {
        &self.specs
    }

    /// The smallest decoded image this chain takes without upsampling where a full-size decode
    /// would not (what `data.decode_scale = "auto"` may reduce a large JPEG to); none: full
    /// size. See [`min_decode_size`].
    pub fn min_decode_size(&self) -> Option<&MinDecodeSize> {
        self.min_decode.as_ref()
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
        // A colour jitter that ends the chain is applied together with the normalization.
        let mut last_jitter: Option<ColorJitter> = None;
        // A horizontal flip right before a rotation is done by the rotation.
        let mut mirror = false;
        for (index, spec) in self.specs.iter().enumerate() {
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
                TransformSpec::Rotation {
                    degrees,
                    interpolation,
                    fill,
                } => {
                    let angle = if degrees > 0.0 {
                        rng.random_range(-degrees..=degrees)
                    } else {
                        0.0
                    };
                    let rotate = Rotate {
                        degrees: angle,
                        interpolation,
                        fill,
                        mirror: std::mem::take(&mut mirror),
                    };
                    rotate_into(cur, &rotate, &mut dst);
                    Some(dst)
                }
                TransformSpec::Hflip { p } | TransformSpec::Vflip { p } => {
                    let flip = rng.random::<f32>() < p;
                    scratch.stock(dst);
                    let horizontal = matches!(spec, TransformSpec::Hflip { .. });
                    if flip
                        && horizontal
                        && matches!(
                            self.specs.get(index + 1),
                            Some(TransformSpec::Rotation { .. })
                        )
                    {
                        // The rotation samples the source mirrored: no separate pass.
                        mirror = true;
                    } else if flip {
                        let img = owned.get_or_insert_with(|| input.clone());
                        if horizontal { hflip(img) } else { vflip(img) }
                    }
                    None
                }
                TransformSpec::ColorJitter {
                    brightness,
                    contrast,
                    saturation,
                    hue,
                } => {
                    scratch.stock(dst);
                    let jitter = ColorJitter::sample(brightness, contrast, saturation, hue, rng);
                    if index + 1 == self.specs.len() {
                        last_jitter = Some(jitter);
                    } else {
                        jitter.apply(owned.get_or_insert_with(|| input.clone()));
                    }
                    None
                }
            };
            if let Some(new) = produced
                && let Some(old) = owned.replace(new)
            {
                scratch.stock(old);
            }
        }
        let cur = owned.as_ref().unwrap_or(input);
        match last_jitter {
            Some(jitter) => jitter.apply_normalized(cur, &self.scale, &self.offset, out),
            None => normalize_into(cur, &self.scale, &self.offset, out),
        }
        if let Some(img) = owned {
            scratch.stock(img);
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
pub(crate) fn resize_target(
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

#[cfg(test)]
mod tests;
