//! `data.decode_scale = "auto"` through the loader: an ImageFolder of large JPEGs decoded at a
//! reduced scale for the training and evaluation chains, from a run config's text.

#![allow(clippy::unwrap_used)] // Test helpers: a panic is the failure report.

use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use pipeline::batch::{self, BatchDigest};
use pipeline::config::{DecodeScale, PipelineConfig};
use pipeline::{Dataset, Loader, Split};

const PER_CLASS: u32 = 3;

/// Writes `root/{a,b}/<n>.jpg`: `PER_CLASS` photo-like 1600×1200 JPEGs per class.
fn write_large_jpegs(root: &Path) {
    for (c, class) in ["a", "b"].into_iter().enumerate() {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for n in 0..PER_CLASS {
            let k = c as u32 * PER_CLASS + n;
            let img = image::RgbImage::from_fn(1600, 1200, |x, y| {
                let wave = ((x as f32 / (5.0 + k as f32)).sin() * 50.0) as i32;
                let v = |base: u32| (base as i32 + wave).clamp(0, 255) as u8;
                image::Rgb([v(x * 200 / 1600 + 20), v(y * 200 / 1200 + 20), v(40 * k)])
            });
            let file = std::fs::File::create(dir.join(format!("{n}.jpg"))).unwrap();
            img.write_with_encoder(JpegEncoder::new_with_quality(file, 90))
                .unwrap();
        }
    }
}

fn config(root: &Path, decode_scale: &str) -> PipelineConfig {
    let text = format!(
        "seed = 3\n[data]\npath = {root:?}\nval_fraction = 0.5\ndecode_scale = \"{decode_scale}\"\n\
         [transforms]\nsize = 96\nnormalize = \"imagenet\"\n[loader]\nbatch_size = 2\n",
        root = root.display().to_string()
    );
    PipelineConfig::from_toml_str(&text, "run.toml").unwrap()
}

/// The digest of one epoch's batches, their shape, and the bytes the loader's cache then holds.
fn run(loader: &Loader) -> (String, [usize; 3], usize) {
    let mut digest = BatchDigest::new();
    let mut running = loader.epoch(0).unwrap();
    for b in running.by_ref() {
        let b = b.unwrap();
        assert_eq!(batch::image_shape(&b.schema()).unwrap(), [3, 96, 96]);
        digest.update(&b).unwrap();
    }
    let report = running.join().unwrap();
    assert_eq!(report.skipped_total(), 0);
    (digest.finish(), loader.shape(), loader.cache_bytes())
}

#[test]
fn decode_scale_auto_decodes_large_jpegs_at_the_scale_each_chain_allows() {
    let dir = tempfile::tempdir().unwrap();
    write_large_jpegs(dir.path());
    let full = config(dir.path(), "full");
    let auto = config(dir.path(), "auto");
    assert_eq!(
        PipelineConfig::default().data.decode_scale,
        DecodeScale::Full
    );
    assert_eq!(auto.data.decode_scale, DecodeScale::Auto);
    let ds_full = Dataset::open(&full.data).unwrap();
    let ds_auto = Dataset::open(&auto.data).unwrap();
    let n = ds_auto.len(Split::Train);
    assert!(n > 0 && ds_auto.len(Split::Val) > 0);
    // Per cached image: its pixels plus 64 bytes of bookkeeping.
    let cached = |w: usize, h: usize, images: usize| images * (w * h * 3 + 64);

    // Training (random_resized_crop(96), default scale and ratio): every crop must stay at least
    // 96×96, which needs about 157,000 pixels: 1/2 (800×600), not 1/4 (400×300).
    let (full_digest, shape, full_bytes) = run(&Loader::train(&ds_full, &full).unwrap());
    let (auto_digest, auto_shape, auto_bytes) = run(&Loader::train(&ds_auto, &auto).unwrap());
    assert_eq!(shape, auto_shape);
    assert_eq!(full_bytes, cached(1600, 1200, n));
    assert_eq!(auto_bytes, cached(800, 600, n));
    assert_ne!(full_digest, auto_digest, "a reduced decode changes pixels");
    let (again, _, _) = run(&Loader::train(&ds_auto, &auto).unwrap());
    assert_eq!(auto_digest, again, "and does so the same way every run");

    // Evaluation (resize(110), center_crop(96)): 1/8 (200×150) keeps the shorter side ≥ 110.
    let val = ds_auto.len(Split::Val);
    let (_, _, bytes) = run(&Loader::eval(&ds_auto, Split::Val, &auto).unwrap());
    assert_eq!(bytes, cached(200, 150, val));
    let (_, _, bytes) = run(&Loader::eval(&ds_full, Split::Val, &full).unwrap());
    assert_eq!(bytes, cached(1600, 1200, val));
}

#[test]
fn an_unknown_decode_scale_is_an_error_naming_the_key() {
    let e = PipelineConfig::from_toml_str("[data]\ndecode_scale = \"half\"\n", "run.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("decode_scale") || e.contains("half"), "{e}");
}
