#!/usr/bin/env bash
# Regenerates data/fashion-mnist-mini/ from the full Fashion-MNIST set: the first 10,000 training
# and the first 2,000 test images and labels, in the original IDX format, gzipped.
#
#   scripts/make-fashion-mnist-mini.sh [SRC_DIR]
#
# SRC_DIR holds the four original files (train-images-idx3-ubyte.gz, ...). The default is where the
# Debian package `dataset-fashion-mnist` installs them (`apt-get install dataset-fashion-mnist`).
set -euo pipefail
SRC=${1:-/usr/share/datasets/fashion-mnist}
OUT=$(cd "$(dirname "$0")/.." && pwd)/data/fashion-mnist-mini
mkdir -p "$OUT"
python3 - "$SRC" "$OUT" <<'PY'
import gzip, struct, sys, os
src, out = sys.argv[1], sys.argv[2]
def cut(name, n):
    with gzip.open(os.path.join(src, name + ".gz"), "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    dims = list(struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim]))
    if dims[0] < n:
        sys.exit(f"{name}: has {dims[0]} items, need {n}")
    item = 1
    for d in dims[1:]:
        item *= d
    header = struct.pack(">I", magic) + struct.pack(">" + "I" * ndim, n, *dims[1:])
    body = data[4 + 4 * ndim: 4 + 4 * ndim + n * item]
    # mtime=0 keeps the output byte-identical across regenerations.
    with open(os.path.join(out, name + ".gz"), "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as g:
            g.write(header + body)
    print(f"{name}: {n} of {dims[0]} items, shape {[n] + dims[1:]}")
cut("train-images-idx3-ubyte", 10000)
cut("train-labels-idx1-ubyte", 10000)
cut("t10k-images-idx3-ubyte", 2000)
cut("t10k-labels-idx1-ubyte", 2000)
PY
