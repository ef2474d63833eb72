"""Read a `track export` directory with pyarrow, pandas and DuckDB, all with no options.

Usage: read_export.py DIR. Prints one JSON object: for each experiment directory and file, the row
count and column types pyarrow sees, the rows pandas and DuckDB see, and a few values, so the Rust
test can compare them with the store.
"""

import glob
import json
import math
import os
import sys

import duckdb
import pandas as pd
import pyarrow.parquet as pq


def finite_or_name(x):
    if x is None:
        return None
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    return x


def main(root):
    report = {"experiments": {}}
    for exp_dir in sorted(glob.glob(os.path.join(root, "experiment=*"))):
        files = {}
        for path in sorted(glob.glob(os.path.join(exp_dir, "*.parquet"))):
            table = pq.read_table(path)
            frame = pd.read_parquet(path)
            duck_rows = duckdb.sql(f"SELECT count(*) FROM '{path}'").fetchall()[0][0]
            files[os.path.basename(path)] = {
                "rows": table.num_rows,
                "types": {f.name: str(f.type) for f in table.schema},
                "pandas_rows": len(frame),
                "duckdb_rows": duck_rows,
            }
        latest = {}
        for row in pq.read_table(os.path.join(exp_dir, "runs.parquet")).to_pylist():
            latest[row["run_name"]] = {
                c: finite_or_name(v) for c, v in row.items() if c.startswith(("metrics.", "params."))
            }
        report["experiments"][os.path.basename(exp_dir)] = {"files": files, "runs": latest}

    # The Hive partition column comes from the directory names, with no options.
    by_experiment = duckdb.sql(
        f"SELECT experiment, count(*) FROM read_parquet('{root}/*/metrics.parquet') GROUP BY ALL ORDER BY 1"
    ).fetchall()
    report["duckdb_metrics_by_experiment"] = {name: count for name, count in by_experiment}
    # Wide tables differ between experiments (one column per metric key): read those with runs.
    with_runs = [
        os.path.join(root, name, "epochs.parquet")
        for name, exp in report["experiments"].items()
        if exp["files"]["runs.parquet"]["rows"] > 0
    ]
    epochs = duckdb.sql(
        f"SELECT run_id, step, val_loss FROM read_parquet({with_runs!r}) ORDER BY run_id, step"
    ).fetchall()
    report["duckdb_epochs"] = [[r, s, finite_or_name(v)] for r, s, v in epochs]
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
