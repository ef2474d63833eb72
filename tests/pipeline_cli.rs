//! `track pipeline` and `track stats` run as a user runs them: the built binary on real files.

use std::path::Path;
use std::process::Output;

use crate::util::{json, repo, tempdir, track};

/// `track ARGS` run from `cwd`, caching data set statistics in `cache`.
fn run(args: &[&str], cwd: &Path, cache: &Path) -> Output {
    track()
        .args(args)
        .current_dir(cwd)
        .env("GAPWATCH_CACHE_DIR", cache)
        .output()
        .expect("run track")
}

#[test]
fn pipeline_json_reports_stages_bottleneck_and_a_worker_independent_digest() {
    let tmp = tempdir();
    let repo = repo();
    // Default data: the bundled set, found from the repository root.
    let args = |w: &'static str| {
        vec![
            "pipeline",
            "--json",
            "--limit",
            "400",
            "--epochs",
            "2",
            "--batch-size",
            "32",
            "--workers",
            w,
            "--seed",
            "5",
        ]
    };
    let one = json(&run(&args("1"), repo, tmp.path()));
    let three = json(&run(&args("3"), repo, tmp.path()));
    assert_eq!(
        one["digest"], three["digest"],
        "same seed, same bytes, whatever the workers"
    );
    assert_eq!(
        one["samples"],
        2 * 400,
        "--limit caps each split at 400; two epochs"
    );
    assert_eq!(one["shape"], serde_json::json!([1, 28, 28]));
    let stages: Vec<&str> = one["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["read", "decode", "augment", "batch"]);
    assert!(stages.contains(&one["bottleneck"].as_str().unwrap()));
    assert!(one["images_per_sec"].as_f64().unwrap() > 0.0);
    assert!(one["stages"][2]["busy_secs"].as_f64().unwrap() > 0.0);
    // A different seed gives different bytes.
    let mut other = args("1");
    let last = other.len() - 1;
    other[last] = "6";
    assert_ne!(
        json(&run(&other, repo, tmp.path()))["digest"],
        one["digest"]
    );
}

#[test]
fn pipeline_on_error_fail_exits_2_naming_the_file_and_skip_counts_it() {
    let tmp = tempdir();
    let data = tmp.path().join("data");
    for class in ["a", "b"] {
        std::fs::create_dir_all(data.join(class)).unwrap();
        for i in 0..3 {
            image::RgbImage::from_pixel(20, 20, image::Rgb([i * 50, 9, 9]))
                .save(data.join(format!("{class}/{i}.png")))
                .unwrap();
        }
    }
    std::fs::write(data.join("b/broken.jpg"), b"not a jpeg at all").unwrap();
    let d = data.to_str().unwrap();
    let base = [
        "pipeline",
        "--data",
        d,
        "--size",
        "16",
        "--normalize",
        "none",
        "--split",
        "train",
        "--no-val",
    ];
    let out = run(
        &[&base[..], &["--on-error", "fail"]].concat(),
        tmp.path(),
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.jpg") && stderr.contains("not_an_image"),
        "{stderr}"
    );

    let out = run(
        &[&base[..], &["--json", "--quiet"]].concat(),
        tmp.path(),
        tmp.path(),
    );
    let report = json(&out);
    assert_eq!(report["skipped"]["not_an_image"], 1);
    assert_eq!(
        report["samples"], 6,
        "every good image, the broken one skipped"
    );

    // At the default log level, one warning per epoch gives the counts; the file's own line is
    // a debug message.
    let out = run(
        &[&base[..], &["--json", "--quiet", "--epochs", "2"]].concat(),
        tmp.path(),
        tmp.path(),
    );
    json(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("samples skipped"))
        .collect();
    assert_eq!(warnings.len(), 2, "one per epoch: {stderr}");
    assert!(
        warnings.iter().all(|w| w.contains("not_an_image 1")),
        "{stderr}"
    );
    assert!(!stderr.contains("broken.jpg"), "no per-file line: {stderr}");
}

#[test]
fn pipeline_preview_writes_a_png_grid_and_stats_prints_channel_means() {
    let tmp = tempdir();
    let repo = repo();
    let preview = tmp.path().join("grid.png");
    let out = run(
        &[
            "pipeline",
            "--data",
            "data/photos",
            "--size",
            "48",
            "--batch-size",
            "3",
            "--preview",
            preview.to_str().unwrap(),
        ],
        repo,
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let grid = image::open(&preview).unwrap();
    assert!(
        grid.width() >= 48 * 2 && grid.height() >= 48,
        "{}x{}",
        grid.width(),
        grid.height()
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("bottleneck:") && text.contains("digest:"),
        "{text}"
    );

    let out = run(
        &["stats", "--json", "--data", "data/fashion-mnist-mini"],
        repo,
        tmp.path(),
    );
    let stats = json(&out);
    let mean = stats["mean"][0].as_f64().unwrap();
    let std = stats["std"][0].as_f64().unwrap();
    // Fashion-MNIST: mean ≈ 0.286, std ≈ 0.353.
    assert!(
        (0.25..0.32).contains(&mean) && (0.32..0.38).contains(&std),
        "{mean} {std}"
    );
    assert_eq!(stats["images"], 9000);
    let out = run(&["stats", "--data", "data/missing-set"], repo, tmp.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing-set"));
}

#[test]
fn stats_cache_lives_where_the_environment_says_and_is_read_back_from_there() {
    let tmp = tempdir();
    let repo = repo();
    let args = ["stats", "--json", "--limit", "300"];
    // GAPWATCH_CACHE_DIR/stats/<key>.json, read back by the next run.
    let first = json(&run(&args, repo, tmp.path()));
    let files: Vec<_> = std::fs::read_dir(tmp.path().join("stats"))
        .expect("a stats folder in GAPWATCH_CACHE_DIR")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let mut doctored = first.clone();
    doctored["mean"][0] = 0.125.into();
    std::fs::write(&files[0], doctored.to_string()).expect("write the cache file");
    let again = json(&run(&args, repo, tmp.path()));
    assert_eq!(again["mean"][0], 0.125);
    let no_cache = [&args[..], &["--no-cache"]].concat();
    let fresh = json(&run(&no_cache, repo, tmp.path()));
    assert_eq!(fresh["mean"], first["mean"]);
    // Without GAPWATCH_CACHE_DIR: $XDG_CACHE_HOME/gapwatch.
    let xdg = tmp.path().join("xdg");
    let out = track()
        .args(args)
        .current_dir(repo)
        .env("XDG_CACHE_HOME", &xdg)
        .output()
        .expect("run track");
    assert_eq!(json(&out)["mean"], first["mean"]);
    let cached = std::fs::read_dir(xdg.join("gapwatch/stats")).map(Iterator::count);
    assert_eq!(cached.ok(), Some(1));
}
