//! The corrupt-image corpus of the fuzz campaign, written at test time (seeded: the same bytes
//! every run): an ImageFolder with valid images of every kind the pipeline must load and hostile
//! files, each of which must be skipped for a known reason.
//!
//! Layout written under `root`:
//! - `data/train/{a,b,<non-UTF-8 name>}/`: valid images of every flavour (gray, RGBA, 16-bit,
//!   palette, interlaced and 1-bit PNGs; gray, CMYK and progressive JPEGs; a JPEG with trailing
//!   bytes; a PNG with its `IEND` cut; a PNG inflating 36 MB from a few KB) and, in `b/`, the
//!   hostile files: empties, truncations at many offsets, bit flips in PNG headers, random
//!   bytes with image names, a PNG named `.jpg`, a decompression bomb, huge
//!   declared dimensions, extreme aspect ratios, a FIFO, a link to `/dev/zero`, a sparse 1 GiB
//!   file, symlink loops, a dangling link, non-UTF-8 names;
//! - `data/val/{a,b}/`: valid images and a 1×4,000,000 PNG (under the pixel limit: the eval
//!   resize of that strip once tried to allocate 16 GB);
//! - `flips/x/`: JPEGs with bit flips in headers and scans, PNGs with bit flips in pixel data,
//!   and JPEG signatures followed by random bytes: what a decoder makes of them is its own
//!   business (a flipped scan bit often still decodes), so only "loaded or skipped, never a
//!   crash" is asserted for these.
//!
//! PNG and JPEG files the `image` encoders cannot write (palette, interlaced, 1-bit, CMYK,
//! progressive) are written by the small encoders of `png` (stored, uncompressed zlib) and
//! `jpeg` (flat 8×8 blocks, DC only, with a four-bit DC Huffman table).

mod jpeg;
mod png;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use jpeg::{Adobe, flat_jpeg, jpeg_scan_start, with_jpeg_size};
use png::{palette_png, raw_png, with_png_size};

/// What the generator wrote and what the pipeline must make of it.
pub struct Corpus {
    /// The ImageFolder root (`train/`, `val/`).
    pub data: PathBuf,
    /// The JPEG bit-flip folder (a flat folder of images).
    pub flips: PathBuf,
    /// Images in `train/` that must load.
    pub train_valid: u64,
    /// Files in `train/` that must be skipped, by reason name.
    pub train_skips: BTreeMap<&'static str, u64>,
    /// Images in `val/` that must load.
    pub val_valid: u64,
    /// Files in `val/` that must be skipped, by reason name.
    pub val_skips: BTreeMap<&'static str, u64>,
    /// Files in `flips/`.
    pub flip_files: u64,
}

struct Writer {
    dir: PathBuf,
    valid: u64,
    skips: BTreeMap<&'static str, u64>,
}

impl Writer {
    fn new(dir: PathBuf) -> Writer {
        std::fs::create_dir_all(&dir).expect("create corpus folder");
        Writer {
            dir,
            valid: 0,
            skips: BTreeMap::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A file that must load.
    fn valid(&mut self, name: &str, bytes: &[u8]) {
        std::fs::write(self.path(name), bytes).expect("write corpus file");
        self.valid += 1;
    }

    /// A file that must be skipped for `reason`.
    fn bad(&mut self, name: &str, bytes: &[u8], reason: &'static str) {
        std::fs::write(self.path(name), bytes).expect("write corpus file");
        self.expect(reason);
    }

    /// Counts a skip for something written by other means (a link, a FIFO).
    fn expect(&mut self, reason: &'static str) {
        *self.skips.entry(reason).or_default() += 1;
    }
}

fn merge(into: &mut BTreeMap<&'static str, u64>, from: BTreeMap<&'static str, u64>) {
    for (k, v) in from {
        *into.entry(k).or_default() += v;
    }
}

fn encode(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

/// A black 8-bit gray PNG of `w × h`.
fn blank_png(w: u32, h: u32) -> Vec<u8> {
    encode(
        DynamicImage::ImageLuma8(image::GrayImage::new(w, h)),
        ImageFormat::Png,
    )
}

fn photo(w: u32, h: u32, seed: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 7 + seed * 31) as u8,
            (y * 5 + x) as u8,
            ((x ^ y) * 3 + seed) as u8,
        ])
    })
}

/// The two small images the corpus is cut from: a JPEG and a PNG of 48×32.
struct Samples {
    jpeg: Vec<u8>,
    png: Vec<u8>,
}

