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
//! progressive) are written by the small encoders below: stored (uncompressed) zlib for PNG,
//! flat 8×8 blocks (DC only) with a four-bit DC Huffman table for JPEG.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageFormat};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

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

fn photo(w: u32, h: u32, seed: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (x * 7 + seed * 31) as u8,
            (y * 5 + x) as u8,
            ((x ^ y) * 3 + seed) as u8,
        ])
    })
}

/// Writes the corpus under `root`.
#[cfg(unix)]
pub fn write(root: &Path) -> Corpus {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::symlink;

    let mut rng = ChaCha8Rng::seed_from_u64(0xC0_4205);
    let data = root.join("data");
    let jpeg = encode(DynamicImage::ImageRgb8(photo(48, 32, 1)), ImageFormat::Jpeg);
    let png = encode(DynamicImage::ImageRgb8(photo(48, 32, 2)), ImageFormat::Png);

    // train/a: plain valid images.
    let mut a = Writer::new(data.join("train/a"));
    for i in 0..4u32 {
        let img = DynamicImage::ImageRgb8(photo(40, 30, i + 10));
        a.valid(
            &format!("a{i}.jpg"),
            &encode(img.clone(), ImageFormat::Jpeg),
        );
        a.valid(&format!("a{i}.png"), &encode(img, ImageFormat::Png));
    }
    // A class folder whose name is not UTF-8, holding a file whose name is not UTF-8 either.
    let mut odd = Writer::new(data.join("train").join(OsStr::from_bytes(b"cl\xffss")));
    std::fs::write(odd.dir.join(OsStr::from_bytes(b"\xfe\xff.jpg")), &jpeg).expect("write");
    odd.valid += 1;
    odd.valid("plain.png", &png);

    // train/b: every flavour the pipeline must load, then the hostile files.
    let mut b = Writer::new(data.join("train/b"));
    let rgb = DynamicImage::ImageRgb8(photo(33, 21, 3));
    b.valid(
        "gray8.png",
        &encode(DynamicImage::ImageLuma8(rgb.to_luma8()), ImageFormat::Png),
    );
    b.valid(
        "gray16.png",
        &encode(DynamicImage::ImageLuma16(rgb.to_luma16()), ImageFormat::Png),
    );
    b.valid(
        "gray-alpha.png",
        &encode(
            DynamicImage::ImageLumaA8(rgb.to_luma_alpha8()),
            ImageFormat::Png,
        ),
    );
    b.valid(
        "rgba8.png",
        &encode(DynamicImage::ImageRgba8(rgb.to_rgba8()), ImageFormat::Png),
    );
    b.valid(
        "rgb16.png",
        &encode(DynamicImage::ImageRgb16(rgb.to_rgb16()), ImageFormat::Png),
    );
    b.valid(
        "rgba16.png",
        &encode(DynamicImage::ImageRgba16(rgb.to_rgba16()), ImageFormat::Png),
    );
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
    let bomb = encode(
        DynamicImage::ImageLuma8(image::GrayImage::new(6000, 6000)),
        ImageFormat::Png,
    );
    assert!(
        bomb.len() < 1 << 20,
        "the bomb compresses: {} bytes",
        bomb.len()
    );
    b.valid("inflates-36mb.png", &bomb);
    b.valid(
        "aspect-50.png",
        &encode(
            DynamicImage::ImageLuma8(image::GrayImage::new(1, 50)),
            ImageFormat::Png,
        ),
    );

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
    b.bad("really-a-png.jpg", &png, "wrong_extension");
    b.bad("really-a-jpeg.png", &jpeg, "wrong_extension");
    // A decompression bomb: the 36 MB stream above under a header declaring 60000×60000.
    b.bad(
        "bomb-60000.png",
        &with_png_size(&bomb, 60_000, 60_000),
        "too_large",
    );
    // Huge declared dimensions: a JPEG whose frame header says 65000×65000, a PNG 2^31-1 wide.
    b.bad(
        "huge-65000.jpg",
        &with_jpeg_size(&jpeg, 65_000, 65_000),
        "too_large",
    );
    b.bad(
        "huge-width.png",
        &with_png_size(&png, 0x7FFF_FFFF, 1),
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
    b.bad(
        "strip-51x1.png",
        &encode(
            DynamicImage::ImageLuma8(image::GrayImage::new(51, 1)),
            ImageFormat::Png,
        ),
        "aspect_ratio",
    );
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

    // val: valid images and the 1×4,000,000 strip.
    let mut va = Writer::new(data.join("val/a"));
    va.valid("v0.jpg", &jpeg);
    va.valid("v1.png", &png);
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
        &encode(
            DynamicImage::ImageLuma8(image::GrayImage::new(1, 4_000_000)),
            ImageFormat::Png,
        ),
        "aspect_ratio",
    );
    vb.bad("truncated.jpg", &jpeg[..jpeg.len() / 2], "truncated");

    // flips: JPEG bit flips and JPEG signatures followed by random bytes.
    let flips = root.join("flips").join("x");
    std::fs::create_dir_all(&flips).expect("mkdir");
    let scan = jpeg_scan_start(&jpeg);
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

// --- PNG by hand -------------------------------------------------------------------------

fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for part in parts {
        for &byte in *part {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
    }
    !crc
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// A zlib stream of stored (uncompressed) deflate blocks.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let mut blocks = data.chunks(65_535).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xFF, 0xFF]);
    }
    while let Some(block) = blocks.next() {
        out.push(u8::from(blocks.peek().is_none()));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
}

/// Packs samples of `depth` bits (≤ 8) MSB first, a row at a time.
fn pack_row(samples: &[u8], depth: u8) -> Vec<u8> {
    if depth == 8 {
        return samples.to_vec();
    }
    let mut out = vec![0u8; (samples.len() * depth as usize).div_ceil(8)];
    for (i, &s) in samples.iter().enumerate() {
        let bit = i * depth as usize;
        out[bit / 8] |= (s & ((1 << depth) - 1)) << (8 - depth as usize - bit % 8);
    }
    out
}

/// A PNG of `depth`-bit samples of colour type `color` (0 gray, 2 RGB, 3 palette; for RGB the
/// sample function gives the value of every channel), Adam7-interlaced or not, rows unfiltered.
fn png_from_samples(
    w: u32,
    h: u32,
    depth: u8,
    color: u8,
    interlaced: bool,
    extra: &[(&[u8; 4], Vec<u8>)],
    sample: impl Fn(u32, u32) -> u8,
) -> Vec<u8> {
    let per_pixel = if color == 2 { 3 } else { 1 };
    let mut raw = Vec::new();
    let row = |xs: &mut dyn Iterator<Item = u32>, y: u32, raw: &mut Vec<u8>| {
        let samples: Vec<u8> = xs
            .flat_map(|x| std::iter::repeat_n(sample(x, y), per_pixel))
            .collect();
        raw.push(0);
        raw.extend(pack_row(&samples, depth));
    };
    if interlaced {
        for (x0, dx, y0, dy) in [
            (0, 8, 0, 8),
            (4, 8, 0, 8),
            (0, 4, 4, 8),
            (2, 4, 0, 4),
            (0, 2, 2, 4),
            (1, 2, 0, 2),
            (0, 1, 1, 2),
        ] {
            if x0 >= w || y0 >= h {
                continue;
            }
            for y in (y0..h).step_by(dy) {
                row(&mut (x0..w).step_by(dx as usize), y, &mut raw);
            }
        }
    } else {
        for y in 0..h {
            row(&mut (0..w), y, &mut raw);
        }
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[depth, color, 0, 0, u8::from(interlaced)]);
    chunk(&mut out, b"IHDR", &ihdr);
    for (kind, data) in extra {
        chunk(&mut out, kind, data);
    }
    chunk(&mut out, b"IDAT", &zlib_stored(&raw));
    chunk(&mut out, b"IEND", &[]);
    out
}

fn raw_png(
    w: u32,
    h: u32,
    depth: u8,
    color: u8,
    interlaced: bool,
    sample: impl Fn(u32, u32) -> u8,
) -> Vec<u8> {
    png_from_samples(w, h, depth, color, interlaced, &[], sample)
}

/// An indexed-colour PNG of `depth` bits with a 16-entry palette (and transparency).
fn palette_png(w: u32, h: u32, depth: u8, trns: bool) -> Vec<u8> {
    let palette: Vec<u8> = (0..16u8)
        .flat_map(|i| [i * 16, 255 - i * 16, i * 7])
        .collect();
    let mut extra: Vec<(&[u8; 4], Vec<u8>)> = vec![(b"PLTE", palette)];
    if trns {
        extra.push((b"tRNS", (0..16u8).map(|i| i * 17).collect()));
    }
    png_from_samples(w, h, depth, 3, false, &extra, |x, y| {
        ((x + 3 * y) % 16) as u8
    })
}

/// `png` with its IHDR saying `w × h` (CRC fixed).
fn with_png_size(png: &[u8], w: u32, h: u32) -> Vec<u8> {
    let mut out = png.to_vec();
    out[16..20].copy_from_slice(&w.to_be_bytes());
    out[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&[&out[12..29]]);
    out[29..33].copy_from_slice(&crc.to_be_bytes());
    out
}

// --- JPEG by hand ------------------------------------------------------------------------

/// The Adobe APP14 colour transform of a hand-written JPEG.
#[derive(Clone, Copy, PartialEq)]
enum Adobe {
    /// No APP14 segment (1 component: gray, 3: YCbCr).
    None,
    /// APP14 with transform 0: four components are CMYK.
    Cmyk,
}

struct Bits {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u32, len: u32) {
        for i in (0..len).rev() {
            self.acc = (self.acc << 1) | ((value >> i) & 1);
            self.n += 1;
            if self.n == 8 {
                let byte = self.acc as u8;
                self.out.push(byte);
                if byte == 0xFF {
                    self.out.push(0);
                }
                self.acc = 0;
                self.n = 0;
            }
        }
    }

    fn finish(mut self) -> Vec<u8> {
        while self.n != 0 {
            self.put(1, 1);
        }
        self.out
    }
}

