//! Hostile files in a data set: FIFOs, links to devices, sparse giants, symlink loops, files that
//! report one size and hold more. Each is a counted skip with its own reason, read with a bound
//! or never opened: nothing hangs, nothing reads a gigabyte.

#![cfg(unix)]
#![allow(clippy::unwrap_used)] // Test helpers: a panic is the failure report.

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::Path;

use pipeline::config::{Normalize, PipelineConfig, ValSource};
use pipeline::decode::{SkipReason, read_file};
use pipeline::{Dataset, Loader, Split};

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

fn small_jpeg() -> Vec<u8> {
    let img = image::RgbImage::from_fn(16, 12, |x, y| image::Rgb([x as u8 * 15, y as u8 * 20, 9]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

#[test]
fn read_file_checks_kind_and_size_before_reading_and_reads_with_a_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let reason = |name: &str, max: u64| read_file(&d.join(name), max).unwrap_err().reason;

    std::fs::write(d.join("ok.jpg"), small_jpeg()).unwrap();
    assert_eq!(read_file(&d.join("ok.jpg"), 1 << 20).unwrap(), small_jpeg());

    // A FIFO would block `open` until a writer came: never opened.
    mkfifo(&d.join("fifo.jpg"));
    assert_eq!(reason("fifo.jpg", 1 << 20), SkipReason::NotAFile);
    // A link to /dev/zero would read forever: a character device, never opened.
    symlink("/dev/zero", d.join("zero.jpg")).unwrap();
    assert_eq!(reason("zero.jpg", 1 << 20), SkipReason::NotAFile);
    std::fs::create_dir(d.join("dir.jpg")).unwrap();
    assert_eq!(reason("dir.jpg", 1 << 20), SkipReason::NotAFile);
    // A sparse 1 GiB file: refused from its metadata (reading it would cost 1 GiB).
    let sparse = std::fs::File::create(d.join("sparse.jpg")).unwrap();
    sparse.set_len(1 << 30).unwrap();
    let e = read_file(&d.join("sparse.jpg"), 64 << 20).unwrap_err();
    assert_eq!(e.reason, SkipReason::FileTooLarge);
    assert!(e.detail.contains("data.max_file_mb"), "{}", e.detail);
    // A file whose metadata says 0 bytes but that holds more: the read itself is bounded.
    symlink("/proc/self/status", d.join("proc.jpg")).unwrap();
    assert_eq!(reason("proc.jpg", 16), SkipReason::FileTooLarge);
    // Symlink loops and dangling links: unreadable, with the system's reason.
    symlink(d.join("loop-b.jpg"), d.join("loop-a.jpg")).unwrap();
    symlink(d.join("loop-a.jpg"), d.join("loop-b.jpg")).unwrap();
    symlink(d.join("self.jpg"), d.join("self.jpg")).unwrap();
    for name in ["loop-a.jpg", "self.jpg"] {
        let e = read_file(&d.join(name), 1 << 20).unwrap_err();
        assert_eq!(e.reason, SkipReason::Unreadable, "{name}");
        assert!(e.detail.contains("symbolic links"), "{name}: {}", e.detail);
    }
}

#[test]
fn a_folder_of_hostile_files_finishes_and_counts_each_by_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    let good = root.join("good");
    let bad = root.join("bad");
    std::fs::create_dir_all(&good).unwrap();
    std::fs::create_dir_all(&bad).unwrap();
    for i in 0..3 {
        std::fs::write(good.join(format!("{i}.jpg")), small_jpeg()).unwrap();
        std::fs::write(bad.join(format!("ok{i}.jpg")), small_jpeg()).unwrap();
    }
    mkfifo(&bad.join("fifo.jpg"));
    symlink("/dev/zero", bad.join("zero.jpg")).unwrap();
    std::fs::File::create(bad.join("sparse.jpg"))
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    symlink(bad.join("loop.jpg"), bad.join("loop.jpg")).unwrap();
    // A 1×4,000,000 strip, under max_pixels: refused from its header, before decoding.
    image::GrayImage::new(1, 4_000_000)
        .save(bad.join("strip.png"))
        .unwrap();
    // A valid JPEG with 4097 bytes after its end marker: loads.
    let mut trailing = small_jpeg();
    trailing.extend(std::iter::repeat_n(0u8, 4097));
    std::fs::write(bad.join("trailing.jpg"), trailing).unwrap();

    let mut c = PipelineConfig::default();
    c.data.path = root.clone();
    c.data.val_source = ValSource::None;
    c.transforms.size = Some(16);
    c.transforms.normalize = Normalize::None;
    let ds = Dataset::open(&c.data).unwrap();
    let loader = Loader::eval(&ds, Split::Train, &c).unwrap();
    let mut running = loader.epoch(0).unwrap();
    let emitted: usize = running.by_ref().map(|b| b.unwrap().num_rows()).sum();
    let report = running.join().unwrap();
    assert_eq!(
        report.skipped,
        BTreeMap::from([
            (SkipReason::Unreadable, 1),
            (SkipReason::NotAFile, 2),
            (SkipReason::FileTooLarge, 1),
            (SkipReason::AspectRatio, 1),
        ])
    );
    assert_eq!(
        emitted, 7,
        "six small JPEGs and the one with trailing bytes"
    );
}

#[test]
fn limits_are_config_keys_validated_with_their_names() {
    let mut c = PipelineConfig::default();
    c.data.max_aspect_ratio = 0.5;
    let e = c.data.validate().unwrap_err().to_string();
    assert!(e.contains("data.max_aspect_ratio"), "{e}");
    c.data.max_aspect_ratio = f64::NAN;
    assert!(c.data.validate().is_err());
    c.data.max_aspect_ratio = 50.0;
    c.data.max_file_mb = 0;
    let e = c.data.validate().unwrap_err().to_string();
    assert!(e.contains("data.max_file_mb"), "{e}");
}