/// Writes the corpus under `root`.
pub fn write(root: &Path) -> Corpus {
    let mut rng = ChaCha8Rng::seed_from_u64(0xC0_4205);
    let data = root.join("data");
    let samples = Samples {
        jpeg: encode(DynamicImage::ImageRgb8(photo(48, 32, 1)), ImageFormat::Jpeg),
        png: encode(DynamicImage::ImageRgb8(photo(48, 32, 2)), ImageFormat::Png),
    };
    let (a, odd) = plain(&data, &samples);
    // train/b: every flavour the pipeline must load, then the hostile files.
    let mut b = Writer::new(data.join("train/b"));
    let bomb = flavours(&mut b, &samples);
    hostile(&mut b, &mut rng, root, &samples, &bomb);
    let (va, vb) = validation(&data, &samples);
    let flip_files = bit_flips(&root.join("flips").join("x"), &mut rng, &samples);

    let mut train_skips = BTreeMap::new();
    merge(&mut train_skips, a.skips);
    merge(&mut train_skips, odd.skips);
    merge(&mut train_skips, b.skips);
    let mut val_skips = BTreeMap::new();
    merge(&mut val_skips, va.skips);
    merge(&mut val_skips, vb.skips);
    Corpus {
        data,
        flips: root.join("flips"),
        train_valid: a.valid + odd.valid + b.valid,
        train_skips,
        val_valid: va.valid + vb.valid,
        val_skips,
        flip_files,
    }
}

/// `train/a`: plain valid images; a class folder whose name is not UTF-8, holding a file whose
/// name is not UTF-8 either.
fn plain(data: &Path, samples: &Samples) -> (Writer, Writer) {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let Samples { jpeg, png } = samples;
    let mut a = Writer::new(data.join("train/a"));
    for i in 0..4u32 {
        let img = DynamicImage::ImageRgb8(photo(40, 30, i + 10));
        a.valid(
            &format!("a{i}.jpg"),
            &encode(img.clone(), ImageFormat::Jpeg),
        );
        a.valid(&format!("a{i}.png"), &encode(img, ImageFormat::Png));
    }
    let mut odd = Writer::new(data.join("train").join(OsStr::from_bytes(b"cl\xffss")));
    std::fs::write(odd.dir.join(OsStr::from_bytes(b"\xfe\xff.jpg")), jpeg).expect("write");
    odd.valid += 1;
    odd.valid("plain.png", png);
    (a, odd)
}

/// Every flavour of valid image the pipeline must load, into `b`; returns the PNG that inflates
/// 36 MB (the decompression bomb's body).
fn flavours(b: &mut Writer, samples: &Samples) -> Vec<u8> {
    let Samples { jpeg, png } = samples;
    let rgb = DynamicImage::ImageRgb8(photo(33, 21, 3));
    for (name, image) in [
        ("gray8.png", DynamicImage::ImageLuma8(rgb.to_luma8())),
        ("gray16.png", DynamicImage::ImageLuma16(rgb.to_luma16())),
        (
            "gray-alpha.png",
            DynamicImage::ImageLumaA8(rgb.to_luma_alpha8()),
        ),
        ("rgba8.png", DynamicImage::ImageRgba8(rgb.to_rgba8())),
        ("rgb16.png", DynamicImage::ImageRgb16(rgb.to_rgb16())),
        ("rgba16.png", DynamicImage::ImageRgba16(rgb.to_rgba16())),
    ] {
        b.valid(name, &encode(image, ImageFormat::Png));
    }
    b.valid("palette8-trns.png", &palette_png(13, 9, 8, true));
    b.valid("palette4.png", &palette_png(13, 9, 4, false));
    b.valid(
        "gray1.png",
        &raw_png(17, 5, 1, 0, false, |x, y| u8::from((x + y) % 3 == 0)),
    );
    b.valid(
        "interlaced.png",
        &raw_png(19, 11, 8, 2, true, |x, y| (x * 13 + y * 7) as u8),
    );
    b.valid(
        "gray.jpg",
        &encode(DynamicImage::ImageLuma8(rgb.to_luma8()), ImageFormat::Jpeg),
    );
    b.valid(
        "cmyk.jpg",
        &flat_jpeg(24, 16, &[30, 200, 90, 10], Adobe::Cmyk, false),
    );
    b.valid(
        "progressive.jpg",
        &flat_jpeg(24, 16, &[120, 100, 160], Adobe::None, true),
    );
    b.valid(
        "progressive-gray.jpg",
        &flat_jpeg(9, 20, &[77], Adobe::None, true),
    );
    b.valid(
        "progressive-cmyk.jpg",
        &flat_jpeg(16, 16, &[200, 30, 60, 0], Adobe::Cmyk, true),
    );
    // Valid images with something after them: 4097 bytes after a JPEG's end marker (a camera's
    // trailer), a PNG whose IEND (or the CRC of its last IDAT) is cut.
    for (name, extra) in [
        ("trailing-4097.jpg", 4097usize),
        ("trailing-1m.jpg", 1 << 20),
    ] {
        let mut bytes = jpeg.clone();
        bytes.extend(std::iter::repeat_n(0u8, extra));
        b.valid(name, &bytes);
    }
    for cut in [1usize, 6, 12, 14] {
        b.valid(&format!("tail-cut-{cut}.png"), &png[..png.len() - cut]);
    }
    // A PNG inflating 36 MB from a few KB, under the pixel limit: it loads (within bounded memory).
    let bomb = blank_png(6000, 6000);
    assert!(
        bomb.len() < 1 << 20,
        "the bomb compresses: {} bytes",
        bomb.len()
    );
    b.valid("inflates-36mb.png", &bomb);
    b.valid("aspect-50.png", &blank_png(1, 50));
    bomb
}

