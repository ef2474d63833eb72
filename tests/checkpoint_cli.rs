//! Where `track train`'s checkpoints end up: once in the run's artifacts, not also in a
//! temporary folder that nobody deletes (`gapwatch-runs` in the system temp directory once grew
//! to 659 MB), and readable as any file `File::create` makes (not owner-only 0600).

use std::path::{Path, PathBuf};

use crate::util::{DATA, Daemon, TestResult, data_path, json, sets, track};

/// The stored artifact `path` of run `run_id` under a daemon's artifact root.
fn stored_artifact(root: &Path, run_id: &str, path: &str) -> Option<PathBuf> {
    std::fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .map(|experiment| experiment.path().join(run_id).join("artifacts").join(path))
        .find(|p| p.is_file())
}

#[test]
fn train_removes_its_temporary_checkpoints_once_uploaded_and_stores_readable_files() -> TestResult {
    let dir = tempfile::tempdir()?;
    let daemon = Daemon::start(&dir.path().join("track.db"));
    // The system temp directory of `track train` (std::env::temp_dir reads TMPDIR).
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp)?;
    // No TRACK_CHECKPOINT_DIR (scrubbed): the default temporary checkpoint folder.
    let summary = json(
        &track()
            .env("TMPDIR", &tmp)
            .args(["train", "--quiet", "--json", "--tracking-uri", daemon.url()])
            .args(sets(&[
                &data_path(DATA),
                "data.limit=96",
                "train.epochs=1",
                "model.conv_channels=[4]",
                "model.dense_units=[16]",
            ]))
            .output()?,
    );
    assert_eq!(summary["status"], "FINISHED");
    let run_id = summary["run_id"].as_str().ok_or("no run id")?;

    // The checkpoints are in the run's artifacts...
    let artifacts = dir.path().join("track-artifacts");
    let last = stored_artifact(&artifacts, run_id, "checkpoints/last.safetensors")
        .ok_or("no stored checkpoints/last.safetensors")?;
    assert!(stored_artifact(&artifacts, run_id, "checkpoints/best.safetensors").is_some());
    // ...and not kept a second time in the temp directory.
    let local = tmp.join("gapwatch-runs").join(run_id);
    assert!(
        !local.exists(),
        "{} still holds a copy of the checkpoints",
        local.display()
    );

    // A stored artifact has the mode `File::create` gives, not a temporary file's 0600.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let reference = dir.path().join("reference");
        std::fs::File::create(&reference)?;
        let mode = |p: &Path| -> std::io::Result<u32> {
            Ok(std::fs::metadata(p)?.permissions().mode() & 0o777)
        };
        assert_ne!(
            mode(&reference)? & 0o044,
            0,
            "the test's umask hides nothing"
        );
        assert_eq!(mode(&last)?, mode(&reference)?, "{}", last.display());
    }
    Ok(())
}
