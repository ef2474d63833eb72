//! Pipeline benchmarks: JPEG decode, the full train chain per image and its parts, the rotation
//! alone, batch assembly, and a 12-megapixel JPEG decoded at full size and at the reduced scale
//! of `data.decode_scale = "auto"`. Inputs are derived from the bundled photos (seeded crops and
//! rescales re-encoded as JPEG), so nothing outside the repository is needed. With
//! `PIPELINE_BENCH_PHOTOS=DIR`, decode also measures reading and decoding the images of DIR,
//! and the 12-megapixel JPEG is made from DIR's first photo instead of a bundled one.

#![allow(missing_docs)] // criterion_group! defines an undocumented pub fn.

use std::hint::black_box;
use std::io::Cursor;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pipeline::config::{
    DataConfig, Filter, IMAGENET_MEAN, IMAGENET_STD, Interpolation, Normalize, PipelineConfig,
    TransformSpec, ValSource,
};
use pipeline::decode::{self, DecodeLimits, Image};
use pipeline::geometry::{Rotate, rotate_into};
use pipeline::transform::{Chain, Scratch};
use pipeline::{Dataset, Loader, Split};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const PHOTOS: [&str; 4] = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"];

/// `n` JPEGs of 500×375: seeded random crops of the bundled photos, rescaled, quality 90.
fn derived_jpegs(n: usize) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/photos");
    let photos: Vec<image::RgbImage> = PHOTOS
        .iter()
        .map(|p| image::open(dir.join(p)).expect("bundled photo").to_rgb8())
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    (0..n)
        .map(|i| {
            let src = &photos[i % photos.len()];
            let (w, h) = src.dimensions();
            let cw = rng.random_range(w / 2..=w);
            let ch = rng.random_range(h / 2..=h);
            let x = rng.random_range(0..=w - cw);
            let y = rng.random_range(0..=h - ch);
            let crop = image::imageops::crop_imm(src, x, y, cw, ch).to_image();
            let resized =
                image::imageops::resize(&crop, 500, 375, image::imageops::FilterType::Triangle);
            let mut out = Cursor::new(Vec::new());
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
                .encode_image(&resized)
                .expect("encode");
            out.into_inner()
        })
        .collect()
}

const CROP: &str = "random_resized_crop(size=224)";
const JITTER: &str = "color_jitter(brightness=0.2,contrast=0.2,saturation=0.2)";