/// The hostile files, into `b`: each must be skipped for the reason it is counted under.
fn hostile(b: &mut Writer, rng: &mut ChaCha8Rng, root: &Path, samples: &Samples, bomb: &[u8]) {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::symlink;

    let Samples { jpeg, png } = samples;
    // Empty files.
    b.bad("empty.jpg", b"", "empty");
    b.bad("empty.png", b"", "empty");
    // Truncations: a JPEG cut anywhere after its signature lacks its end marker; one cut before
    // the third byte has no signature.
    for cut in [1usize, 2] {
        b.bad(&format!("jpeg-cut-{cut}.jpg"), &jpeg[..cut], "not_an_image");
    }
    let step = (jpeg.len() - 4) / 24;
    for k in 0..25 {
        let cut = (3 + k * step).min(jpeg.len() - 1);
        b.bad(&format!("jpeg-cut-{cut}.jpg"), &jpeg[..cut], "truncated");
    }
    // A PNG cut inside its signature has none; cut anywhere up to well inside its pixel data,
    // it is truncated.
    for cut in [1usize, 4, 7] {
        b.bad(&format!("png-cut-{cut}.png"), &png[..cut], "not_an_image");
    }
    let pixels_end = png.len() - 12 - 4 - 16;
    let step = (pixels_end - 8) / 24;
    for k in 0..25 {
        let cut = 8 + k * step;
        b.bad(&format!("png-cut-{cut}.png"), &png[..cut], "truncated");
    }
    // Bit flips in a PNG's header (IHDR data): its CRC catches them.
    for k in 0..8 {
        let mut bytes = png.clone();
        let at = 16 + k % 13;
        bytes[at] ^= 1 << (k % 8);
        b.bad(&format!("png-flip-header-{k}.png"), &bytes, "not_an_image");
    }
    // Random bytes with image names (the first byte is no signature's).
    for k in 0..12 {
        let len = rng.random_range(1..5000);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        bytes[0] = b'r';
        let ext = if k % 2 == 0 { "jpg" } else { "png" };
        b.bad(&format!("random-{k}.{ext}"), &bytes, "not_an_image");
    }
    std::fs::write(
        b.dir.join(OsStr::from_bytes(b"random-\xff.jpg")),
        b"\x00\x01garbage",
    )
    .expect("write");
    b.expect("not_an_image");
    b.bad("really-a-png.jpg", png, "wrong_extension");
    b.bad("really-a-jpeg.png", jpeg, "wrong_extension");
    // A decompression bomb: the 36 MB stream above under a header declaring 60000×60000.
    b.bad(
        "bomb-60000.png",
        &with_png_size(bomb, 60_000, 60_000),
        "too_large",
    );
    // Huge declared dimensions: a JPEG whose frame header says 65000×65000, a PNG 2^31-1 wide.
    b.bad(
        "huge-65000.jpg",
        &with_jpeg_size(jpeg, 65_000, 65_000),
        "too_large",
    );
    b.bad(
        "huge-width.png",
        &with_png_size(png, 0x7FFF_FFFF, 1),
        "too_large",
    );
    // Extreme aspect ratios, under the pixel limit.
    b.bad(
        "strip-3000x2.jpg",
        &encode(
            DynamicImage::ImageRgb8(photo(3000, 2, 4)),
            ImageFormat::Jpeg,
        ),
        "aspect_ratio",
    );
    b.bad("strip-51x1.png", &blank_png(51, 1), "aspect_ratio");
    // Not regular files: a FIFO (opening it would block forever), a link to /dev/zero (reading
    // it would never end). A directory named like an image is not listed at all.
    let fifo = b.path("fifo.jpg");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(status.success(), "mkfifo");
    b.expect("not_a_file");
    symlink("/dev/zero", b.path("dev-zero.jpg")).expect("symlink");
    b.expect("not_a_file");
    std::fs::create_dir(b.path("folder.jpg")).expect("mkdir");
    // A sparse 1 GiB file: refused unread.
    std::fs::File::create(b.path("sparse-1g.jpg"))
        .and_then(|f| f.set_len(1 << 30))
        .expect("sparse file");
    b.expect("file_too_large");
    // Symlink loops (one link to itself, two links to each other) and a dangling link.
    symlink(b.path("loop-self.jpg"), b.path("loop-self.jpg")).expect("symlink");
    symlink(b.path("loop-2.jpg"), b.path("loop-1.jpg")).expect("symlink");
    symlink(b.path("loop-1.jpg"), b.path("loop-2.jpg")).expect("symlink");
    symlink(root.join("nowhere.jpg"), b.path("dangling.jpg")).expect("symlink");
    for _ in 0..4 {
        b.expect("unreadable");
    }
}

