#!/usr/bin/env python3
"""Pillow decode-only rate with N processes over a folder of JPEGs (the pipeline issue's second
peer figure): each process decodes its share of the files to RGB, for E epochs; the rate is
E * files / wall seconds, median of --runs. Needs Pillow.

Usage: peer-pillow-decode.py --dir ../shared/bench-photos --processes 2 --epochs 2 --runs 3
"""
import argparse
import glob
import multiprocessing
import os
import statistics
import time

from PIL import Image


def decode(job):
    files, epochs = job
    for _ in range(epochs):
        for f in files:
            with Image.open(f) as im:
                im.convert("RGB").load()
    return len(files) * epochs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    files = sorted(glob.glob(os.path.join(a.dir, "*.jpg")))
    for f in files:  # warm the page cache
        with open(f, "rb") as fh:
            fh.read()
    shares = [(files[i :: a.processes], a.epochs) for i in range(a.processes)]
    rates = []
    with multiprocessing.Pool(a.processes) as pool:
        pool.map(decode, [(s[:2], 1) for s, _ in shares])  # start the workers
        for _ in range(a.runs):
            started = time.perf_counter()
            n = sum(pool.map(decode, shares))
            rates.append(n / (time.perf_counter() - started))
    print(f"pillow_decode processes={a.processes} files={len(files)} epochs={a.epochs} "
          f"img/s median={statistics.median(rates):.1f} runs={[round(r, 1) for r in rates]}")


if __name__ == "__main__":
    main()
