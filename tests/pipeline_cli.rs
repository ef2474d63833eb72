//! `track pipeline` and `track stats` run as a user runs them: the built binary on real files.

use std::path::Path;
use std::process::{Command, Output};

fn track(args: &[&str], cwd: &Path, cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_track"))
        .args(args)
        .current_dir(cwd)
        .env("GAPWATCH_CACHE_DIR", cache)
        .env_remove("TRACK_LOG")
        .output()
        .expect("run track")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn pipeline_json_reports_stages_bottleneck_and_a_worker_independent_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
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
    let one = json(&track(&args("1"), repo, tmp.path()));
    let three = json(&track(&args("3"), repo, tmp.path()));
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
        json(&track(&other, repo, tmp.path()))["digest"],
        one["digest"]
    );
}

#[test]
fn pipeline_on_error_fail_exits_2_naming_the_file_and_skip_counts_it() {
    let tmp = tempfile::tempdir().unwrap();
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
    let out = track(
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

    let out = track(
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
    let out = track(
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
    let tmp = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let preview = tmp.path().join("grid.png");
    let out = track(
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

    let out = track(
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
    let out = track(&["stats", "--data", "data/missing-set"], repo, tmp.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing-set"));
}
