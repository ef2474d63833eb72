"""Drive `track daemon` with the official MLflow Python client (mlflow-skinny).

Run by tests/tracker_cli/mlflow_client.rs with MLFLOW_TRACKING_URI pointing at a daemon on
127.0.0.1. Every value logged is read back through the client and compared; any mismatch raises (non-zero exit). On success
the script prints one JSON object on its last stdout line describing what it logged, so the Rust test
can check that `track query` sees the same runs.
"""

import json
import math
import os
import sys
import tempfile

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

EXPERIMENT = sys.argv[1] if len(sys.argv) > 1 else "compat"
EPOCHS = 6


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def val_loss_at(epoch, lr):
    return 1.0 / (epoch + 1) + lr


def log_good_run(name, lr, batch_size, artifact_dir):
    with mlflow.start_run(run_name=name) as run:
        mlflow.log_param("lr", lr)
        mlflow.log_params({"batch_size": batch_size, "optimizer": "adamw", "note": "a b/c:d"})
        for epoch in range(EPOCHS):
            mlflow.log_metric("val_loss", val_loss_at(epoch, lr), step=epoch)
            mlflow.log_metrics(
                {"train_loss": 0.5 / (epoch + 1), "val_acc": 0.5 + epoch / 100.0}, step=epoch
            )
        mlflow.log_metric("odd", float("nan"), step=0)
        mlflow.set_tag("stage", "compat")
        mlflow.set_tags({"owner": "tests", "dataset": "fashion-mnist-mini"})
        config = os.path.join(artifact_dir, f"{name}-config.json")
        with open(config, "w") as f:
            json.dump({"lr": lr, "batch_size": batch_size}, f)
        mlflow.log_artifact(config)
        mlflow.log_artifact(config, artifact_path="configs")
        return run.info.run_id, config


def main():
    client = MlflowClient()
    experiment = mlflow.set_experiment(EXPERIMENT)
    check(experiment.name == EXPERIMENT, f"experiment name {experiment.name!r}")
    again = mlflow.set_experiment(EXPERIMENT)
    check(again.experiment_id == experiment.experiment_id, "set_experiment twice gives one id")

    logged = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, lr, batch_size in [("fast", 0.01, 32), ("slow", 0.001, 64), ("slower", 0.0001, 64)]:
            run_id, config = log_good_run(name, lr, batch_size, tmp)
            logged.append({"run_id": run_id, "name": name, "lr": lr, "batch_size": batch_size})

            run = client.get_run(run_id)
            check(run.info.status == "FINISHED", f"{name}: status {run.info.status}")
            check(run.info.run_name == name, f"{name}: run_name {run.info.run_name!r}")
            check(run.info.end_time is not None and run.info.end_time >= run.info.start_time,
                  f"{name}: end_time {run.info.end_time} start_time {run.info.start_time}")
            params = run.data.params
            expected_params = {"lr": str(lr), "batch_size": str(batch_size), "optimizer": "adamw",
                               "note": "a b/c:d"}
            check(params == expected_params, f"{name}: params {params} != {expected_params}")
            last = EPOCHS - 1
            metrics = run.data.metrics
            check(metrics["val_loss"] == val_loss_at(last, lr), f"{name}: latest val_loss {metrics}")
            check(metrics["train_loss"] == 0.5 / EPOCHS, f"{name}: latest train_loss {metrics}")
            check(metrics["val_acc"] == 0.5 + last / 100.0, f"{name}: latest val_acc {metrics}")
            check(math.isnan(metrics["odd"]), f"{name}: NaN metric read back as {metrics['odd']}")
            tags = run.data.tags
            for key, value in {"stage": "compat", "owner": "tests", "dataset": "fashion-mnist-mini",
                               "mlflow.runName": name}.items():
                check(tags.get(key) == value, f"{name}: tag {key} = {tags.get(key)!r}")

            history = client.get_metric_history(run_id, "val_loss")
            check([m.step for m in history] == list(range(EPOCHS)), f"{name}: history steps")
            check([m.value for m in history] == [val_loss_at(e, lr) for e in range(EPOCHS)],
                  f"{name}: history values {[m.value for m in history]}")
            check(all(m.timestamp > 0 for m in history), f"{name}: history timestamps")
            check(client.get_metric_history(run_id, "no_such_metric") == [], "unknown key history")

            top = sorted(a.path for a in client.list_artifacts(run_id))
            check(top == ["configs", f"{name}-config.json"], f"{name}: artifacts {top}")
            nested = [a.path for a in client.list_artifacts(run_id, "configs")]
            check(nested == [f"configs/{name}-config.json"], f"{name}: nested artifacts {nested}")
            with tempfile.TemporaryDirectory() as dst:
                local = mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=f"configs/{name}-config.json", dst_path=dst)
                with open(local) as got, open(config) as want:
                    check(got.read() == want.read(), f"{name}: downloaded artifact differs")

    failed_id = None
    try:
        with mlflow.start_run(run_name="broken") as run:
            failed_id = run.info.run_id
            mlflow.log_param("lr", 0.5)
            mlflow.log_metric("val_loss", 9.0, step=0)
            raise RuntimeError("training diverged")
    except RuntimeError:
        pass
    check(client.get_run(failed_id).info.status == "FAILED", "failing run is FAILED")

    # A param is immutable: a different value is refused with INVALID_PARAMETER_VALUE.
    try:
        client.log_param(logged[0]["run_id"], "lr", "0.5")
        raise AssertionError("changing a param was accepted")
    except mlflow.exceptions.MlflowException as error:
        check(error.error_code == "INVALID_PARAMETER_VALUE", f"param conflict: {error.error_code}")

    frame = mlflow.search_runs(
        experiment_names=[EXPERIMENT],
        filter_string="metrics.val_loss < 1 and params.batch_size = '64'",
        order_by=["metrics.val_loss ASC"],
    )
    check(isinstance(frame, pd.DataFrame), "search_runs returns a DataFrame")
    want = sorted((r for r in logged if r["batch_size"] == 64),
                  key=lambda r: val_loss_at(EPOCHS - 1, r["lr"]))
    check(list(frame["run_id"]) == [r["run_id"] for r in want], f"search order {list(frame['run_id'])}")
    check(list(frame["params.lr"]) == [str(r["lr"]) for r in want], "search params column")
    check(list(frame["metrics.val_loss"]) == [val_loss_at(EPOCHS - 1, r["lr"]) for r in want],
          "search metrics column")
    check(list(frame["tags.mlflow.runName"]) == [r["name"] for r in want], "search run names")
    check(set(frame["status"]) == {"FINISHED"}, "search status column")

    failed = mlflow.search_runs(experiment_names=[EXPERIMENT], filter_string="attributes.status = 'FAILED'")
    check(list(failed["run_id"]) == [failed_id], f"FAILED runs {list(failed['run_id'])}")

    everything = mlflow.search_runs(experiment_names=[EXPERIMENT], order_by=["params.lr DESC"])
    check(len(everything) == 4, f"all runs: {len(everything)}")

    print(json.dumps({"experiment_id": experiment.experiment_id, "runs": logged,
                      "failed_run_id": failed_id, "epochs": EPOCHS}))


if __name__ == "__main__":
    main()
