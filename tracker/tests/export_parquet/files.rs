//! The files themselves: replaced by a new export, named by id whatever the experiment's name,
//! left out when deleted, written for the others when one fails, with the usual permissions.

use std::fs::File;
use std::path::Path;

use tracker::export;
use tracker::store::Store;

use crate::support::*;

#[test]
fn a_new_export_replaces_the_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, experiment_id) = populated_store(dir.path());
    let out = dir.path().join("export");
    let first = export::export_experiment(&store, &experiment_id, &out).expect("first");
    logged_run(&store, &experiment_id, &[val_loss(0.3)], &[]);
    let again = export::export_experiment(&store, &experiment_id, &out).expect("again");
    assert_eq!(
        (again.runs, again.metrics),
        (first.runs + 1, first.metrics + 1)
    );
    assert_eq!(
        read(&file(&out, export::RUNS, &experiment_id)).num_rows(),
        3
    );
    // Every run deleted: the experiment's files are replaced by empty ones, not left stale.
    for run in store
        .experiment_runs(&experiment_id, Default::default())
        .expect("runs")
    {
        store.delete_run(&run.info.run_id).expect("delete");
    }
    export::export_experiment(&store, &experiment_id, &out).expect("emptied");
    for table in export::TABLES {
        assert_eq!(
            read(&file(&out, table, &experiment_id)).num_rows(),
            0,
            "{table}"
        );
    }
}

/// Defect: a name over about 244 bytes once escaped made every experiment's export fail with
/// "File name too long", since the name was the directory's name.
#[test]
fn experiment_names_of_250_bytes_and_100_accented_letters_export() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("runs.db")).expect("store");
    let names = ["n".repeat(250), "é".repeat(100), "a/b=c%d".repeat(70)];
    let mut ids = Vec::new();
    for name in &names {
        let id = store.get_or_create_experiment(name).expect("experiment");
        logged_run(&store, &id, &[val_loss(0.5)], &[]);
        ids.push(id);
    }
    let out = dir.path().join("export");
    let report = export::export_all(&store, &out).expect("export all");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.exported.len(), names.len() + 1, "and Default");
    for (name, id) in names.iter().zip(&ids) {
        for table in export::TABLES {
            let batch = read(&file(&out, table, id));
            assert_eq!(
                strings(&batch, "experiment_name"),
                vec![Some(name.clone()); batch.num_rows()],
                "{table}"
            );
        }
        assert_eq!(read(&file(&out, export::EPOCHS, id)).num_rows(), 1);
    }
}

/// A deleted experiment is left out of an export of every experiment; asked for by id, it
/// exports no run, since deleting it deleted its runs; restored, it exports them again.
#[test]
fn deleted_experiments_and_their_runs_are_left_out_of_the_export() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, experiment_id) = populated_store(dir.path());
    let doomed = store
        .get_or_create_experiment("doomed")
        .expect("experiment");
    logged_run(&store, &doomed, &[val_loss(0.5)], &[]);
    store.delete_experiment(&doomed).expect("deleted");
    let out = dir.path().join("export");
    assert_eq!(export_all_ids(&store, &out), ["0", experiment_id.as_str()]);
    for table in export::TABLES {
        assert!(
            !export::partition_dir(&out, table, &doomed).exists(),
            "{table}"
        );
    }
    let asked = dir.path().join("asked");
    let summary = export::export_experiment(&store, &doomed, &asked).expect("by id");
    assert_eq!((summary.runs, summary.metrics), (0, 0));
    store.restore_experiment(&doomed).expect("restored");
    let summary = export::export_experiment(&store, &doomed, &asked).expect("restored");
    assert_eq!((summary.runs, summary.metrics), (1, 1));
}

/// One experiment that cannot be written does not stop the others.
#[test]
fn a_failing_experiment_is_reported_and_the_others_are_exported() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, experiment_id) = populated_store(dir.path());
    let out = dir.path().join("export");
    // A plain file where the experiment's partition directory of the params table goes.
    let blocker = export::partition_dir(&out, export::PARAMS, &experiment_id);
    std::fs::create_dir_all(blocker.parent().expect("parent")).expect("table dir");
    std::fs::write(&blocker, b"not a directory").expect("blocker");
    let report = export::export_all(&store, &out).expect("export all");
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    assert_eq!(report.failed[0].experiment_id, experiment_id);
    assert!(
        report.failed[0]
            .error
            .to_string()
            .contains("experiment_id="),
        "names the file: {}",
        report.failed[0].error
    );
    let exported: Vec<&str> = report
        .exported
        .iter()
        .map(|s| s.experiment_id.as_str())
        .collect();
    assert_eq!(exported, ["0"]);
    for table in export::TABLES {
        assert!(file(&out, table, "0").is_file(), "{table}");
    }
}

/// Exported files get the permissions `File::create` gives (0644 under the usual umask), not the
/// owner-only 0600 of a temporary file.
#[cfg(unix)]
#[test]
fn exported_files_have_the_permissions_file_create_gives() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, experiment_id) = populated_store(dir.path());
    let out = dir.path().join("export");
    let summary = export::export_experiment(&store, &experiment_id, &out).expect("export");
    let reference = dir.path().join("reference");
    File::create(&reference).expect("create");
    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_ne!(
        mode(&reference) & 0o044,
        0,
        "the test's umask hides nothing"
    );
    for path in &summary.files {
        assert_eq!(mode(path), mode(&reference), "{}", path.display());
    }
}
