//! The pipeline on real image files: an ImageFolder of Fashion-MNIST images written as PNG and
//! JPEG, the bundled colour photos, manifests, and folders seeded with bad files.

#![allow(clippy::unwrap_used)] // Test helpers: a panic is the failure report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pipeline::batch;
use pipeline::config::{Augment, ColorMode, DataConfig, Normalize, OnError, PipelineConfig};
use pipeline::decode::SkipReason;
use pipeline::{Dataset, Error, Loader, Split};

const PER_CLASS: usize = 12;
const CLASSES: usize = 3;

mod common;
use common::repo;

/// The first images of the first `CLASSES` classes of the bundled IDX training split.
fn idx_images() -> Vec<(i32, Vec<u8>)> {
    let mut c = PipelineConfig::default();
    c.data.path = repo("data/fashion-mnist-mini");
    c.data.val_fraction = 0.5;
    c.transforms.augment = Augment::None;
    c.transforms.normalize = Normalize::None;
    let ds = Dataset::open(&c.data).unwrap();
    let loader = Loader::eval(&ds, Split::Train, &c).unwrap();
    let mut per_class: BTreeMap<i32, Vec<Vec<u8>>> = BTreeMap::new();
    for b in loader.epoch(0).unwrap() {
        let b = b.unwrap();
        let values = batch::image_values(&b).unwrap();
        for (i, &label) in batch::labels(&b).unwrap().iter().enumerate() {
            let list = per_class.entry(label).or_default();
            if (label as usize) < CLASSES && list.len() < PER_CLASS {
                list.push(
                    values[i * 784..(i + 1) * 784]
                        .iter()
                        .map(|v| (v * 255.0).round() as u8)
                        .collect(),
                );
            }
        }
    }
    per_class
        .into_iter()
        .flat_map(|(l, imgs)| imgs.into_iter().map(move |i| (l, i)))
        .collect()
}

/// Writes the images as `root/class<L>/<n>.{png,jpg}` (even: PNG, odd: JPEG).
fn write_image_folder(root: &Path) -> Vec<(i32, Vec<u8>, PathBuf)> {
    let mut written = Vec::new();
    for (n, (label, pixels)) in idx_images().into_iter().enumerate() {
        let dir = root.join(format!("class{label}"));
        std::fs::create_dir_all(&dir).unwrap();
        let img = image::GrayImage::from_raw(28, 28, pixels.clone()).unwrap();
        let path = dir.join(if n % 2 == 0 {
            format!("{n:03}.png")
        } else {
            format!("{n:03}.jpg")
        });
        img.save(&path).unwrap();
        written.push((label, pixels, path));
    }
    written
}

fn gray_config(root: &Path) -> PipelineConfig {
    let mut c = PipelineConfig {
        data: DataConfig {
            path: root.to_path_buf(),
            color: ColorMode::Gray,
            val_fraction: 0.25,
            ..DataConfig::default()
        },
        ..PipelineConfig::default()
    };
    c.transforms.augment = Augment::None;
    c.transforms.normalize = Normalize::None;
    c.loader.batch_size = 7;
    c
}

