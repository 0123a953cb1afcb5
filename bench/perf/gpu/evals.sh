#!/usr/bin/env bash
# The long evaluations of issues 11 and 12 on a GPU (llama.cpp on CUDA), resumable, logs to $OUT.
#
#     Q05=qwen-0.5b.gguf Q15=qwen-1.5b.gguf OUT=/tmp/out bench/perf/gpu/evals.sh [JOBS...]
#
# On this project's 2-core CPU, self-consistency@16 with Qwen2.5-Coder-0.5B runs at ~25 tokens/s:
# 200 GSM8K problems take ~13 hours. The same eval on one H100 takes minutes, and its logs are the
# same kind of evidence (accuracy and token counts do not depend on the hardware; only wall time
# does, so wall figures are reported from CPU runs). Each JOB is one `ponder eval` (see `job` below);
# every run resumes from its log, so a job cut off by the device's per-command limit continues on
# the next call if its log was carried back. Needs a CUDA build of llama-cpp-python
# (scripts/llama-wheel.sh builds one where nvcc and a GPU are present).
set -euo pipefail
cd "$(dirname "$0")/../../.."
PY=${PYTHON:-python}
OUT=${OUT:?set OUT to a directory for the run logs}
LIB=$($PY -c "import llama_cpp, os; print(os.path.dirname(llama_cpp.__file__))" 2>/dev/null)/lib/libggml-cuda.so
[ -f "$LIB" ] && export LD_PRELOAD=$LIB${LD_PRELOAD:+:$LD_PRELOAD}  # before numpy (docs/design/gpu.md)
GPU_OPTS=(-O n_seq_max=256 -O n_ctx=131072 --concurrency 16 --max-tokens 512 -v confidence -s vote)

job() {  # job NAME MODEL_FILE PACKAGED_NAME N DATASET (the log records the packaged name: the file is one)
  local name=$1 model=$2 n=$4 data=$5
  mkdir -p "$OUT/$name"
  $PY -m ponder eval -m "$model" -n "$n" -d "$data" -o "$OUT/$name" "${GPU_OPTS[@]}" 2>&1 | tail -n 3
}

ALL=(q05-gsm8k-fit q05-gsm8k q05-arith-fit q05-arith q15-gsm8k-fit q15-gsm8k q15-arith-fit q15-arith)
for j in "${@:-${ALL[@]}}"; do
  case $j in
    q05-gsm8k-fit) job "$j" "${Q05:?}" qwen2.5-coder-0.5b 16 'gsm8k[1000:1200]' ;;
    q05-gsm8k)     job "$j" "${Q05:?}" qwen2.5-coder-0.5b 16 'gsm8k[0:200]' ;;
    q05-arith-fit) job "$j" "${Q05:?}" qwen2.5-coder-0.5b 16 'arith[0:200]' ;;
    q05-arith)     job "$j" "${Q05:?}" qwen2.5-coder-0.5b 16 'arith:seed=1[0:200]' ;;
    q15-gsm8k-fit) job "$j" "${Q15:?}" qwen2.5-coder-1.5b 8 'gsm8k[1000:1200]' ;;
    q15-gsm8k)     job "$j" "${Q15:?}" qwen2.5-coder-1.5b 8 'gsm8k[0:200]' ;;
    q15-arith-fit) job "$j" "${Q15:?}" qwen2.5-coder-1.5b 8 'arith[0:200]' ;;
    q15-arith)     job "$j" "${Q15:?}" qwen2.5-coder-1.5b 8 'arith:seed=1[0:200]' ;;
    *) echo "unknown job $j (one of: ${ALL[*]})" >&2; exit 2 ;;
  esac
done