/// A DC difference: its category (4-bit Huffman code: the category itself) and extra bits.
fn put_dc(bits: &mut Bits, diff: i32) {
    let category = 32 - diff.unsigned_abs().leading_zeros();
    bits.put(category, 4);
    if category > 0 {
        let extra = if diff < 0 {
            diff + (1 << category) - 1
        } else {
            diff
        };
        bits.put(extra as u32, category);
    }
}

fn segment(out: &mut Vec<u8>, marker: u8, data: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&((data.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(data);
}

/// A `w × h` JPEG of one flat value per component (every 8×8 block has only its DC
/// coefficient), baseline or progressive (a DC scan of every component, then one AC scan per
/// component coding end-of-band runs).
fn flat_jpeg(w: u16, h: u16, values: &[u8], adobe: Adobe, progressive: bool) -> Vec<u8> {
    let nc = values.len();
    let blocks = usize::from(w.div_ceil(8)) * usize::from(h.div_ceil(8));
    let mut out = vec![0xFF, 0xD8];
    if adobe == Adobe::Cmyk {
        segment(
            &mut out,
            0xEE,
            &[b'A', b'd', b'o', b'b', b'e', 0, 100, 0, 0, 0, 0, 0],
        );
    }
    let mut dqt = vec![0u8];
    dqt.extend([1u8; 64]);
    segment(&mut out, 0xDB, &dqt);
    let mut sof = vec![8];
    sof.extend_from_slice(&h.to_be_bytes());
    sof.extend_from_slice(&w.to_be_bytes());
    sof.push(nc as u8);
    for c in 0..nc {
        sof.extend_from_slice(&[c as u8 + 1, 0x11, 0]);
    }
    segment(&mut out, if progressive { 0xC2 } else { 0xC0 }, &sof);
    // DC table 0: categories 0..=11, all 4-bit codes (code = category).
    let mut dht = vec![0x00];
    let mut counts = [0u8; 16];
    counts[3] = 12;
    dht.extend_from_slice(&counts);
    dht.extend(0..12u8);
    // AC table 0: one 2-bit code, "00", for symbol 0x00 (end of block / a run of one block).
    dht.push(0x10);
    let mut counts = [0u8; 16];
    counts[1] = 1;
    dht.extend_from_slice(&counts);
    dht.push(0x00);
    segment(&mut out, 0xC4, &dht);
    let dc = |v: u8| (i32::from(v) - 128) * 8;
    let sos = |out: &mut Vec<u8>, comps: &[usize], ss: u8, se: u8| {
        let mut s = vec![comps.len() as u8];
        for &c in comps {
            s.extend_from_slice(&[c as u8 + 1, 0x00]);
        }
        s.extend_from_slice(&[ss, se, 0]);
        segment(out, 0xDA, &s);
    };
    let all: Vec<usize> = (0..nc).collect();
    if progressive {
        sos(&mut out, &all, 0, 0);
        let mut bits = Bits {
            out: Vec::new(),
            acc: 0,
            n: 0,
        };
        for block in 0..blocks {
            for &v in values {
                put_dc(&mut bits, if block == 0 { dc(v) } else { 0 });
            }
        }
        out.extend(bits.finish());
        for c in 0..nc {
            sos(&mut out, &[c], 1, 63);
            let mut bits = Bits {
                out: Vec::new(),
                acc: 0,
                n: 0,
            };
            for _ in 0..blocks {
                bits.put(0, 2);
            }
            out.extend(bits.finish());
        }
    } else {
        sos(&mut out, &all, 0, 63);
        let mut bits = Bits {
            out: Vec::new(),
            acc: 0,
            n: 0,
        };
        for block in 0..blocks {
            for &v in values {
                put_dc(&mut bits, if block == 0 { dc(v) } else { 0 });
                bits.put(0, 2);
            }
        }
        out.extend(bits.finish());
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

/// Where a JPEG's first scan's data begins.
fn jpeg_scan_start(jpeg: &[u8]) -> usize {
    let mut i = 2;
    while i + 4 <= jpeg.len() {
        let len = usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]));
        if jpeg[i + 1] == 0xDA {
            return i + 2 + len;
        }
        i += 2 + len;
    }
    jpeg.len()
}

/// `jpeg` with its frame header saying `w × h`.
fn with_jpeg_size(jpeg: &[u8], w: u16, h: u16) -> Vec<u8> {
    let mut out = jpeg.to_vec();
    let mut i = 2;
    while i + 9 <= out.len() {
        let marker = out[i + 1];
        let len = usize::from(u16::from_be_bytes([out[i + 2], out[i + 3]]));
        if matches!(marker, 0xC0..=0xC2) {
            out[i + 5..i + 7].copy_from_slice(&h.to_be_bytes());
            out[i + 7..i + 9].copy_from_slice(&w.to_be_bytes());
            return out;
        }
        i += 2 + len;
    }
    panic!("no frame header")
}
