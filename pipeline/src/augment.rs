//! Augmentation presets and the resolution of `[transforms]` into the training and evaluation
//! chains of a data set (the normalization values are in `normalize`).

use crate::config::{Augment, DEFAULT_FOLDER_IMAGE_SIZE, TransformSpec, TransformsConfig};
use crate::source::Dataset;

/// Images up to this side get the small-image preset (random crop with padding + flip).
pub const SMALL_IMAGE_MAX_SIDE: u32 = 64;
/// Padding of the small-image preset's random crop, in pixels.
pub const STANDARD_SMALL_PADDING: u32 = 2;
/// Largest rotation of the large-image preset, in degrees.
pub const STANDARD_ROTATION_DEGREES: f32 = 15.0;
/// Brightness/contrast/saturation spread of the large-image preset's colour jitter.
pub const STANDARD_JITTER: f32 = 0.2;

/// The output side for `dataset`: `transforms.size`, else the native size (IDX), else
/// [`DEFAULT_FOLDER_IMAGE_SIZE`].
pub fn output_side(transforms: &TransformsConfig, dataset: &Dataset) -> u32 {
    transforms
        .size
        .or_else(|| {
            dataset
                .native_size()
                .filter(|(w, h)| w == h)
                .map(|(w, _)| w)
        })
        .unwrap_or(DEFAULT_FOLDER_IMAGE_SIZE)
}

/// The deterministic evaluation chain: `transforms.eval` if given; else nothing when the native
/// size already is `side`, an exact resize for other fixed-size sources, and for image files
/// resize the shorter side to `side·256/224` then center crop `side` (torchvision's recipe).
pub fn eval_chain(transforms: &TransformsConfig, dataset: &Dataset) -> Vec<TransformSpec> {
    if !transforms.eval.is_empty() {
        return transforms.eval.clone();
    }
    let side = output_side(transforms, dataset);
    match dataset.native_size() {
        Some((w, h)) if w == side && h == side => Vec::new(),
        Some(_) => vec![TransformSpec::Resize {
            size: None,
            width: Some(side),
            height: Some(side),
            filter: Default::default(),
        }],
        None => vec![
            TransformSpec::Resize {
                size: Some((side * 256).div_ceil(224)),
                width: None,
                height: None,
                filter: Default::default(),
            },
            TransformSpec::CenterCrop { size: side },
        ],
    }
}

/// The training chain: the evaluation chain for `none`, the `train` list for `custom`, and for
/// `standard`: small images (side ≤ 64) get `random_crop(size, padding = 2)` + `hflip`, larger
/// ones `random_resized_crop(size)` + `hflip` + `rotation(15)` + `color_jitter(0.2, 0.2, 0.2)`.
pub fn train_chain(transforms: &TransformsConfig, dataset: &Dataset) -> Vec<TransformSpec> {
    let side = output_side(transforms, dataset);
    match transforms.augment {
        Augment::None => eval_chain(transforms, dataset),
        Augment::Custom => transforms.train.clone(),
        Augment::Standard if side <= SMALL_IMAGE_MAX_SIDE => {
            let mut chain: Vec<TransformSpec> = eval_chain(transforms, dataset)
                .into_iter()
                .filter(|t| !matches!(t, TransformSpec::CenterCrop { .. }))
                .collect();
            if dataset.native_size().is_none() && chain.is_empty() {
                chain.push(TransformSpec::Resize {
                    size: None,
                    width: Some(side),
                    height: Some(side),
                    filter: Default::default(),
                });
            }
            chain.push(TransformSpec::RandomCrop {
                size: side,
                padding: STANDARD_SMALL_PADDING,
                padding_mode: Default::default(),
                fill: 0,
            });
            chain.push(TransformSpec::Hflip { p: 0.5 });
            chain
        }
        Augment::Standard => vec![
            TransformSpec::RandomResizedCrop {
                size: side,
                scale: crate::config::DEFAULT_RRC_SCALE,
                ratio: crate::config::DEFAULT_RRC_RATIO,
                filter: Default::default(),
            },
            TransformSpec::Hflip { p: 0.5 },
            TransformSpec::Rotation {
                degrees: STANDARD_ROTATION_DEGREES,
                interpolation: Default::default(),
                fill: 0,
            },
            TransformSpec::ColorJitter {
                brightness: STANDARD_JITTER,
                contrast: STANDARD_JITTER,
                saturation: if dataset.channels() == 3 {
                    STANDARD_JITTER
                } else {
                    0.0
                },
                hue: 0.0,
            },
        ],
    }
}
