//! The fuzz campaign's corrupt-image corpus (see `corpus`), written at test time and run through
//! `track pipeline` and `track train`: every hostile file is a counted skip with its expected
//! reason, every valid image loads, both commands exit 0, and the pipeline's peak resident
//! memory stays under [`PEAK_RSS_BOUND`].

#![cfg(unix)]

mod corpus;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::util::{data_path, json, sets, tempdir, track};

/// The memory bound on hostile input: `track pipeline` over the whole corpus (with the default
/// limits: 50 Mpixel, 64 MiB files, 50:1) peaks below this resident size. The largest single
/// cost is the valid 6000×6000 PNG that inflates 36 MB (108 MB once RGB); without the fixes, the
/// 1 GiB sparse file alone took 1 GiB, the link to `/dev/zero` all memory, the 1×4,000,000
/// strip 16 GB.
const PEAK_RSS_BOUND: u64 = 384 << 20;

/// `track`, run from `cwd`, caching data set statistics in `cwd/cache`.
fn track_in(cwd: &Path) -> Command {
    let mut command = track();
    command
        .current_dir(cwd)
        .env("GAPWATCH_CACHE_DIR", cwd.join("cache"));
    command
}

/// The JSON report of `track pipeline --data DATA FLAGS... --json --quiet`, run from `cwd`.
#[track_caller]
fn pipeline(data: &str, flags: &[&str], cwd: &Path) -> Value {
    let output = track_in(cwd)
        .args(["pipeline", "--data", data])
        .args(flags)
        .args(["--json", "--quiet"])
        .output()
        .expect("run track");
    json(&output)
}

fn skipped(report: &Value) -> BTreeMap<String, u64> {
    report["skipped"]
        .as_object()
        .expect("skipped")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("a count")))
        .collect()
}

fn named(map: &BTreeMap<&'static str, u64>) -> BTreeMap<String, u64> {
    map.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn hostile_corpus_through_track_pipeline_and_train_skips_each_file_by_reason() {
    let tmp = tempdir();
    let corpus = corpus::write(tmp.path());
    let data = corpus.data.to_str().expect("a UTF-8 temp path");

    // Training split: every flavour of valid image loads; each hostile file is skipped for its
    // reason; nothing hangs (the FIFO), nothing reads a gigabyte (the sparse file, /dev/zero).
    let train = pipeline(data, &["--split", "train"], tmp.path());
    assert_eq!(
        skipped(&train),
        named(&corpus.train_skips),
        "training skips by reason"
    );
    assert_eq!(
        train["samples"], corpus.train_valid,
        "every valid training image loads"
    );
    let peak = train["peak_rss_bytes"]
        .as_u64()
        .expect("peak_rss_bytes on Linux");
    assert!(
        peak < PEAK_RSS_BOUND,
        "peak resident memory {} MiB, bound {} MiB",
        peak >> 20,
        PEAK_RSS_BOUND >> 20
    );

    // Decoded at a reduced scale where the chain allows (`data.decode_scale = "auto"`, 2×2
    // outputs: the 48×32, 24×16 and 9×20 JPEGs, progressive ones and the truncated and flipped
    // copies included, decode at 1/8 or 1/4, CMYK ones at full size): the same files load, the
    // same are skipped.
    let reduced = pipeline(
        data,
        &[
            "--split",
            "train",
            "--size",
            "2",
            "--set",
            "data.decode_scale=\"auto\"",
        ],
        tmp.path(),
    );
    assert_eq!(
        skipped(&reduced),
        named(&corpus.train_skips),
        "training skips by reason, reduced-scale decoding"
    );
    assert_eq!(reduced["samples"], corpus.train_valid);

    // Validation split (the eval resize): the 1×4,000,000 strip is skipped, not resized.
    let val = pipeline(data, &["--split", "val"], tmp.path());
    assert_eq!(
        skipped(&val),
        named(&corpus.val_skips),
        "validation skips by reason"
    );
    assert_eq!(val["samples"], corpus.val_valid);
    let peak = val["peak_rss_bytes"]
        .as_u64()
        .expect("peak_rss_bytes on Linux");
    assert!(peak < PEAK_RSS_BOUND, "validation peak {} MiB", peak >> 20);

    // Bit flips and random bytes after a signature: each loads or is skipped, none crashes.
    let flips = corpus.flips.to_str().expect("UTF-8");
    let report = pipeline(flips, &["--no-val"], tmp.path());
    let flip_skips = skipped(&report);
    let loaded = report["samples"].as_u64().expect("samples");
    assert_eq!(
        loaded + flip_skips.values().sum::<u64>(),
        corpus.flip_files,
        "{flip_skips:?}"
    );
    for reason in flip_skips.keys() {
        assert!(
            ["truncated", "not_an_image", "too_large", "aspect_ratio"].contains(&reason.as_str()),
            "a bit flip skipped as {reason}"
        );
    }
    // The same at a reduced scale: nothing crashes, every file is counted.
    let reduced = pipeline(
        flips,
        &[
            "--no-val",
            "--size",
            "2",
            "--set",
            "data.decode_scale=\"auto\"",
        ],
        tmp.path(),
    );
    let reduced_skips: u64 = skipped(&reduced).values().sum();
    assert_eq!(
        reduced["samples"].as_u64().expect("samples") + reduced_skips,
        corpus.flip_files
    );

    // A short training run over the same folder finishes and counts the skips of its splits.
    let db = tmp.path().join("track.db");
    let out = track_in(tmp.path())
        .args(["train", "--quiet", "--json", "--tracking-uri"])
        .arg(&db)
        .arg("--checkpoint-dir")
        .arg(tmp.path().join("checkpoints"))
        .args(sets(&[
            &data_path(data),
            "train.epochs=1",
            "transforms.size=32",
            "model.conv_channels=[4]",
            "model.dense_units=[8]",
        ]))
        .output()
        .expect("run track");
    let run = json(&out);
    assert_eq!(run["status"], "FINISHED");
    let epoch_skips = run["epochs"][0]["skipped_samples"]
        .as_f64()
        .expect("skipped_samples");
    let split_skips: u64 =
        corpus.train_skips.values().sum::<u64>() + corpus.val_skips.values().sum::<u64>();
    assert!(
        epoch_skips >= split_skips as f64,
        "the epoch skipped {epoch_skips}, the training and validation splits hold {split_skips} bad files"
    );
}
