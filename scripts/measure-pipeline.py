#!/usr/bin/env python3
"""The pipeline's throughput next to its peers, interleaved on one machine in one sitting.

    scripts/measure-pipeline.py --photos DIR --peer-python PYTHON [--pairs N] [--idle-s S]

Runs, in this order: the peers (torchvision's DataLoader with 2 workers, and Pillow decoding
alone with 2 processes), then N pairs of `track pipeline --json` (the train chain with the
bilinear rotation, then with nearest rotation, which is what torchvision's RandomRotation
does), then the peers again. Every run is 2 epochs over the photos, batch 64, to 3x224x224.
Prints each run (with its system CPU time: the kernel's cost of the memory it touched first),
then the medians and the ratios of medians.

PYTHON must have torch, torchvision and Pillow; the torchvision peer is
`bench_torchvision_pipeline.py` (--torchvision-peer). Build `track` first:
`cargo build --release`.
"""
import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHAIN = ("random_resized_crop(size=224),hflip,rotation(degrees=15{}),"
         "color_jitter(brightness=0.2,contrast=0.2,saturation=0.2)")


def ours(track, photos, interpolation, db):
    """images/s, the digest's head and the run's system CPU seconds (the kernel's page faults)."""
    rotation = "" if interpolation == "bilinear" else f",interpolation={interpolation}"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime
    out = subprocess.run(
        [track, "pipeline", "--data", photos, "--no-val", "--epochs", "2", "--batch-size", "64",
         "--size", "224", "--normalize", "imagenet", "--quiet", "--json", "--tracking-uri", db,
         "--transforms", CHAIN.format(rotation)],
        check=True, capture_output=True, text=True).stdout
    system = resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime - before
    report = json.loads(out)
    return report["images_per_sec"], report["digest"][:8], system


def torchvision_runs(python, peer, photos):
    out = subprocess.run([python, peer, "--dir", photos, "--runs", "3"],
                         check=True, capture_output=True, text=True).stdout
    line = re.search(r"^\s*train_loader_nw2\s.*\(runs: \[([^\]]*)\]\)", out, re.M)
    if not line:
        sys.exit(f"no train_loader_nw2 summary line in the torchvision peer's output:\n{out}")
    return [float(v) for v in line.group(1).split(",")]


def pillow_runs(python, photos):
    out = subprocess.run(
        [python, os.path.join(ROOT, "scripts", "peer-pillow-decode.py"), "--dir", photos,
         "--processes", "2", "--epochs", "2", "--runs", "3"],
        check=True, capture_output=True, text=True).stdout
    line = re.search(r"runs=\[([^\]]*)\]", out)
    if not line:
        sys.exit(f"no runs=[...] in the Pillow peer's output:\n{out}")
    return [float(v) for v in line.group(1).split(",")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", required=True, help="folder of JPEGs (the bench photos)")
    ap.add_argument("--peer-python", required=True, help="a Python with torch and torchvision")
    ap.add_argument("--torchvision-peer",
                    default=os.path.join(ROOT, "..", "shared", "peers",
                                         "bench_torchvision_pipeline.py"))
    ap.add_argument("--track", default=os.path.join(ROOT, "target", "release", "track"))
    ap.add_argument("--pairs", type=int, default=6)
    ap.add_argument("--idle-s", type=float, default=0.0,
                    help="seconds to wait before each gapwatch run: after about 8 s idle, a run "
                         "pays the virtual machine's full cost of first-touched memory")
    a = ap.parse_args()
    for what, path in (("--photos", a.photos), ("--torchvision-peer", a.torchvision_peer),
                       ("--track", a.track), ("--peer-python", a.peer_python)):
        if not os.path.exists(path):
            sys.exit(f"{what}: {path} does not exist")
    db = os.path.join(ROOT, "target", "measure-pipeline.db")

    torchvision, pillow = [], []
    rates = {"bilinear": [], "nearest": []}

    def peers():
        torchvision.extend(torchvision_runs(a.peer_python, a.torchvision_peer, a.photos))
        pillow.extend(pillow_runs(a.peer_python, a.photos))
        print(f"torchvision nw=2 {torchvision[-3:]}  Pillow decode {pillow[-3:]}", flush=True)

    peers()
    for _ in range(a.pairs):
        for interpolation in rates:
            time.sleep(a.idle_s)
            rate, digest, system = ours(a.track, a.photos, interpolation, db)
            rates[interpolation].append(rate)
            print(f"gapwatch {interpolation:8s} {rate:7.0f} images/s  digest {digest}  "
                  f"system {system:.2f} s", flush=True)
    peers()

    tv, pil = statistics.median(torchvision), statistics.median(pillow)
    print(f"\nmedians, images/s ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}): "
          f"torchvision {tv:.0f}, Pillow decode {pil:.0f}")
    for interpolation, values in rates.items():
        m = statistics.median(values)
        print(f"gapwatch {interpolation:8s} {min(values):.0f}-{max(values):.0f}, median {m:.0f}: "
              f"{m / tv:.2f}x torchvision, {m / pil:.2f}x Pillow decode")


if __name__ == "__main__":
    main()
