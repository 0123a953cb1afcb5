#!/usr/bin/env bash
# GPU benchmarks in one command, on any CUDA machine with ponder installed:
#
#     GGUF=model.gguf HF=MODEL_DIR bench/perf/gpu/run.sh [OUT.md]
#
# GGUF: a GGUF file or packaged model name for llama.cpp on CUDA (needs a CUDA build of
#   llama-cpp-python: scripts/llama-wheel.sh builds one where nvcc and a GPU are present).
# HF: a Hugging Face checkpoint directory for transformers (e.g. `ponder convert-gguf smollm2-135m DIR
#   --dtype bfloat16`) and vLLM (when `import vllm` works).
# Each backend: the vote@n sweep (tokens/s, engine-side share, GPU utilisation) and ponder's vote@64
# against the backend's own batched API. Prints Markdown tables for bench/perf/README.md.
set -euo pipefail
cd "$(dirname "$0")/../../.."
OUT=${1:-/dev/stdout}
PY=${PYTHON:-python}
NS=${NS:-"1 4 16 64 256"}
{
  echo "## GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -n1), $(date -u +%F)"
  if [ -n "${GGUF:-}" ]; then
    # llama.cpp's CUDA library must load before numpy's (the other order crashed at model load on the
    # H100 image, numpy 2.5 / CUDA 13; docs/design/gpu.md): preload it.
    LIB=$($PY -c "import llama_cpp, os; print(os.path.dirname(llama_cpp.__file__))" 2>/dev/null)/lib/libggml-cuda.so
    [ -f "$LIB" ] && export LD_PRELOAD=$LIB${LD_PRELOAD:+:$LD_PRELOAD}
    echo
    $PY bench/perf/gpu/n_sweep.py --backend llamacpp --model "$GGUF" --n $NS -O n_seq_max=256 -O n_ctx=131072
    echo
    $PY bench/perf/backend_overhead.py --backend llamacpp --model "$GGUF" --n 64 --max-tokens 256 -O n_seq_max=64 -O n_ctx=32768
    unset LD_PRELOAD
  fi
  if [ -n "${HF:-}" ]; then
    echo
    $PY bench/perf/gpu/n_sweep.py --backend transformers --model "$HF" --n $NS -O 'device="cuda"' -O 'dtype="bfloat16"'
    echo
    $PY bench/perf/backend_overhead.py --backend transformers --model "$HF" --n 64 --max-tokens 256 \
      -O 'device="cuda"' -O 'dtype="bfloat16"'
    if $PY -c "import vllm" 2>/dev/null; then
      echo
      $PY bench/perf/gpu/n_sweep.py --backend vllm --model "$HF" --n $NS -O gpu_memory_utilization=0.8
      echo
      $PY bench/perf/backend_overhead.py --backend vllm --model "$HF" --n 64 --max-tokens 256 -O gpu_memory_utilization=0.8
    else
      echo; echo "vLLM is not installed here: its figures are skipped."
    fi
  fi
} | tee "$OUT"
