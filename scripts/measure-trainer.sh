#!/usr/bin/env bash
# One full Fashion-MNIST epoch of the reference CNN (60k, batch 64, no augmentation) with
# gapwatch and with PyTorch, interleaved in pairs on one machine: the trainer row of the README's
# measurement table.
#
#   scripts/measure-trainer.sh PYTHON TORCH_PEER [PAIRS]
#
# PYTHON has torch; TORCH_PEER is the PyTorch program that trains the same net
# (`train_fmnist_torch.py`, which reads the Debian package dataset-fashion-mnist). Build first:
# `cargo build --release -p trainer --example fit`. Prints each pair's images/s.
set -euo pipefail
python=${1:?usage: measure-trainer.sh PYTHON TORCH_PEER [PAIRS]}
peer=${2:?usage: measure-trainer.sh PYTHON TORCH_PEER [PAIRS]}
pairs=${3:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
fit=$root/target/release/examples/fit
data=/usr/share/datasets/fashion-mnist
[ -x "$fit" ] || { echo "build first: cargo build --release -p trainer --example fit" >&2; exit 2; }
[ -d "$data" ] || { echo "$data is missing: apt-get install dataset-fashion-mnist" >&2; exit 2; }
echo "$(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
for i in $(seq 1 "$pairs"); do
  echo "== pair $i, load $(cut -d' ' -f1 /proc/loadavg)"
  # The peer's closing summary wants two epochs and fails after one: its epoch line is all we
  # read, and a run without one is reported as such.
  peer_out=$(OMP_WAIT_POLICY=PASSIVE "$python" "$peer" --max-epochs 1 --budget-s 1 2>&1 || true)
  grep -E '^epoch' <<<"$peer_out" | sed 's/^/pytorch  /' ||
    { echo "pytorch  no epoch line; the peer printed:"; tail -5 <<<"$peer_out"; }
  "$fit" --set "data.path=\"$data\"" --set 'data.val_source="test"' \
    --set 'transforms.augment="none"' --set train.epochs=1 --set 'model.head="flatten"' |
    grep -oE '"(epoch_secs|images_per_sec)":[0-9.]+' | tr '\n' ' ' | sed 's/^/gapwatch /'
  echo
done
