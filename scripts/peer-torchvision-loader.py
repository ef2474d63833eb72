#!/usr/bin/env python3
"""torchvision's train chain through a `DataLoader` with any number of workers: the pipeline
row's peer on a machine with more cores than the 2 that `bench_torchvision_pipeline.py`
(which measures 0 and 2 workers) is written for.

    peer-torchvision-loader.py --peer bench_torchvision_pipeline.py --dir PHOTOS --workers 16

The chain and the dataset are the peer program's own (`TRAIN_TF`, `JpegDir`, imported from the
file --peer names), measured as it measures them: batch 64, shuffled, `persistent_workers` off,
E epochs a run, images/s = E × files / wall seconds including the iterator's (and so the workers')
start; median of --runs. Prints `runs=[...] median=...`.
"""
import argparse
import glob
import importlib.util
import os
import statistics
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", required=True, help="path of bench_torchvision_pipeline.py")
    ap.add_argument("--dir", required=True, help="folder of JPEGs")
    ap.add_argument("--workers", type=int, required=True)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    spec = importlib.util.spec_from_file_location("peer", a.peer)
    peer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer)
    from torch.utils.data import DataLoader

    files = sorted(glob.glob(os.path.join(a.dir, "*.jpg")))
    for f in files:  # the page cache, as the peer warms it
        with open(f, "rb") as fh:
            fh.read()
    dataset = peer.JpegDir(files, peer.TRAIN_TF)
    rates = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        seen = 0
        loader = DataLoader(dataset, batch_size=64, shuffle=True, num_workers=a.workers)
        for _ in range(a.epochs):
            for x, _ in loader:
                seen += x.shape[0]
        rates.append(seen / (time.perf_counter() - t0))
    print(f"workers {a.workers} files {len(files)} epochs/run {a.epochs} cpus {os.cpu_count()} "
          f"runs=[{', '.join(f'{r:.1f}' for r in rates)}] median={statistics.median(rates):.1f}",
          flush=True)


if __name__ == "__main__":
    main()
