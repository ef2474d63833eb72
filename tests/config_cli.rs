//! `track pipeline` reads its config as `track train` does: `--config FILE`, then `--set`
//! overrides, then its own flags as shorthands.

use crate::util::{DATA, json, tempdir, track};

#[test]
fn pipeline_takes_a_config_file_and_set_overrides() {
    let dir = tempdir();
    let config = dir.path().join("run.toml");
    let path = serde_json::to_string(DATA).expect("a TOML string");
    std::fs::write(
        &config,
        format!("[data]\npath = {path}\nlimit = 48\n\n[loader]\nbatch_size = 16\n"),
    )
    .expect("config written");
    let pipeline = |extra: &[&str]| {
        track()
            .args(["--quiet", "pipeline", "--json", "--config"])
            .arg(&config)
            .args(extra)
            .current_dir(dir.path())
            .output()
            .expect("track runs")
    };
    // The file, then --set over it, then a shorthand flag over --set.
    let cases: [(&[&str], u64, u64); 3] = [
        (&[], 16, 48),
        (
            &["--set", "loader.batch_size=8", "--set", "data.limit=24"],
            8,
            24,
        ),
        (
            &["--set", "loader.batch_size=8", "--batch-size", "4"],
            4,
            48,
        ),
    ];
    for (extra, batch_size, samples) in cases {
        let report = json(&pipeline(extra));
        assert_eq!(report["batch_size"], batch_size, "{extra:?}");
        assert_eq!(report["samples"], samples, "{extra:?}");
    }
    // A misspelt key is refused, named.
    let bad = pipeline(&["--set", "loader.batch_sise=8"]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("batch_sise"), "{stderr}");
}
