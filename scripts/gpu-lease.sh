#!/usr/bin/env bash
# Every measurement that needs the lent GPU machine, in one command of about four minutes: run
# it from the repository root there, with the bundle that `scripts/gpu-bundle.sh` packed here.
#
#   scripts/gpu-lease.sh [BUNDLE] [OUTDIR]        (defaults: .gpu and $OUT, else /tmp/gpu-out)
#
# In order of what matters most, each step bounded by `timeout` so that one failure leaves the
# others standing:
#   1. the machine: GPU, driver, cores, and that the binary's CUDA libraries resolve;
#   2. the reference CNN on full Fashion-MNIST on the GPU, gapwatch then PyTorch, two pairs;
#   3. the default colour CNN on the bench photos at 64×64 on the GPU, each fed from all cores;
#   4. the same Fashion-MNIST epoch on the machine's CPU, both pinned to 2 cores;
#   5. the pipeline's train chain over the bench photos on all cores against torchvision's
#      DataLoader with as many workers and Pillow decoding with as many processes.
# Everything is printed and kept in OUTDIR/lease.log. LEASE_DEVICE=cpu (and a bundle packed from
# the CPU build and the bundled Fashion-MNIST subset) tries the script out on a machine without a
# GPU.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bundle=$(realpath "${1:-.gpu}")
out=${2:-${OUT:-/tmp/gpu-out}}
mkdir -p "$out"
exec > >(tee "$out/lease.log") 2>&1
work=/tmp/gapwatch-lease
rm -rf "$work"
mkdir -p "$work/fmnist"
python=${PYTHON:-python3}
cores=$(nproc)
device=${LEASE_DEVICE:-cuda}

unxz_to() {
  "$python" -c 'import lzma, shutil, sys
shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"
}
unxz_to "$bundle/track.xz" "$work/track" && chmod +x "$work/track"
for f in "$bundle"/fashion-mnist/*.xz; do unxz_to "$f" "$work/fmnist/$(basename "$f" .xz)"; done
"$root/scripts/make-photo-classes.sh" "$bundle/bench-photos" "$work/photos" >/dev/null
# The CUDA, cuBLAS and cuDNN libraries of the machine's PyTorch wheels, then the driver's.
libs=$("$python" 2>/dev/null -c 'import nvidia, os
print(":".join(os.path.join(p, d, "lib") for p in nvidia.__path__ for d in ("cu13", "cudnn")
               if os.path.isdir(os.path.join(p, d, "lib"))))' || true)
driver=/usr/local/cuda/lib64:/usr/local/nvidia/lib64:/usr/local/nvidia/lib
export LD_LIBRARY_PATH="$libs:$driver:${LD_LIBRARY_PATH:-}"
track=$work/track
peer_train=("$python" "$root/scripts/peer-torch-train.py")
fmnist_sets=(--set "data.path=\"$work/fmnist\"" --set 'data.val_source="test"'
  --set 'transforms.augment="none"' --set 'model.head="flatten"')

# step NAME SECONDS COMMAND...: COMMAND (a function or a program) with its programs stopped after
# SECONDS.
step() {
  local name=$1
  limit=$2
  shift 2
  echo "== $name ($(date +%T), load $(cut -d' ' -f1 /proc/loadavg))"
  "$@"
  echo "== $name: exit $?"
}
bounded() { timeout "$limit" "$@"; }
# One line from `track train --json`: each epoch's training images/s, and the last validation
# accuracy.
epochs() { "$python" -c 'import json, sys
r = json.load(sys.stdin)
rates = ["epoch %d images_per_sec %.0f" % (e["epoch"], e["images_per_sec"]) for e in r["epochs"]]
print("gapwatch", " ".join(rates), "params", r["num_params"],
      "last val_acc %.4f" % r["epochs"][-1]["val_acc"])'; }
launcher=()
train() {
  bounded "${launcher[@]}" "$track" train -q --json --tracking-uri "sqlite:$work/runs.db" "$@" |
    epochs
}

step machine 30 bounded bash -c "
  nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv;
  echo \"$cores cores:\$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)\";
  grep -o -m1 -w 'avx512_vbmi\|avx512f' /proc/cpuinfo | sort -u | tr '\n' ' '; echo;
  ldd $track | grep -E 'cuda|cublas|curand|cudnn|not found';
  $python -c 'import torch
print(\"torch\", torch.__version__, \"cudnn\", torch.backends.cudnn.version())'"

for pair in 1 2; do
  step "$device fmnist gapwatch, pair $pair" 90 train --device "$device" "${fmnist_sets[@]}" \
    --set train.epochs=2
  step "$device fmnist pytorch, pair $pair" 90 bounded "${peer_train[@]}" fmnist \
    --data "$work/fmnist" --device "$device" --epochs 2
done

step "$device photos gapwatch ($cores cores feed it)" 90 train --device "$device" \
  --set "data.path=\"$work/photos\"" --set train.epochs=5 --set early_stopping.enabled=false
step "$device photos pytorch ($cores DataLoader workers)" 90 bounded "${peer_train[@]}" photos \
  --data "$work/photos" --device "$device" --epochs 5 --workers "$cores"

# available_parallelism, and so gapwatch's thread counts, follow the affinity mask.
launcher=(taskset -c 0,1)
step "cpu fmnist gapwatch, 2 pinned cores" 150 train --device cpu "${fmnist_sets[@]}" \
  --set train.epochs=1
launcher=()
step "cpu fmnist pytorch, 2 pinned cores" 120 bounded env OMP_WAIT_POLICY=PASSIVE taskset -c 0,1 \
  "${peer_train[@]}" fmnist --data "$work/fmnist" --device cpu --threads 2 --epochs 1

chain="random_resized_crop(size=224),hflip,rotation(degrees=15),"
chain+="color_jitter(brightness=0.2,contrast=0.2,saturation=0.2)"
pipeline() {
  bounded "$track" pipeline --data "$bundle/bench-photos" --no-val --epochs 2 --batch-size 64 \
    --size 224 --normalize imagenet --quiet --json --tracking-uri "sqlite:$work/runs.db" \
    --transforms "$chain" |
    "$python" -c 'import json, sys
r = json.load(sys.stdin)
print("images_per_sec %.0f digest %s" % (r["images_per_sec"], r["digest"][:8]))'
}
for run in 1 2 3; do
  step "pipeline gapwatch, $cores cores, run $run" 60 pipeline
done
step "pipeline torchvision, $cores workers" 120 bounded "$python" \
  "$root/scripts/peer-torchvision-loader.py" --peer "$bundle/peers/bench_torchvision_pipeline.py" \
  --dir "$bundle/bench-photos" --workers "$cores"
step "pillow decode, $cores processes" 60 bounded "$python" "$root/scripts/peer-pillow-decode.py" \
  --dir "$bundle/bench-photos" --processes "$cores" --epochs 2 --runs 3
echo "== done $(date +%T)"
