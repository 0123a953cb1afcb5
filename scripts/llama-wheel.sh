#!/usr/bin/env bash
# Build (once per machine) and print the path of a llama-cpp-python wheel that works on this CPU.
#
# Why: llama-cpp-python has no wheel on PyPI, and its default source build turns on Intel AMX kernels
# that this VM's CPU advertises but does not run (segfault at the first matrix multiply). We build with
# AMX off and cache the wheel outside the repository, keyed by version and build flags, so `make`
# builds it at most once per machine (about 4 minutes on 2 cores).
#
# Usage: scripts/llama-wheel.sh PYTHON        -> prints the wheel path on stdout
# Env:   PONDER_WHEEL_CACHE (default ~/.cache/ponder/wheels), LLAMA_CPP_VERSION, LLAMA_CMAKE_ARGS
set -euo pipefail
PY=${1:-python3}
VERSION=${LLAMA_CPP_VERSION:-0.3.36}
ARGS=${LLAMA_CMAKE_ARGS:-"-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=ON -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"}
KEY=$(printf '%s|%s|%s' "$VERSION" "$ARGS" "$("$PY" -c 'import sys,platform;print(sys.implementation.cache_tag, platform.machine())')" | sha256sum | cut -c1-16)
DIR=${PONDER_WHEEL_CACHE:-$HOME/.cache/ponder/wheels}/llama-cpp-python-$VERSION-$KEY
whl=$(ls "$DIR"/llama_cpp_python-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$whl" ]; then
  echo "building llama-cpp-python $VERSION (AMX off; once per machine, ~4 min) into $DIR" >&2
  mkdir -p "$DIR.tmp"
  # --no-cache-dir: pip's own wheel cache ignores CMAKE_ARGS and could hand back a crashing build.
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} CMAKE_ARGS="$ARGS" \
    "$PY" -m pip wheel --no-cache-dir --no-deps -w "$DIR.tmp" "llama-cpp-python==$VERSION" >&2
  rm -rf "$DIR" && mv "$DIR.tmp" "$DIR"
  whl=$(ls "$DIR"/llama_cpp_python-*.whl | head -n1)
fi
echo "$whl"
