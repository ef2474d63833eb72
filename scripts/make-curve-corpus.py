#!/usr/bin/env python3
"""Makes the corpus of learning curves of known character that `track analyze` is tested on.

Each case is a real training run of `track train` (seeded: the same binary gives the same
curves) whose character is known from how it was set up: overfitting despite dropout on little
data, late overfitting with SGD, underfitting with a tiny learning rate, instability with a huge
one, a good fit with regularization, and validation sets too small to tell. Every run's params
and per-epoch metrics are written to OUT/<case>.json with the verdict the case stands for.

    scripts/make-curve-corpus.py --track target/release/track [--photos DIR] [--out tests/data/curves]
        [--only CASE ...]

--photos is a 3-class ImageFolder of colour photos (scripts/make-photo-classes.sh makes one
from the maintainers' bench photos); without it the photo cases are skipped.
"""

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FMNIST = str(ROOT / "data" / "fashion-mnist-mini")

# name -> (expected verdict, what the case is, data ("fmnist" | "photos"), --set overrides)
CASES = {
    "overfit-despite-dropout-little-data": (
        "overfitting",
        "300 training images, dropout 0.5 before the classifier, no augmentation, no weight "
        "decay, 40 epochs: dropout alone does not stop a 421k-parameter CNN from memorizing "
        "300 images",
        "fmnist",
        ["data.limit=300", "transforms.augment=none", "model.conv_dropout=0",
         "optim.learning_rate=0.002", "optim.weight_decay=0", "early_stopping.enabled=false",
         "train.epochs=40"],
    ),
    "late-overfit-sgd": (
        "overfitting",
        "SGD with momentum at a moderate rate on 1,500 images, no regularization, 40 epochs: "
        "validation loss falls for many epochs before it turns",
        "fmnist",
        ["data.limit=1500", "transforms.augment=none", "model.conv_dropout=0",
         "model.dense_dropout=0", "optim.weight_decay=0", "optim.optimizer=sgd",
         "optim.learning_rate=0.005", "optim.momentum=0.9", "early_stopping.enabled=false",
         "train.epochs=40"],
    ),
    "underfit-tiny-lr": (
        "underfitting",
        "Adam at 1e-5 for 8 epochs: the loss barely moves",
        "fmnist",
        ["data.limit=1000", "transforms.augment=none", "optim.learning_rate=0.00001",
         "early_stopping.enabled=false", "train.epochs=8"],
    ),
    "unstable-huge-lr": (
        "unstable",
        "Adam at 0.05 (50 times its usual rate) for 8 epochs",
        "fmnist",
        ["data.limit=1000", "transforms.augment=none", "optim.learning_rate=0.05",
         "early_stopping.enabled=false", "train.epochs=8"],
    ),
    "good-fit-regularized": (
        "good fit",
        "3,000 images with augmentation, dropout 0.25/0.5, weight decay 5e-4 and early stopping "
        "(patience 3, best weights restored), up to 40 epochs: trained until validation loss "
        "stopped improving",
        "fmnist",
        ["data.limit=3000", "transforms.augment=standard", "model.conv_dropout=0.25",
         "model.dense_dropout=0.5", "optim.weight_decay=0.0005", "early_stopping.enabled=true",
         "early_stopping.patience_epochs=3", "train.epochs=40"],
    ),
    "inconclusive-tiny-validation": (
        "inconclusive",
        "1,000 training images but only 30 validation images (val_fraction 0.003), trained past "
        "its best: the rise of validation loss is within what 30 images give by chance",
        "fmnist",
        ["data.limit=1000", "data.val_fraction=0.003", "transforms.augment=none",
         "early_stopping.enabled=false", "train.epochs=14"],
    ),
    "photos-unregularized": (
        "inconclusive",
        "449 colour photos in 3 classes at the photo defaults (64 px, pooled head) with no "
        "augmentation, dropout or weight decay, 40 epochs: still improving until a jump of "
        "validation loss in the last epoch, on 51 validation images: a blip or a turn, the run "
        "cannot tell",
        "photos",
        ["transforms.augment=none", "model.conv_dropout=0", "model.dense_dropout=0",
         "optim.weight_decay=0", "early_stopping.enabled=false", "optim.learning_rate=0.003",
         "train.epochs=40"],
    ),
    "photos-regularized": (
        "underfitting",
        "the same photos with augmentation, dropout 0.25/0.5, weight decay 5e-4 and early "
        "stopping (patience 5): the small pooled model with this much regularization ends "
        "fitting its own training set at two thirds of chance-level loss",
        "photos",
        ["transforms.augment=standard", "model.conv_dropout=0.25", "model.dense_dropout=0.5",
         "optim.weight_decay=0.0005", "early_stopping.enabled=true",
         "early_stopping.patience_epochs=5", "optim.learning_rate=0.003", "train.epochs=40"],
    ),
}


def run_case(track, db, name, data, sets):
    cmd = [track, "--tracking-uri", db, "--quiet", "train", "--run-name", name,
           "--set", f"data.path={json.dumps(data)}"]
    for s in sets:
        cmd += ["--set", s]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{name}: track train exited {result.returncode}:\n{result.stderr}")
    return cmd


def read_run(db, name):
    con = sqlite3.connect(db)
    (run_id,) = con.execute("SELECT run_id FROM runs WHERE run_name = ?", (name,)).fetchone()
    params = dict(con.execute("SELECT key, value FROM params WHERE run_id = ?", (run_id,)))
    metrics = {}
    for key, step, value in con.execute(
            "SELECT key, step, value FROM metrics WHERE run_id = ? ORDER BY key, step, timestamp",
            (run_id,)):
        metrics.setdefault(key, {})[step] = value
    con.close()
    return params, {k: [[s, v] for s, v in sorted(pts.items())] for k, pts in metrics.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--track", required=True, help="the track binary")
    ap.add_argument("--photos", help="a 3-class ImageFolder of colour photos")
    ap.add_argument("--out", default=str(ROOT / "tests" / "data" / "curves"))
    ap.add_argument("--only", nargs="*", help="only these cases")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "corpus.db")
        for name, (expected, about, data, sets) in CASES.items():
            if args.only and name not in args.only:
                continue
            if data == "photos" and not args.photos:
                print(f"{name}: skipped (no --photos)", file=sys.stderr)
                continue
            path = FMNIST if data == "fmnist" else str(Path(args.photos).resolve())
            print(f"{name}: training", file=sys.stderr, flush=True)
            run_case(args.track, db, name, path, sets)
            params, metrics = read_run(db, name)
            params.pop("data.path", None)
            case = {
                "case": name,
                "expected": expected,
                "about": about,
                "data": "bundled Fashion-MNIST subset" if data == "fmnist" else
                        "449 training / 51 validation colour photos in 3 classes",
                "command": "track train " + " ".join(f"--set {s}" for s in sets),
                "params": params,
                "metrics": metrics,
            }
            (out / f"{name}.json").write_text(json.dumps(case, indent=1) + "\n")
            print(f"{name}: {len(metrics.get('val_loss', []))} epochs", file=sys.stderr)


if __name__ == "__main__":
    main()