#[test]
fn fashion_mnist_image_folder_of_png_and_jpeg_loads_with_exact_png_pixels() {
    let tmp = tempfile::tempdir().unwrap();
    let written = write_image_folder(tmp.path());
    let c = gray_config(tmp.path());
    let ds = Dataset::open(&c.data).unwrap();
    assert_eq!(ds.classes(), ["class0", "class1", "class2"]);
    assert_eq!(ds.native_size(), None);
    assert_eq!(
        ds.len(Split::Train) + ds.len(Split::Val),
        CLASSES * PER_CLASS
    );
    assert_eq!(ds.class_counts(Split::Val), vec![3, 3, 3]);
    // Output side defaults to 224 for image files: ask for the native 28 (no resize needed).
    let mut c = c;
    c.transforms.size = Some(28);
    c.transforms.eval = pipeline::config::parse_transform_list("center_crop(size=28)").unwrap();
    for split in [Split::Train, Split::Val] {
        let loader = Loader::eval(&ds, split, &c).unwrap();
        assert_eq!(loader.shape(), [1, 28, 28]);
        let by_id: BTreeMap<u64, &pipeline::Sample> =
            ds.samples(split).iter().map(|s| (s.id, s)).collect();
        let mut seen = 0;
        let mut running = loader.epoch(0).unwrap();
        for b in running.by_ref() {
            let b = b.unwrap();
            let values = batch::image_values(&b).unwrap();
            for (i, (&id, &label)) in batch::sample_ids(&b)
                .unwrap()
                .iter()
                .zip(batch::labels(&b).unwrap())
                .enumerate()
            {
                let (wl, wp, path) = &written[id as usize];
                assert_eq!(by_id[&id].label, label);
                assert_eq!(*wl, label, "{}", path.display());
                let got: Vec<u8> = values[i * 784..(i + 1) * 784]
                    .iter()
                    .map(|v| (v * 255.0).round() as u8)
                    .collect();
                if path.extension().unwrap() == "png" {
                    assert_eq!(&got, wp, "PNG pixels are lossless: {}", path.display());
                } else {
                    let mean_err = got
                        .iter()
                        .zip(wp)
                        .map(|(a, b)| a.abs_diff(*b) as f64)
                        .sum::<f64>()
                        / 784.0;
                    assert!(
                        mean_err < 12.0,
                        "JPEG too far off ({mean_err}): {}",
                        path.display()
                    );
                }
                seen += 1;
            }
        }
        let report = running.join().unwrap();
        assert_eq!(seen, ds.len(split));
        assert_eq!(report.skipped_total(), 0);
    }
}

#[test]
fn bundled_photos_run_through_the_standard_rgb_chain() {
    let mut c = PipelineConfig::default();
    c.data.path = repo("data/photos");
    c.transforms.size = Some(64);
    c.transforms.normalize = Normalize::Imagenet;
    c.loader.batch_size = 2;
    let ds = Dataset::open(&c.data).unwrap();
    assert_eq!(ds.channels(), 3);
    assert_eq!(ds.classes(), ["photos"], "a flat folder is one class");
    assert_eq!(ds.len(Split::Train) + ds.len(Split::Val), 4);
    let train = Loader::train(&ds, &c).unwrap();
    assert_eq!(train.shape(), [3, 64, 64]);
    let a: Vec<Vec<f32>> = train
        .epoch(0)
        .unwrap()
        .map(|b| batch::image_values(&b.unwrap()).unwrap().to_vec())
        .collect();
    let b: Vec<Vec<f32>> = train
        .epoch(1)
        .unwrap()
        .map(|b| batch::image_values(&b.unwrap()).unwrap().to_vec())
        .collect();
    assert_eq!(
        a.iter().map(Vec::len).sum::<usize>(),
        ds.len(Split::Train) * 3 * 64 * 64
    );
    assert_ne!(a, b, "augmentation differs per epoch");
    let lo = (0.0 - 0.485) / 0.229 - 1e-4;
    let hi = (1.0 - 0.406) / 0.225 + 1e-4;
    assert!(
        a.iter()
            .flatten()
            .all(|v| v.is_finite() && *v >= lo && *v <= hi)
    );
    let val = Loader::eval(&ds, Split::Val, &c).unwrap();
    let v1: Vec<_> = val
        .epoch(0)
        .unwrap()
        .map(|b| batch::image_values(&b.unwrap()).unwrap().to_vec())
        .collect();
    let v2: Vec<_> = val
        .epoch(5)
        .unwrap()
        .map(|b| batch::image_values(&b.unwrap()).unwrap().to_vec())
        .collect();
    assert_eq!(v1, v2, "validation is deterministic");
}

/// A class folder with 5 good images and one file of each bad kind; returns the root.
fn seeded_bad_folder(root: &Path) {
    let good = root.join("good");
    let bad = root.join("mixed");
    std::fs::create_dir_all(&good).unwrap();
    std::fs::create_dir_all(&bad).unwrap();
    let small =
        image::RgbImage::from_fn(28, 28, |x, y| image::Rgb([x as u8 * 9, y as u8 * 9, 100]));
    let mut jpeg = std::io::Cursor::new(Vec::new());
    small.write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
    let jpeg = jpeg.into_inner();
    let mut png = std::io::Cursor::new(Vec::new());
    small.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let png = png.into_inner();
    for i in 0..3 {
        std::fs::write(good.join(format!("g{i}.jpg")), &jpeg).unwrap();
        std::fs::write(bad.join(format!("ok{i}.png")), &png).unwrap();
    }
    std::fs::write(bad.join("empty.jpg"), b"").unwrap();
    std::fs::write(bad.join("truncated.jpg"), &jpeg[..jpeg.len() / 2]).unwrap();
    std::fs::write(bad.join("truncated2.png"), &png[..png.len() / 2]).unwrap();
    std::fs::write(bad.join("notes.png"), b"these are not pixels").unwrap();
    std::fs::write(bad.join("really-a-png.jpg"), &png).unwrap();
    let huge = image::GrayImage::new(400, 300);
    huge.save(bad.join("huge.png")).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(root.join("nowhere.jpg"), bad.join("dangling.jpg")).unwrap();
    std::fs::write(bad.join("README.txt"), b"ignored: not an image extension").unwrap();
}