/// The train chain (bilinear rotation), then its parts, each ending in the ImageNet
/// normalization: what each step costs is the difference between two of them.
fn train_chains() -> [(&'static str, String); 4] {
    [
        (
            "train_chain",
            format!("{CROP},hflip,rotation(degrees=15),{JITTER}"),
        ),
        ("random_resized_crop", CROP.to_string()),
        (
            "random_resized_crop+color_jitter",
            format!("{CROP},{JITTER}"),
        ),
        (
            "train_chain with nearest rotation",
            format!("{CROP},hflip,rotation(degrees=15,interpolation=nearest),{JITTER}"),
        ),
    ]
}

fn chain_of(list: &str) -> Chain {
    let specs = pipeline::config::parse_transform_list(list).expect("chain");
    Chain::new(specs, 3, &IMAGENET_MEAN, &IMAGENET_STD, None, "bench").expect("chain")
}

/// The data set named by `PIPELINE_BENCH_PHOTOS` (a flat folder of images, e.g. the
/// maintainers' bench photos), listed as `track pipeline --no-val` lists it.
fn folder_dataset() -> Option<Dataset> {
    let dir = std::env::var_os("PIPELINE_BENCH_PHOTOS")?;
    let config = DataConfig {
        path: dir.into(),
        val_source: ValSource::None,
        ..DataConfig::default()
    };
    Some(Dataset::open(&config).unwrap_or_else(|e| panic!("PIPELINE_BENCH_PHOTOS: {e}")))
}

fn bench_decode(c: &mut Criterion) {
    let jpegs = derived_jpegs(16);
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    group.bench_function("jpeg/500x375", |b| {
        b.iter(|| {
            i = (i + 1) % jpegs.len();
            black_box(decode::decode(&jpegs[i], None, 3, 1 << 26).expect("decode"))
        })
    });
    // Each file as the pipeline's read and decode stages take it, from the page cache.
    if let Some(dataset) = folder_dataset() {
        let samples = dataset.samples(Split::Train);
        group.bench_function(
            format!(
                "read+decode/PIPELINE_BENCH_PHOTOS ({} files)",
                samples.len()
            ),
            |b| {
                b.iter(|| {
                    i = (i + 1) % samples.len();
                    black_box(dataset.load(&samples[i]).expect("decode"))
                })
            },
        );
    }
    group.finish();
}

fn bench_chain(c: &mut Criterion) {
    let images: Vec<Image> = derived_jpegs(8)
        .iter()
        .map(|j| decode::decode(j, None, 3, 1 << 26).expect("decode"))
        .collect();
    let eval = Chain::new(
        vec![
            TransformSpec::Resize {
                size: Some(256),
                width: None,
                height: None,
                filter: Filter::Bilinear,
            },
            TransformSpec::CenterCrop { size: 224 },
        ],
        3,
        &IMAGENET_MEAN,
        &IMAGENET_STD,
        None,
        "bench",
    )
    .expect("chain");
    let mut chains: Vec<(&str, Chain)> = train_chains()
        .into_iter()
        .map(|(name, list)| (name, chain_of(&list)))
        .collect();
    chains.push(("eval_chain", eval));
    let mut out = vec![0.0f32; chains[0].1.sample_len()];
    let mut scratch = Scratch::new();
    let mut group = c.benchmark_group("transform");
    group.throughput(Throughput::Elements(1));
    let mut id = 0u64;
    for (name, chain) in &chains {
        group.bench_function(format!("{name}/500x375->3x224x224"), |b| {
            b.iter(|| {
                id += 1;
                let mut rng = pipeline::runtime::sample_rng(1, 0, id);
                chain
                    .apply(
                        &images[id as usize % images.len()],
                        &mut rng,
                        &mut scratch,
                        &mut out,
                    )
                    .expect("apply");
                black_box(&out);
            })
        });
    }
    // Rotation alone, on the 224×224 output of the crop: the chain's costliest step.
    let square = {
        let mut crop = Image::filled(224, 224, 3, 0);
        for (i, v) in crop.data.iter_mut().enumerate() {
            *v = images[0].data[i % images[0].data.len()];
        }
        crop
    };
    let mut rotated = Image::filled(0, 0, 3, 0);
    for (name, interpolation) in [
        ("bilinear", Interpolation::Bilinear),
        ("nearest", Interpolation::Nearest),
    ] {
        let rotate = Rotate {
            degrees: 15.0,
            interpolation,
            fill: 0,
            mirror: false,
        };
        group.bench_function(format!("rotation/3x224x224 by 15 degrees, {name}"), |b| {
            b.iter(|| {
                rotate_into(black_box(&square), &rotate, &mut rotated);
                black_box(&rotated);
            })
        });
    }
    group.finish();
}

fn bench_batch(c: &mut Criterion) {
    let shape = [3, 224, 224];
    let len: usize = shape.iter().product();
    let schema = pipeline::batch::schema(shape);
    let mut group = c.benchmark_group("batch");
    group.throughput(Throughput::Elements(64));
    let images: Vec<f32> = (0..64)
        .flat_map(|i| std::iter::repeat_n(i as f32, len))
        .collect();
    let batch = pipeline::batch::build(&schema, images, (0..64).collect(), (0..64).collect())
        .expect("batch");
    group.bench_function("digest/64x3x224x224", |b| {
        b.iter(|| {
            let mut digest = pipeline::batch::BatchDigest::new();
            digest.update(black_box(&batch)).expect("digest");
            black_box(digest.finish())
        })
    });
    group.finish();
}

/// A loader's epoch once its images are decoded and cached (every epoch after the first): the
/// train chain per sample, written straight into its batch's buffer, the batches built and
/// digested and handed back for reuse; 128 derived 500×375 JPEGs, batches of 64, the loader's
/// default workers (one decode and one augment worker per core).
fn bench_loader(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let class = dir.path().join("photos");
    std::fs::create_dir_all(&class).expect("class folder");
    for (i, jpeg) in derived_jpegs(128).iter().enumerate() {
        std::fs::write(class.join(format!("p{i:03}.jpg")), jpeg).expect("write");
    }
    let mut config = PipelineConfig::default();
    config.data.path = dir.path().into();
    config.data.val_source = ValSource::None;
    config.transforms.train =
        pipeline::config::parse_transform_list(&train_chains()[0].1).expect("chain");
    config.transforms.size = Some(224);
    config.transforms.normalize = Normalize::Imagenet;
    config.loader.batch_size = 64;
    let dataset = Dataset::open(&config.data).expect("data set");
    let loader = Loader::train(&dataset, &config).expect("loader");
    let epoch = |epoch: u64| {
        let mut running = loader.epoch(epoch).expect("epoch");
        while let Some(batch) = running.next() {
            running.recycle(batch.expect("batch"));
        }
        black_box(running.join().expect("report"))
    };
    epoch(0);
    let mut group = c.benchmark_group("loader");
    group.throughput(Throughput::Elements(128));
    let mut k = 0;
    group.bench_function("cached epoch/train_chain, 128 of 500x375->3x224x224", |b| {
        b.iter(|| {
            k += 1;
            epoch(k)
        })
    });
    group.finish();
}

/// A phone-sized JPEG (4032×3024, quality 90) made from a real photo: the first of
/// `PIPELINE_BENCH_PHOTOS` (as it is when it already is 4032×3024, e.g. written by
/// `scripts/make-large-photos.py`), else the bundled `rocket.jpg`; scaled to cover 4032×3024
/// (Catmull-Rom), centre-cropped, and given a seeded grain of ±6 levels so that it carries
/// about the detail of a phone photo rather than the smoothness of an enlargement.
fn large_jpeg() -> (String, Vec<u8>) {
    let (name, photo) = match folder_dataset() {
        Some(dataset) => {
            let path = dataset.samples(Split::Train)[0].display_path(&dataset);
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            let photo = image::load_from_memory(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
            if (photo.width(), photo.height()) == (4032, 3024) {
                return (path, bytes);
            }
            (path, photo)
        }
        None => {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/photos/rocket.jpg");
            (
                "rocket.jpg".into(),
                image::open(path).expect("bundled photo"),
            )
        }
    };
    let (w, h) = (4032u32, 3024u32);
    let scale =
        (f64::from(w) / f64::from(photo.width())).max(f64::from(h) / f64::from(photo.height()));
    let (sw, sh) = (
        ((f64::from(photo.width()) * scale).round() as u32).max(w),
        ((f64::from(photo.height()) * scale).round() as u32).max(h),
    );
    let big = photo.resize_exact(sw, sh, image::imageops::FilterType::CatmullRom);
    let mut img = big.crop_imm((sw - w) / 2, (sh - h) / 2, w, h).to_rgb8();
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    for v in img.iter_mut() {
        *v = (i32::from(*v) + rng.random_range(-6..=6)).clamp(0, 255) as u8;
    }
    let mut out = Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&img)
        .expect("encode");
    (name, out.into_inner())
}

/// A 4032×3024 JPEG decoded at full size and as `data.decode_scale = "auto"` decodes it for the
/// train chain (random_resized_crop(224): 1/2) and the eval chain (resize(256): 1/8); then the
/// decode and the train chain per sample, full and reduced (no decoded-image cache).
fn bench_large(c: &mut Criterion) {
    let (source, jpeg) = large_jpeg();
    let limits = DecodeLimits::pixels(50_000_000);
    let train = chain_of(&train_chains()[0].1);
    let eval = chain_of("resize(size=256),center_crop(size=224)");
    let mut group = c.benchmark_group(format!(
        "large_jpeg ({source}, 4032x3024, {} KiB)",
        jpeg.len() >> 10
    ));
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    let decode_for = |chain: Option<&Chain>| {
        let min = chain.and_then(Chain::min_decode_size);
        decode::decode_at_least(&jpeg, None, 3, &limits, min).expect("decode")
    };
    for (name, chain) in [
        ("full", None),
        ("reduced for the train chain", Some(&train)),
        ("reduced for the eval chain", Some(&eval)),
    ] {
        let img = decode_for(chain);
        group.bench_function(
            format!("decode/{name} ({}x{})", img.width, img.height),
            |b| b.iter(|| black_box(decode_for(chain))),
        );
    }
    let mut out = vec![0.0f32; train.sample_len()];
    let mut scratch = Scratch::new();
    let mut id = 0u64;
    for (name, reduced) in [("full", false), ("reduced", true)] {
        group.bench_function(format!("decode+train_chain/{name}"), |b| {
            b.iter(|| {
                id += 1;
                let img = decode_for(reduced.then_some(&train));
                let mut rng = pipeline::runtime::sample_rng(1, 0, id);
                train
                    .apply(&img, &mut rng, &mut scratch, &mut out)
                    .expect("apply");
                black_box(&out);
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench_decode, bench_chain, bench_batch, bench_loader, bench_large
}
criterion_main!(benches);
