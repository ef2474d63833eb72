"""Log the learning-curve corpus through the official MLflow client (mlflow-skinny).

Run by tests/analysis_corpus.rs with MLFLOW_TRACKING_URI pointing at a `track daemon` on
127.0.0.1: `python log_curves.py CORPUS_DIR EXPERIMENT`. Every case (CORPUS_DIR/*.json, made by
scripts/make-curve-corpus.py from real `track train` runs) is logged twice:

- as recorded: every param, and every metric under gapwatch's names, the per-epoch standard
  errors (`val_loss_se`, `val_acc_se`) included;
- as a Keras script logs it: `loss`, `accuracy`, `val_loss`, `val_accuracy` only, and the params
  without the validation-set size, so the analysis has to estimate the noise from the curves.

Prints one JSON object on its last line: {run name: run id}.
"""

import json
import sys
from pathlib import Path

import mlflow
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

KERAS_NAMES = {
    "train_loss": "loss",
    "train_acc": "accuracy",
    "val_loss": "val_loss",
    "val_acc": "val_accuracy",
}
NOT_LOGGED_BY_KERAS = {"val_size", "train_eval_size", "test_size"}


def log(client, experiment_id, name, params, metrics):
    run = client.create_run(experiment_id, run_name=name)
    run_id = run.info.run_id
    items = list(params.items())
    for i in range(0, len(items), 100):
        client.log_batch(run_id, params=[Param(k, str(v)) for k, v in items[i:i + 100]])
    points = [Metric(key, value, 1_700_000_000_000 + step, step)
              for key, series in metrics.items() for step, value in series]
    for i in range(0, len(points), 1000):
        client.log_batch(run_id, metrics=points[i:i + 1000])
    client.set_terminated(run_id)
    return run_id


def main():
    corpus, experiment = Path(sys.argv[1]), sys.argv[2]
    client = MlflowClient()
    experiment_id = client.create_experiment(experiment)
    runs = {}
    for path in sorted(corpus.glob("*.json")):
        case = json.loads(path.read_text())
        name = case["case"]
        runs[name] = log(client, experiment_id, name, case["params"], case["metrics"])
        keras_metrics = {KERAS_NAMES[k]: v for k, v in case["metrics"].items() if k in KERAS_NAMES}
        keras_params = {k: v for k, v in case["params"].items() if k not in NOT_LOGGED_BY_KERAS}
        runs[name + "-keras"] = log(client, experiment_id, name + "-keras", keras_params,
                                    keras_metrics)
    # Read one back through the client, as a user would.
    some = next(iter(runs.values()))
    history = client.get_metric_history(some, "val_loss")
    if not history:
        raise AssertionError("no val_loss history read back")
    print(json.dumps(runs))


if __name__ == "__main__":
    mlflow.set_tracking_uri(mlflow.get_tracking_uri())
    main()