#[test]
fn a_folder_seeded_with_bad_files_skips_each_by_reason() {
    let tmp = tempfile::tempdir().unwrap();
    seeded_bad_folder(tmp.path());
    let mut c = PipelineConfig::default();
    c.data.path = tmp.path().to_path_buf();
    c.data.max_pixels = 100_000;
    c.data.val_source = pipeline::config::ValSource::Split;
    c.data.val_fraction = 0.01;
    c.transforms.size = Some(28);
    c.transforms.normalize = Normalize::None;
    let ds = Dataset::open(&c.data).unwrap();
    // Validation takes one sample per class; evaluate every listed sample via train + val.
    let mut skipped: BTreeMap<SkipReason, u64> = BTreeMap::new();
    let mut emitted = 0;
    for split in [Split::Train, Split::Val] {
        let loader = Loader::eval(&ds, split, &c).unwrap();
        let mut running = loader.epoch(0).unwrap();
        emitted += running
            .by_ref()
            .map(|b| b.unwrap().num_rows())
            .sum::<usize>();
        for (r, n) in running.join().unwrap().skipped {
            *skipped.entry(r).or_default() += n;
        }
    }
    let expected = BTreeMap::from([
        (SkipReason::Unreadable, 1),
        (SkipReason::Empty, 1),
        (SkipReason::Truncated, 2),
        (SkipReason::NotAnImage, 1),
        (SkipReason::WrongExtension, 1),
        (SkipReason::TooLarge, 1),
    ]);
    assert_eq!(skipped, expected);
    assert_eq!(emitted, 6, "the six good images");
}

#[test]
fn on_error_fail_stops_with_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    seeded_bad_folder(tmp.path());
    let mut c = PipelineConfig::default();
    c.data.path = tmp.path().to_path_buf();
    c.data.on_error = OnError::Fail;
    c.data.max_pixels = 100_000;
    c.transforms.size = Some(28);
    c.transforms.normalize = Normalize::None;
    c.loader.batch_size = 1;
    let ds = Dataset::open(&c.data).unwrap();
    let loader = Loader::eval(&ds, Split::Train, &c).unwrap();
    let mut running = loader.epoch(0).unwrap();
    let err = running.by_ref().find_map(|b| b.err()).expect("an error");
    let Error::BadSample { path, .. } = &err else {
        panic!("{err}")
    };
    assert!(
        path.contains(&tmp.path().join("mixed").display().to_string()),
        "{path}"
    );
    assert!(running.next().is_none());
    assert!(matches!(running.join(), Err(Error::BadSample { .. })));
}

