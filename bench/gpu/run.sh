#!/usr/bin/env bash
# GPU benchmarks in one command, on any CUDA machine with ponder installed (pip install -e '.[hf]';
# vLLM where it is installed):
#
#     bench/gpu/run.sh MODEL_DIR [OUT.md]
#
# MODEL_DIR: a Hugging Face checkpoint directory, e.g. from `ponder convert-gguf smollm2-135m DIR`.
# Runs the transformers backend on the GPU (vote@n sweep and overhead against model.generate), and
# the same on vLLM when `import vllm` works. Prints Markdown tables for bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${1:?usage: bench/gpu/run.sh MODEL_DIR [OUT.md]}
OUT=${2:-/dev/stdout}
PY=${PYTHON:-python}
$PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device visible to torch')"
{
  echo "## GPU: $($PY -c 'import torch; print(torch.cuda.get_device_name(0))'), $(date -u +%F)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  echo
  $PY bench/gpu/n_sweep.py --backend transformers --model "$MODEL" -O 'device="cuda"' -O 'dtype="bfloat16"'
  echo
  $PY bench/backend_overhead.py --backend transformers --model "$MODEL" -O 'device="cuda"' -O 'dtype="bfloat16"'
  if $PY -c "import vllm" 2>/dev/null; then
    echo
    $PY bench/gpu/n_sweep.py --backend vllm --model "$MODEL" -O gpu_memory_utilization=0.8
    echo
    $PY bench/backend_overhead.py --backend vllm --model "$MODEL" -O gpu_memory_utilization=0.8
  else
    echo; echo "vLLM is not installed here: its figures are skipped."
  fi
} | tee "$OUT"
