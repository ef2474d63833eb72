#!/usr/bin/env python3
"""`data.decode_scale = "full"` against "auto" on large photos, next to torchvision, interleaved
on one machine in one sitting.

    scripts/measure-decode-scale.py --photos DIR [--peer-python PYTHON --torchvision-peer PEER]
        [--runs 3] [--cache-mb 1024,0]

DIR holds large JPEGs (`scripts/make-large-photos.py` writes 4032x3024 ones). Each round runs,
if --peer-python is given, torchvision's DataLoader (2 workers, the train transforms of PEER,
`bench_torchvision_pipeline.py`) with a full decode and with Pillow's `draft` at 1/2 (the scale "auto" takes
for this chain on 4032x3024 photos), then `track pipeline --json` with "full" and "auto" for
each --cache-mb. Every run is 2 epochs over DIR, batch 64, to 3x224x224 (the train chain of the
README's measurement table). Prints each run, then the medians and their ratios.
Build `track` first: `cargo build --release`.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHAIN = ("random_resized_crop(size=224),hflip,rotation(degrees=15),"
         "color_jitter(brightness=0.2,contrast=0.2,saturation=0.2)")
PEER = """
import glob, os, sys, time
sys.path.insert(0, os.path.dirname(sys.argv[1]))
import bench_torchvision_pipeline as peer
from PIL import Image
from torch.utils.data import DataLoader

class Draft(peer.JpegDir):
    def __getitem__(self, i):
        with Image.open(self.files[i]) as im:
            im.draft("RGB", (im.width // 2, im.height // 2))
            im = im.convert("RGB")
        return self.tf(im), 0

files = sorted(glob.glob(os.path.join(sys.argv[2], "*.jpg")))
ds = (Draft if sys.argv[3] == "draft" else peer.JpegDir)(files, peer.TRAIN_TF)
started, n = time.perf_counter(), 0
loader = DataLoader(ds, batch_size=64, shuffle=True, num_workers=2)
for _ in range(2):
    for x, _ in loader:
        n += x.shape[0]
print(n / (time.perf_counter() - started))
"""


def ours(track, photos, scale, cache_mb, db):
    out = subprocess.run(
        [track, "pipeline", "--data", photos, "--no-val", "--epochs", "2", "--batch-size", "64",
         "--size", "224", "--normalize", "imagenet", "--quiet", "--json", "--tracking-uri", db,
         "--transforms", CHAIN, "--set", f'data.decode_scale="{scale}"',
         "--set", f"loader.cache_mb={cache_mb}"],
        check=True, capture_output=True, text=True).stdout
    report = json.loads(out)
    return report["images_per_sec"], report.get("peak_rss_bytes", 0) / 2**20


def torchvision(python, peer, photos, mode):
    out = subprocess.run([python, "-c", PEER, peer, photos, mode],
                         check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", required=True, help="folder of large JPEGs")
    ap.add_argument("--peer-python", help="a Python with torch and torchvision (none: no peer)")
    ap.add_argument("--torchvision-peer",
                    help="the torchvision peer, bench_torchvision_pipeline.py (with --peer-python)")
    ap.add_argument("--track", default=os.path.join(ROOT, "target", "release", "track"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cache-mb", default="1024,0", help="comma-separated loader.cache_mb values")
    a = ap.parse_args()
    for what, path in (("--photos", a.photos), ("--track", a.track)):
        if not os.path.exists(path):
            sys.exit(f"{what}: {path} does not exist")
    if a.peer_python and not (a.torchvision_peer and os.path.exists(a.torchvision_peer)):
        sys.exit(f"--torchvision-peer: {a.torchvision_peer} does not exist")
    db = os.path.join(ROOT, "target", "measure-decode-scale.db")
    caches = [int(c) for c in a.cache_mb.split(",")]
    rates = {}

    def record(name, value, extra=""):
        rates.setdefault(name, []).append(value)
        print(f"{name:34s} {value:7.1f} images/s{extra}", flush=True)

    for _ in range(a.runs):
        if a.peer_python:
            for mode in ("full", "draft"):
                record(f"torchvision nw=2 {mode}", torchvision(
                    a.peer_python, a.torchvision_peer, a.photos, mode))
        for cache_mb in caches:
            for scale in ("full", "auto"):
                rate, rss = ours(a.track, a.photos, scale, cache_mb, db)
                record(f"gapwatch {scale} cache_mb={cache_mb}", rate, f"  peak RSS {rss:.0f} MiB")

    print(f"\nmedians, images/s ({os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}):")
    medians = {name: statistics.median(v) for name, v in rates.items()}
    for name, values in rates.items():
        print(f"{name:34s} {min(values):7.1f}-{max(values):7.1f}, median {medians[name]:7.1f}")
    for cache_mb in caches:
        full, auto = (medians[f"gapwatch {s} cache_mb={cache_mb}"] for s in ("full", "auto"))
        line = f"cache_mb={cache_mb}: auto/full {auto / full:.2f}x"
        if a.peer_python:
            tv, tvd = medians["torchvision nw=2 full"], medians["torchvision nw=2 draft"]
            line += (f"; full {full / tv:.2f}x, auto {auto / tv:.2f}x torchvision; "
                     f"auto {auto / tvd:.2f}x torchvision with draft")
        print(line)


if __name__ == "__main__":
    main()
