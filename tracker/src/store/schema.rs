//! The SQLite schema and its migrations, versioned with `PRAGMA user_version`.
//!
//! Migration `n` (1-based) brings a database from version `n - 1` to `n`; each runs in its own
//! transaction together with the version bump, so a crash leaves either version.

use rusqlite::Connection;

/// Migrations, in order. Never edit a released one: append a new one.
pub const MIGRATIONS: &[&str] = &[
    // 1: experiments, runs, params, tags, metrics and the latest value of each metric.
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
    CREATE TABLE params (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        key    TEXT NOT NULL,
        value  TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX params_by_key ON params(key, value);
    CREATE TABLE tags (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        key    TEXT NOT NULL,
        value  TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX tags_by_key ON tags(key, value);
    -- NaN cannot be stored in a REAL column: it is value 0 with is_nan 1, as MLflow stores it.
    CREATE TABLE metrics (
        run_id    TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        key       TEXT NOT NULL,
        step      INTEGER NOT NULL,
        timestamp INTEGER NOT NULL,
        value     REAL NOT NULL,
        is_nan    INTEGER NOT NULL,
        PRIMARY KEY (run_id, key, step, timestamp, value, is_nan)
    ) WITHOUT ROWID;
    CREATE TABLE latest_metrics (
        run_id    TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        key       TEXT NOT NULL,
        step      INTEGER NOT NULL,
        timestamp INTEGER NOT NULL,
        value     REAL NOT NULL,
        is_nan    INTEGER NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX latest_metrics_by_key ON latest_metrics(key, value);
    ",
    // 2: dataset inputs (MLflow's datasets, inputs and input_tags, for `runs/log-inputs`).
    "
    CREATE TABLE datasets (
        dataset_id      INTEGER PRIMARY KEY,
        experiment_id   INTEGER NOT NULL REFERENCES experiments(experiment_id) ON DELETE CASCADE,
        name            TEXT NOT NULL,
        digest          TEXT NOT NULL,
        source_type     TEXT NOT NULL,
        source          TEXT NOT NULL,
        dataset_schema  TEXT,
        dataset_profile TEXT,
        UNIQUE (experiment_id, name, digest)
    );
    -- One row per (run, dataset); the rowid keeps the order the inputs were first logged in.
    CREATE TABLE run_inputs (
        run_id     TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        dataset_id INTEGER NOT NULL REFERENCES datasets(dataset_id) ON DELETE CASCADE,
        UNIQUE (run_id, dataset_id)
    );
    CREATE TABLE input_tags (
        run_id     TEXT NOT NULL,
        dataset_id INTEGER NOT NULL,
        key        TEXT NOT NULL,
        value      TEXT NOT NULL,
        PRIMARY KEY (run_id, dataset_id, key),
        FOREIGN KEY (run_id, dataset_id) REFERENCES run_inputs(run_id, dataset_id) ON DELETE CASCADE
    ) WITHOUT ROWID;
    ",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Applies the missing migrations; returns the version found before. A database newer than this
/// build is refused (the caller reports it) rather than written to.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<i64> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(found)
}
