#!/usr/bin/env bash
# Installs, from PyPI wheels, the CUDA 13.0 toolkit parts that `cargo build --features cuda` (and
# `--features cudnn`) needs on a machine without a GPU or a system CUDA, and prints the CUDA_ROOT
# to export. See docs/cuda.md for the whole recipe.
#
#   scripts/setup-cuda13.sh DEST
#
# Needs python3 with pip, a C compiler, and `cargo fetch` done first (the driver stub is made from
# the functions cudarc declares). About 2 GB on disk, cuBLAS and cuDNN most of it.
set -euo pipefail
DEST=$(realpath -m "${1:?usage: setup-cuda13.sh DEST}")
# 13.0.x: cudarc 0.19 accepts toolkits 11.4-13.4 only, and the PTX that nvcc writes must not be
# newer than the GPU machine's driver (580, CUDA 13.0).
python3 -m pip install --quiet --no-deps --target "$DEST/py" \
  nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 \
  nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85 nvidia-cuda-nvrtc==13.0.88 \
  nvidia-cublas==13.0.0.19 nvidia-curand==10.4.0.35 nvidia-cudnn-cu13==9.13.0.50
R="$DEST/py/nvidia/cu13"
cd "$R/lib"
# The wheels ship versioned sonames only; the linker's -lX wants libX.so.
for l in cublas cublasLt cudart nvrtc; do ln -sfn "lib$l.so.13" "lib$l.so"; done
ln -sfn libcurand.so.10 libcurand.so
ln -sfn "$DEST/py/nvidia/cudnn/lib/libcudnn.so.9" libcudnn.so
# No wheel has the driver's libcuda.so: link against a stub that has every function cudarc
# declares; the real libcuda.so.1 comes from the driver at run time.
mkdir -p stubs
registry=${CARGO_HOME:-$HOME/.cargo}/registry/src
sys=$(ls -d "$registry"/*/cudarc-0.19.*/src/driver/sys/mod.rs | sort -V | tail -1)
grep -oE '^pub unsafe fn cu[A-Za-z0-9_]+\(' "$sys" |
  sed -E 's/^pub unsafe fn (cu[A-Za-z0-9_]+)\(/int \1(void){return 999;}/' |
  sort -u >stubs/libcuda_stub.c
cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o stubs/libcuda.so stubs/libcuda_stub.c
# nvcc.profile looks for targets/x86_64-linux/{lib,include}.
cd "$R"
ln -sfn lib lib64
mkdir -p targets
ln -sfn .. targets/x86_64-linux
"$R/bin/nvcc" --version | tail -2 >&2
echo "$R"
