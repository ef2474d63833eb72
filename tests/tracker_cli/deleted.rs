//! What the tracker's commands show of deleted experiments and runs: nothing, unless asked for
//! with `--view` (`query`, `experiments`) or `--include-deleted` (`export`).

use std::path::Path;

use serde_json::Value;

use super::run::run_track;
use crate::util::ok;

/// `track query --view`, `track experiments --view` and `track export --include-deleted`
/// against `uri`: deleted experiments and runs (made by [`populate`](super::commands::populate)) shown only when asked for.
pub(super) fn exercise_deleted(uri: &str, out: &Path) {
    let names = |args: &[&str]| -> Vec<String> {
        let mut args = args.to_vec();
        args.extend(["--columns", "run_name", "--format", "csv"]);
        let mut names: Vec<String> = ok(&run_track(uri, &args))
            .lines()
            .skip(1)
            .map(String::from)
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&["query", "--view", "deleted"]), ["dropped", "ghost"]);
    assert_eq!(
        names(&["query", "--view", "all"]),
        ["base", "dropped", "ghost", "reg", "tiny"]
    );
    assert_eq!(
        names(&["query", "-e", "cnn", "--view", "deleted"]),
        ["dropped"]
    );
    assert_eq!(names(&["query", "-e", "gone", "--view", "all"]), ["ghost"]);
    let refused = run_track(uri, &["query", "-e", "gone"]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("\"gone\" is deleted") && stderr.contains("--view"),
        "{stderr}"
    );

    let experiments = |view: &str| -> Vec<String> {
        ok(&run_track(
            uri,
            &["experiments", "--view", view, "--format", "csv"],
        ))
        .lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            format!("{}:{}", cells[1], cells[cells.len() - 1])
        })
        .collect()
    };
    assert_eq!(experiments("deleted"), ["gone:deleted"]);
    assert_eq!(
        experiments("all"),
        ["Default:active", "cnn:active", "mlp:active", "gone:deleted"]
    );

    let out_text = out.display().to_string();
    let refused = run_track(uri, &["export", "-e", "gone", "--out", &out_text]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--include-deleted"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let exported = ok(&run_track(
        uri,
        &["export", "--include-deleted", "--out", &out_text, "--json"],
    ));
    let mut runs: Vec<(String, u64)> = exported
        .lines()
        .map(|line| {
            let summary: Value = serde_json::from_str(line).expect("summary");
            (
                summary["experiment_name"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                summary["runs"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    runs.sort();
    assert_eq!(
        runs,
        [
            ("Default".to_string(), 0),
            ("cnn".to_string(), 3),
            ("gone".to_string(), 1),
            ("mlp".to_string(), 1)
        ]
    );
}
