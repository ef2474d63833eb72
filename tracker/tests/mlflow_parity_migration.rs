//! A version-1 database (as released, before dataset inputs) opened by the current daemon:
//! migrated to the current schema without losing a row, then taking dataset inputs and
//! experiment deletes as MLflow does.

mod common;

use common::store_at;
use tracker::store::ArtifactUris;

/// Schema version 1 as released (before dataset inputs), frozen here: the migration to the
/// current version must keep every row of it. `params` and `tags` share one shape, as do
/// `metrics` and `latest_metrics` (which differ in their key).
fn schema_v1() -> String {
    let key_value = |table: &str| {
        format!(
            "CREATE TABLE {table} (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        key    TEXT NOT NULL,
        value  TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX {table}_by_key ON {table}(key, value);"
        )
    };
    let points = |table: &str, primary_key: &str| {
        format!(
            "CREATE TABLE {table} (
        run_id    TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        key       TEXT NOT NULL,
        step      INTEGER NOT NULL,
        timestamp INTEGER NOT NULL,
        value     REAL NOT NULL,
        is_nan    INTEGER NOT NULL,
        PRIMARY KEY ({primary_key})
    ) WITHOUT ROWID;"
        )
    };
    format!(
        "
    CREATE TABLE experiments (
        experiment_id     INTEGER PRIMARY KEY,
        name              TEXT NOT NULL UNIQUE,
        artifact_location TEXT NOT NULL,
        lifecycle_stage   TEXT NOT NULL DEFAULT 'active',
        creation_time     INTEGER,
        last_update_time  INTEGER
    );
    CREATE TABLE experiment_tags (
        experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id) ON DELETE CASCADE,
        key           TEXT NOT NULL,
        value         TEXT NOT NULL,
        PRIMARY KEY (experiment_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE runs (
        run_id          TEXT PRIMARY KEY,
        experiment_id   INTEGER NOT NULL REFERENCES experiments(experiment_id),
        run_name        TEXT NOT NULL DEFAULT '',
        user_id         TEXT NOT NULL DEFAULT '',
        status          TEXT NOT NULL,
        start_time      INTEGER,
        end_time        INTEGER,
        lifecycle_stage TEXT NOT NULL DEFAULT 'active',
        artifact_uri    TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX runs_by_experiment ON runs(experiment_id, start_time DESC, run_id);
    {params}
    {tags}
    {metrics}
    {latest_metrics}
    CREATE INDEX latest_metrics_by_key ON latest_metrics(key, value);
",
        params = key_value("params"),
        tags = key_value("tags"),
        metrics = points("metrics", "run_id, key, step, timestamp, value, is_nan"),
        latest_metrics = points("latest_metrics", "run_id, key"),
    )
}

#[test]
fn a_version_1_database_keeps_its_data_and_takes_dataset_inputs_and_experiment_deletes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("old.db");
    let run_id = "0123456789abcdef0123456789abcdef";
    let old = rusqlite::Connection::open(&db).expect("opens");
    old.execute_batch(&schema_v1()).expect("schema v1");
    old.execute_batch(&format!(
        "INSERT INTO experiments VALUES (0, 'Default', 'mlflow-artifacts:/0', 'active', 1, 1),
                                        (1, 'old', 'mlflow-artifacts:/1', 'active', 2, 2);
         INSERT INTO experiment_tags VALUES (1, 'team', 'vision');
         INSERT INTO runs VALUES ('{run_id}', 1, 'r', 'u', 'FINISHED', 10, 20, 'active',
                                  'mlflow-artifacts:/1/{run_id}/artifacts');
         INSERT INTO params VALUES ('{run_id}', 'lr', '0.1');
         INSERT INTO tags VALUES ('{run_id}', 'mlflow.runName', 'r');
         INSERT INTO metrics VALUES ('{run_id}', 'loss', 0, 5, 0.5, 0),
                                    ('{run_id}', 'loss', 1, 6, 0.25, 0);
         INSERT INTO latest_metrics VALUES ('{run_id}', 'loss', 1, 6, 0.25, 0);
         PRAGMA user_version = 1;"
    ))
    .expect("version 1 rows");
    drop(old);

    let open = || store_at(&db, ArtifactUris::Served);
    let store = open();
    let version: i64 = rusqlite::Connection::open(&db)
        .expect("opens")
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, tracker::store::SCHEMA_VERSION);
    // Every version-1 row is still there.
    let run = store.get_run(run_id).expect("the old run");
    assert_eq!(
        (
            run.info.run_name.as_str(),
            run.info.status.as_str(),
            run.info.end_time
        ),
        ("r", "FINISHED", Some(20))
    );
    assert_eq!(run.data.param("lr"), Some("0.1"));
    assert_eq!(run.data.tag("mlflow.runName"), Some("r"));
    assert_eq!(run.data.metric("loss"), Some(0.25));
    let history = store.metric_history(run_id, "loss").expect("history");
    assert_eq!(
        history
            .iter()
            .map(|m| (m.step, m.value))
            .collect::<Vec<_>>(),
        [(0, 0.5), (1, 0.25)]
    );
    let experiment = store.get_experiment("1").expect("the old experiment");
    assert_eq!(
        (experiment.name.as_str(), experiment.tags.len()),
        ("old", 1)
    );
    // The new tables take the old run's inputs; experiment delete reaches its runs.
    let input = tracker::entities::DatasetInput {
        tags: vec![tracker::entities::InputTag {
            key: "mlflow.data.context".into(),
            value: "train".into(),
        }],
        dataset: tracker::entities::Dataset {
            name: "fmnist".into(),
            digest: "d1".into(),
            source_type: "local".into(),
            source: "/data".into(),
            schema: None,
            profile: None,
        },
    };
    store
        .log_inputs(run_id, vec![input.clone()])
        .expect("inputs logged");
    store.delete_experiment("1").expect("deleted");
    assert_eq!(
        store.get_run(run_id).expect("run").info.lifecycle_stage,
        "deleted"
    );
    store.restore_experiment("1").expect("restored");
    drop(store);
    // Opened again: nothing migrates twice, and the inputs stayed.
    let store = open();
    let inputs = store.run_inputs(&[run_id.to_string()]).expect("inputs");
    assert_eq!(inputs[run_id].dataset_inputs, [input]);
    assert_eq!(
        store.metric_history(run_id, "loss").expect("history").len(),
        2
    );
}
