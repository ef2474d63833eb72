"""Log one run through the official MLflow client (mlflow-skinny), as a training script would.

Run by tests/dashboard/fixture.rs with MLFLOW_TRACKING_URI pointing at a `track daemon` on
127.0.0.1: `python dashboard_run.py EXPERIMENT RUN_NAME`. The run logs its params and, per epoch,
train_loss, val_loss, train_acc and val_acc: a small model that fits its training set ever
better while its validation loss turns up after a few epochs.

When the run ends the client prints "View run RUN_NAME at: URL" (the link the dashboard must
open). Prints one JSON object on its last line: {"run_id", "experiment_id"}.
"""

import json
import math
import sys

import mlflow

EPOCHS = 14


def curves(epoch):
    """Deterministic learning curves of an overfitting run at `epoch` (1-based)."""
    train_loss = 2.2 * math.exp(-0.35 * epoch) + 0.02
    val_loss = 1.1 + 1.2 * math.exp(-0.6 * epoch) + 0.045 * max(0, epoch - 5) ** 1.3
    train_acc = 1.0 - 0.8 * math.exp(-0.4 * epoch)
    val_acc = 0.72 - 0.5 * math.exp(-0.5 * epoch) - 0.004 * max(0, epoch - 5)
    return train_loss, val_loss, train_acc, val_acc


def main():
    experiment, run_name = sys.argv[1], sys.argv[2]
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.log_params({
            "optim.learning_rate": 0.01,
            "optim.optimizer": "sgd",
            "model.dense_dropout": 0.0,
            "train.epochs": EPOCHS,
            "val_size": 200,
        })
        for epoch in range(1, EPOCHS + 1):
            train_loss, val_loss, train_acc, val_acc = curves(epoch)
            mlflow.log_metrics({
                "train_loss": train_loss,
                "val_loss": val_loss,
                "train_acc": train_acc,
                "val_acc": val_acc,
            }, step=epoch)
        run_id, experiment_id = run.info.run_id, run.info.experiment_id
    print(json.dumps({"run_id": run_id, "experiment_id": experiment_id}))


if __name__ == "__main__":
    main()