/// `val/`: valid images and the 1×4,000,000 strip.
fn validation(data: &Path, samples: &Samples) -> (Writer, Writer) {
    let Samples { jpeg, png } = samples;
    let mut va = Writer::new(data.join("val/a"));
    va.valid("v0.jpg", jpeg);
    va.valid("v1.png", png);
    let mut vb = Writer::new(data.join("val/b"));
    vb.valid(
        "v2.png",
        &encode(
            DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(photo(20, 30, 5)).to_rgba8()),
            ImageFormat::Png,
        ),
    );
    vb.bad(
        "strip-1x4000000.png",
        &blank_png(1, 4_000_000),
        "aspect_ratio",
    );
    vb.bad("truncated.jpg", &jpeg[..jpeg.len() / 2], "truncated");
    (va, vb)
}

/// `flips/x/`: JPEG bit flips in headers and scans, PNG bit flips in pixel data, JPEG signatures
/// followed by random bytes; returns how many files it wrote.
fn bit_flips(flips: &Path, rng: &mut ChaCha8Rng, samples: &Samples) -> u64 {
    let Samples { jpeg, png } = samples;
    std::fs::create_dir_all(flips).expect("mkdir");
    let scan = jpeg_scan_start(jpeg);
    let mut flip_files = 0;
    for k in 0..16 {
        let (lo, hi, kind) = if k % 2 == 0 {
            (2, scan, "header")
        } else {
            (scan, jpeg.len() - 2, "scan")
        };
        let mut bytes = jpeg.clone();
        let at = rng.random_range(lo..hi);
        bytes[at] ^= 1 << rng.random_range(0..8);
        std::fs::write(flips.join(format!("flip-{kind}-{k}.jpg")), &bytes).expect("write");
        flip_files += 1;
    }
    // Bit flips in a PNG's pixel data: reading stops at the last row, before the IDAT CRC (as
    // Pillow ignores it), so a flip that still inflates loads with changed pixels.
    assert_eq!(&png[37..41], b"IDAT", "one IDAT right after IHDR");
    for k in 0..8 {
        let mut bytes = png.clone();
        let at = rng.random_range(41..png.len() - 16);
        bytes[at] ^= 1 << rng.random_range(0..8);
        std::fs::write(flips.join(format!("png-flip-pixels-{k}.png")), &bytes).expect("write");
        flip_files += 1;
    }
    for k in 0..6 {
        let mut bytes = vec![0xFF, 0xD8, 0xFF];
        bytes.extend((0..rng.random_range(10..3000)).map(|_| rng.random::<u8>()));
        std::fs::write(flips.join(format!("signature-then-random-{k}.jpg")), &bytes)
            .expect("write");
        flip_files += 1;
    }
    flip_files
}
