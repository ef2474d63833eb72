"""Read a `track export` directory with one engine, with no options, as an analyst would.

Usage: read_export.py ENGINE DIR, ENGINE one of pandas, polars, duckdb, pyarrow.

Each of the five tables (DIR/<table>, Hive-partitioned by experiment_id) is read as a whole by its
directory (DuckDB by the glob DIR/<table>/**/*.parquet, partitions auto-detected). Prints one JSON
object, the same shape whatever the engine, for the Rust test to compare with the store:

    {"tables": {TABLE: {"rows": N, "columns": [...], "by_experiment": {ID: ROWS},
                        "names": {ID: EXPERIMENT_NAME}, "utc": [TIMESTAMP COLUMNS IN UTC]}},
     "val_loss": [[ID, RUN_ID, STEP, VALUE], ...]}   # the epochs table's val_loss rows, sorted

Experiment ids are printed as strings whatever type the engine inferred for the partition column.
"""

import json
import math
import os
import sys

TABLES = ["runs", "params", "metrics", "epochs", "analysis"]


def number(x):
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    return x


def summary(rows, columns, utc, records):
    """records: (experiment_id, experiment_name) per row."""
    by_experiment, names = {}, {}
    for exp_id, name in records:
        key = str(exp_id)
        by_experiment[key] = by_experiment.get(key, 0) + 1
        names[key] = name
    return {
        "rows": rows,
        "columns": sorted(columns),
        "by_experiment": by_experiment,
        "names": names,
        "utc": sorted(utc),
    }


def read_pandas(root):
    import pandas as pd

    out, frames = {}, {}
    for table in TABLES:
        frame = pd.read_parquet(os.path.join(root, table))
        frames[table] = frame
        utc = [c for c in frame.columns if str(getattr(frame[c].dtype, "tz", None)) == "UTC"]
        records = zip(frame["experiment_id"].astype(str), frame["experiment_name"])
        out[table] = summary(len(frame), list(frame.columns), utc, records)
    epochs = frames["epochs"]
    epochs = epochs[epochs["key"] == "val_loss"]
    rows = zip(epochs["experiment_id"].astype(str), epochs["run_id"], epochs["step"], epochs["value"])
    return out, [[e, r, int(s), float(v)] for e, r, s, v in rows]


def read_polars(root):
    import polars as pl

    out, frames = {}, {}
    for table in TABLES:
        path = os.path.join(root, table)
        frame = pl.read_parquet(path)
        # The lazy reader sees the same rows and columns.
        lazy = pl.scan_parquet(path).collect()
        assert lazy.shape == frame.shape and lazy.columns == frame.columns, (table, lazy.shape)
        frames[table] = frame
        utc = [c for c, t in frame.schema.items() if getattr(t, "time_zone", None) == "UTC"]
        records = zip(frame["experiment_id"].cast(pl.String).to_list(), frame["experiment_name"].to_list())
        out[table] = summary(frame.height, frame.columns, utc, records)
    epochs = frames["epochs"].filter(pl.col("key") == "val_loss")
    rows = zip(
        epochs["experiment_id"].cast(pl.String).to_list(),
        epochs["run_id"].to_list(),
        epochs["step"].to_list(),
        epochs["value"].to_list(),
    )
    return out, [[e, r, s, v] for e, r, s, v in rows]


def read_duckdb(root):
    import duckdb

    out = {}
    for table in TABLES:
        source = f"read_parquet('{os.path.join(root, table)}/**/*.parquet')"
        relation = duckdb.sql(f"SELECT * FROM {source}")
        columns = relation.columns
        utc = [c for c, t in zip(columns, relation.types) if str(t) == "TIMESTAMP WITH TIME ZONE"]
        records = duckdb.sql(f"SELECT CAST(experiment_id AS VARCHAR), experiment_name FROM {source}").fetchall()
        out[table] = summary(len(records), columns, utc, records)
    rows = duckdb.sql(
        "SELECT CAST(experiment_id AS VARCHAR), run_id, step, value "
        f"FROM read_parquet('{os.path.join(root, 'epochs')}/**/*.parquet') WHERE key = 'val_loss'"
    ).fetchall()
    return out, [list(r) for r in rows]


def read_pyarrow(root):
    import pyarrow as pa
    import pyarrow.dataset as ds

    out, tables = {}, {}
    for table in TABLES:
        data = ds.dataset(os.path.join(root, table), partitioning="hive").to_table()
        tables[table] = data
        utc = [f.name for f in data.schema if pa.types.is_timestamp(f.type) and f.type.tz == "UTC"]
        records = zip(
            [str(x) for x in data.column("experiment_id").to_pylist()],
            data.column("experiment_name").to_pylist(),
        )
        out[table] = summary(data.num_rows, data.schema.names, utc, records)
    rows = [
        [str(r["experiment_id"]), r["run_id"], r["step"], r["value"]]
        for r in tables["epochs"].to_pylist()
        if r["key"] == "val_loss"
    ]
    return out, rows


def main(engine, root):
    reader = {"pandas": read_pandas, "polars": read_polars, "duckdb": read_duckdb, "pyarrow": read_pyarrow}
    tables, val_loss = reader[engine](root)
    val_loss = sorted(([e, r, int(s), number(v)] for e, r, s, v in val_loss), key=lambda row: row[:3])
    print(json.dumps({"tables": tables, "val_loss": val_loss}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
