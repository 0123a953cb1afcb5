"""llama.cpp's own server (continuous batching, parallel slots, `n > 1`) through the xllamacpp
wheel, for bench/experiments/peers/run.py --server xllamacpp. Runs in .venv-peers; prints the server's URL on
stdout once it listens and serves until stdin closes.

    python bench/experiments/peers/xllamacpp_server.py MODEL.gguf PORT N_PARALLEL CTX_PER_SLOT
"""

from __future__ import annotations

import sys

import xllamacpp


def main() -> None:
    path, port, parallel, per_slot = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    p = xllamacpp.CommonParams()
    p.model.path = path
    p.port = port
    p.n_parallel = parallel
    p.n_ctx = per_slot * parallel  # llama.cpp splits the context evenly over the slots
    p.cpuparams.n_threads = p.cpuparams_batch.n_threads = 2
    p.warmup = False
    server = xllamacpp.Server(p)
    print(server.listening_address, flush=True)
    sys.stdin.read()  # until the parent closes our stdin (or exits)
    del server


if __name__ == "__main__":
    main()