#[test]
fn manifest_rows_load_and_errors_name_the_input() {
    let tmp = tempfile::tempdir().unwrap();
    let written = write_image_folder(tmp.path());
    let mut text = String::from("path,label\n");
    for (label, _, path) in &written {
        let rel = path.strip_prefix(tmp.path()).unwrap();
        text.push_str(&format!(
            "{},{}\n",
            rel.display(),
            ["shirt", "trouser", "pullover"][*label as usize]
        ));
    }
    let manifest = tmp.path().join("train.csv");
    std::fs::write(&manifest, &text).unwrap();
    let ds = Dataset::open(&DataConfig {
        path: manifest.clone(),
        ..DataConfig::default()
    })
    .unwrap();
    assert_eq!(ds.classes(), ["pullover", "shirt", "trouser"]);
    assert_eq!(ds.len(Split::Train) + ds.len(Split::Val), written.len());

    text.push_str("class0/missing.png,shirt\n");
    std::fs::write(&manifest, &text).unwrap();
    let e = Dataset::open(&DataConfig {
        path: manifest.clone(),
        ..DataConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("train.csv")
            && e.contains(&format!("line {}", written.len() + 2))
            && e.contains("missing.png"),
        "{e}"
    );
}

#[test]
fn empty_data_set_and_empty_class_folder_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let e = Dataset::open(&DataConfig {
        path: tmp.path().to_path_buf(),
        ..DataConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains(&tmp.path().display().to_string()) && e.contains("no images"),
        "{e}"
    );
    std::fs::create_dir_all(tmp.path().join("cats")).unwrap();
    std::fs::create_dir_all(tmp.path().join("dogs")).unwrap();
    image::GrayImage::new(4, 4)
        .save(tmp.path().join("cats/a.png"))
        .unwrap();
    let e = Dataset::open(&DataConfig {
        path: tmp.path().to_path_buf(),
        ..DataConfig::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("dogs") && e.contains("no images"), "{e}");
    let e = Dataset::open(&DataConfig {
        path: tmp.path().join("absent"),
        ..DataConfig::default()
    })
    .unwrap_err();
    assert!(format!("{e:#}").contains("absent"), "{e}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Samples are written straight into batch buffers by position and moved back after a skip:
    /// wherever bad files fall, every good image comes out once, whole, under its own id.
    #[test]
    fn skipped_files_anywhere_leave_every_batch_holding_the_right_images(
        kinds in proptest::collection::vec(0..4u8, 1..40),
        batch_size in 1..7usize,
        workers in 1..4usize,
        capacity in 1..4usize,
        drop_last in proptest::bool::ANY,
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let class = tmp.path().join("c");
        std::fs::create_dir_all(&class).unwrap();
        // File `i` (sorted names: its id) is a solid image of level `level(i)`, or bad.
        let level = |i: usize| (i * 6 + 10) as u8;
        for (i, kind) in kinds.iter().enumerate() {
            let path = class.join(format!("f{i:02}.png"));
            match kind {
                0 => std::fs::write(&path, b"").unwrap(),
                1 => std::fs::write(&path, b"these are not pixels").unwrap(),
                _ => {
                    let v = level(i);
                    image::RgbImage::from_pixel(6, 6, image::Rgb([v, 255 - v, v / 2]))
                        .save(&path)
                        .unwrap();
                }
            }
        }
        let good = kinds.iter().filter(|&&k| k >= 2).count();
        let mut c = PipelineConfig::default();
        c.data.path = tmp.path().to_path_buf();
        c.data.val_source = pipeline::config::ValSource::None;
        c.transforms.augment = Augment::None;
        c.transforms.normalize = Normalize::None;
        c.transforms.size = Some(4);
        c.loader.batch_size = batch_size;
        c.loader.decode_workers = workers;
        c.loader.augment_workers = workers;
        c.loader.channel_capacity = capacity;
        c.loader.drop_last = drop_last;
        let ds = Dataset::open(&c.data).unwrap();
        let loader = Loader::train(&ds, &c).unwrap();
        let mut seen = Vec::new();
        for b in loader.epoch(1).unwrap() {
            let b = b.unwrap();
            let ids = batch::sample_ids(&b).unwrap();
            let values = batch::image_values(&b).unwrap();
            proptest::prop_assert_eq!(values.len(), ids.len() * 3 * 4 * 4);
            for (&id, sample) in ids.iter().zip(values.chunks(3 * 4 * 4)) {
                let id = id as usize;
                proptest::prop_assert!(kinds[id] >= 2, "bad file {id} came out");
                let v = level(id);
                let expected = [v, 255 - v, v / 2].map(|x| f32::from(x) / 255.0);
                for (channel, plane) in sample.chunks(4 * 4).enumerate() {
                    for &x in plane {
                        proptest::prop_assert!(
                            (x - expected[channel]).abs() < 1e-6,
                            "sample {} channel {}: {} for {}", id, channel, x, expected[channel]
                        );
                    }
                }
                seen.push(id);
            }
        }
        seen.sort_unstable();
        let before = seen.len();
        seen.dedup();
        proptest::prop_assert_eq!(before, seen.len(), "a sample came out twice");
        let expected = if drop_last { good / batch_size * batch_size } else { good };
        proptest::prop_assert_eq!(seen.len(), expected);
    }
}
