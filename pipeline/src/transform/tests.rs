//! Chain tests: output shapes, value ranges, determinism per seed, against the single ops.

use super::*;
use crate::config::{DEFAULT_RRC_RATIO, DEFAULT_RRC_SCALE, Filter, Interpolation};
use crate::fixtures::{gray, rgb};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

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
fn a_flip_right_before_a_rotation_is_done_by_the_rotation() {
    let img = rgb(9, 7);
    let flip = TransformSpec::Hflip { p: 1.0 };
    for interpolation in [Interpolation::Nearest, Interpolation::Bilinear] {
        let rotation = TransformSpec::Rotation {
            degrees: 20.0,
            interpolation,
            fill: 0,
        };
        let chain = Chain::new(
            vec![flip.clone(), rotation],
            3,
            &[0.0],
            &[1.0],
            Some((9, 7)),
            "t",
        )
        .unwrap();
        let mut out = vec![0.0; chain.sample_len()];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        chain
            .apply(&img, &mut rng, &mut Scratch::new(), &mut out)
            .unwrap();
        // The chain's draws: the flip, then the angle.
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let _flip: f32 = rng.random();
        let angle = rng.random_range(-20.0..=20.0f32);
        let rotate = |src: &Image, mirror| {
            let mut dst = Image::filled(0, 0, 3, 0);
            let r = Rotate {
                degrees: angle,
                interpolation,
                fill: 0,
                mirror,
            };
            rotate_into(src, &r, &mut dst);
            let mut floats = vec![0.0; chain.sample_len()];
            normalize_into(&dst, &chain.scale, &chain.offset, &mut floats);
            floats
        };
        // One mirrored rotation of the input, not a flip pass and then a rotation.
        assert_eq!(out, rotate(&img, true), "{interpolation:?}");
        let mut flipped = img.clone();
        hflip(&mut flipped);
        if interpolation == Interpolation::Bilinear {
            assert_ne!(out, rotate(&flipped, false));
        }
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
        (0.0..=180.0f32, any::<bool>()).prop_map(|(d, nearest)| TransformSpec::Rotation {
            degrees: d,
            interpolation: if nearest {
                Interpolation::Nearest
            } else {
                Interpolation::Bilinear
            },
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
}
