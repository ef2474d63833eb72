//! Resizes and torchvision's random resized crop box (one fast_image_resize call each).

use fast_image_resize::{self as fr, ResizeAlg, ResizeOptions, Resizer};
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
