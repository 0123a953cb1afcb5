#!/usr/bin/env bash
# Build (once per machine) and print the path of a llama-cpp-python wheel that works on this CPU.
#
# Why: llama-cpp-python has no wheel on PyPI, and its default source build turns on Intel AMX kernels
# that this VM's CPU advertises but does not run (segfault at the first matrix multiply). We build with
# AMX off (AVX2, plus AVX-512 where /proc/cpuinfo has it) and cache the wheel outside the repository,
# keyed by version and build flags, so `make` builds it at most once per machine (about 4 minutes on
# 2 cores).
#
# On a machine with an NVIDIA GPU and a CUDA toolchain (nvidia-smi and nvcc), the wheel is built with
# CUDA (GGML_CUDA=on) for the visible GPU's architecture only (one architecture keeps the build to a
# few minutes); the CPU part is then a portable AVX2 build. PONDER_LLAMA_CUDA=0 forces the CPU build,
# =1 requires CUDA (fails without a toolchain).
#
# Usage: scripts/llama-wheel.sh PYTHON        -> prints the wheel path on stdout
# Env:   PONDER_WHEEL_CACHE (default ~/.cache/ponder/wheels), PONDER_SDIST_CACHE (~/.cache/ponder/llama-src:
#        the source distribution, kept for ponder distill's GGUF converter), LLAMA_CPP_VERSION, LLAMA_CMAKE_ARGS,
#        PONDER_LLAMA_CUDA (auto|0|1), LLAMA_CPP_SOURCE (a local sdist or source dir, for offline hosts),
#        LLAMA_PIP_ARGS (more `pip wheel` arguments, e.g. --no-build-isolation where cmake is preinstalled)
set -euo pipefail
PY=${1:-python3}
VERSION=${LLAMA_CPP_VERSION:-0.3.36}
COMMON="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
CUDA=${PONDER_LLAMA_CUDA:-auto}
NVCC=$(command -v nvcc || { [ -x /usr/local/cuda/bin/nvcc ] && echo /usr/local/cuda/bin/nvcc; } || true)
if [ "$CUDA" = auto ]; then
  if [ -n "$NVCC" ] && nvidia-smi -L >/dev/null 2>&1; then CUDA=1; else CUDA=0; fi
fi
if [ "$CUDA" = 1 ]; then
  [ -n "$NVCC" ] || { echo "PONDER_LLAMA_CUDA=1 but no nvcc found (install the CUDA toolkit)" >&2; exit 1; }
  ARCH=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d ' .')
  DEFAULT="-DGGML_CUDA=on -DCMAKE_CUDA_COMPILER=$NVCC -DCMAKE_CUDA_ARCHITECTURES=${ARCH:-native} -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON $COMMON"
else
  # AVX-512 only where the CPU has it (an AVX-512 build dies with an illegal instruction elsewhere,
  # e.g. on AMD EPYC machines of this project's kind); AMX stays off either way.
  AVX512=$(grep -qw avx512f /proc/cpuinfo 2>/dev/null && echo " -DGGML_AVX512=ON" || true)
  DEFAULT="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON$AVX512 $COMMON"
fi
ARGS=${LLAMA_CMAKE_ARGS:-$DEFAULT}
# The source distribution is kept beside the wheels: `ponder distill` converts models with the
# llama.cpp converter inside it (ponder.distill.gguf reads it from ~/.cache/ponder/llama-src).
SDIST_DIR=${PONDER_SDIST_CACHE:-$HOME/.cache/ponder/llama-src}
SDIST=$SDIST_DIR/llama_cpp_python-$VERSION.tar.gz
if [ -z "${LLAMA_CPP_SOURCE:-}" ] && [ ! -f "$SDIST" ]; then
  mkdir -p "$SDIST_DIR"
  "$PY" -m pip download -q --no-deps --no-binary :all: -d "$SDIST_DIR" "llama-cpp-python==$VERSION" >&2
fi
SRC=${LLAMA_CPP_SOURCE:-$SDIST}
KEY=$(printf '%s|%s|%s' "$VERSION" "$ARGS" "$("$PY" -c 'import sys,platform;print(sys.implementation.cache_tag, platform.machine())')" | sha256sum | cut -c1-16)
DIR=${PONDER_WHEEL_CACHE:-$HOME/.cache/ponder/wheels}/llama-cpp-python-$VERSION-$KEY
whl=$(ls "$DIR"/llama_cpp_python-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$whl" ]; then
  echo "building llama-cpp-python $VERSION ($([ "$CUDA" = 1 ] && echo "CUDA, arch ${ARCH:-native}" || echo "CPU, AMX off"); once per machine, ~4 min) into $DIR" >&2
  mkdir -p "$DIR.tmp"
  # --no-cache-dir: pip's own wheel cache ignores CMAKE_ARGS and could hand back a crashing build.
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} CMAKE_ARGS="$ARGS" \
    "$PY" -m pip wheel --no-cache-dir --no-deps ${LLAMA_PIP_ARGS:-} -w "$DIR.tmp" "$SRC" >&2
  rm -rf "$DIR" && mv "$DIR.tmp" "$DIR"
  whl=$(ls "$DIR"/llama_cpp_python-*.whl | head -n1)
fi
echo "$whl"
