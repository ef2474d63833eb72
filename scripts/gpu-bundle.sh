#!/usr/bin/env bash
# Packs what `scripts/gpu-lease.sh` needs on a GPU machine that has no network and gets only
# this working tree: the CUDA build of `track`, Fashion-MNIST, the bench photos and the
# torchvision peer program. See docs/cuda.md.
#
#   scripts/gpu-bundle.sh PHOTOS PEERS [FMNIST] [DEST]
#
# PHOTOS: the bench photos (JPEGs and MANIFEST.tsv); PEERS: the folder that holds
# bench_torchvision_pipeline.py; FMNIST: the IDX files (default /usr/share/datasets/fashion-mnist);
# DEST: default .gpu (git ignores it; name it in the lease's carry). The binary is
# target-cuda/release/track, built as docs/cuda.md says (or $TRACK_CUDA). Everything is
# xz-compressed where that pays: the tree that travels is limited to 64 MiB.
set -euo pipefail
usage="usage: gpu-bundle.sh PHOTOS PEERS [FMNIST] [DEST]"
photos=${1:?$usage}
peers=${2:?$usage}
fmnist=${3:-/usr/share/datasets/fashion-mnist}
root=$(cd "$(dirname "$0")/.." && pwd)
dest=${4:-$root/.gpu}
bin=${TRACK_CUDA:-$root/target-cuda/release/track}
[ -x "$bin" ] || { echo "$bin is missing: build it as docs/cuda.md says" >&2; exit 2; }
[ -f "$peers/bench_torchvision_pipeline.py" ] ||
  { echo "$peers has no bench_torchvision_pipeline.py" >&2; exit 2; }
[ -f "$photos/MANIFEST.tsv" ] || { echo "$photos has no MANIFEST.tsv" >&2; exit 2; }
rm -rf "$dest"
mkdir -p "$dest/fashion-mnist" "$dest/bench-photos" "$dest/peers"
strip -o "$dest/track" "$bin"
xz -9 -T2 "$dest/track"
for name in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
  t10k-labels-idx1-ubyte; do
  if [ -f "$fmnist/$name.gz" ]; then zcat "$fmnist/$name.gz"; else cat "$fmnist/$name"; fi |
    xz -9 -T2 >"$dest/fashion-mnist/$name.xz"
done
cp "$photos"/*.jpg "$photos/MANIFEST.tsv" "$dest/bench-photos/"
cp "$peers/bench_torchvision_pipeline.py" "$dest/peers/"
bundle=$(du -sb "$dest" | cut -f1)
tree=$(cd "$root" && git ls-files -z --cached --others --exclude-standard |
  xargs -0 du -cb | tail -1 | cut -f1)
echo "bundle $((bundle >> 20)) MiB + working tree $((tree >> 20)) MiB (the limit is 64 MiB)"
[ $((bundle + tree)) -lt $((64 << 20)) ] || { echo "too large to travel" >&2; exit 1; }
