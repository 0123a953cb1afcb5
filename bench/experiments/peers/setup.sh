#!/usr/bin/env bash
# The peers' own environment, .venv-peers: its_hub (library, with its OpenAI-compatible LM client) and
# optillm (the proxy). optillm declares torch, transformers, spacy, gradio and more, none of which its
# proxy needs for the approaches compared here: it is installed without dependencies, plus the modules
# its server imports at start-up (plugins that need more just fail to load, which optillm logs and
# tolerates). Pinned to the versions the tables in bench/experiments/peers/README.md was measured with.
set -euo pipefail
cd "$(dirname "$0")/../../.."
VENV=.venv-peers
PY=${PY:-python3}
test -x $VENV/bin/python || $PY -m venv $VENV
$VENV/bin/python -m pip install -q -U pip
$VENV/bin/python -m pip install -q "its_hub[lm]==1.2.0"
$VENV/bin/python -m pip install -q --no-deps "optillm==0.4.0"
$VENV/bin/python -m pip install -q flask openai numpy networkx "z3-solver<=4.15.4.0" cerebras_cloud_sdk \
  tiktoken requests math-verify PyYAML
# llama.cpp's own server with parallel slots (run.py --server xllamacpp): a prebuilt AVX2 wheel, no AMX
$VENV/bin/python -m pip install -q "xllamacpp==2026.10.11549"
$VENV/bin/python -c "import its_hub, optillm.server" 2>/dev/null
$VENV/bin/python -m pip freeze | grep -iE "^(its.hub|optillm|openai|xllamacpp)==" > $VENV/versions.txt
cat $VENV/versions.txt
