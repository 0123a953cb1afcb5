"""Who decodes on llama.cpp, and when: packing requests into batches, and continuous batching.

One call at a time holds the decoder (the model's lock). `plan` packs its requests, or slices of a
request's samples when n exceeds the sequences of a batch, into groups that fit the sequences
(`n_seq_max`) and KV cells (`n_ctx`). A call that arrives while another decodes queues an
`Admission`: the running loop lets it join (`Scheduler.admit`) as soon as free sequences and cells
allow, first come first served, and answers it when its own samples finish; the lock holder serves
what is still queued when its own work is done; a queued call whose deadline passes or whose caller
leaves is answered "deadline" without a prefill.

The scheduler works through an injected memory API (`Memory`: empty a sequence, copy one into
another) and a `prefill` function, so its bookkeeping is tested without a model.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ponder.backends.base import ProgressFn
from ponder.backends.llama_sequence import Sequence as Sample
from ponder.types import GenRequest, GenResponse


class Memory(Protocol):
    """The part of llama.cpp's memory API the scheduler uses."""

    def seq_rm(self, seq: int) -> None:
        """Give back every cell of sequence `seq`."""

    def seq_cp(self, src: int, dst: int) -> None:
        """Let sequence `dst` share every cell of sequence `src`."""


Prefill = Callable[[int, list[int], int], np.ndarray]
"""(sequence, prompt tokens, first token to evaluate) → the logits after the prompt."""


@dataclass
class Job:
    """A request, or a slice of its samples when n exceeds the sequences of one batch."""

    req: int
    tokens: list[int]
    samples: range


@dataclass
class Admission:
    """A call that arrived while another one decoded."""

    requests: list[GenRequest]
    prompts: list[list[int]]
    progress: ProgressFn | None
    done: threading.Event = field(default_factory=threading.Event)
    result: list[GenResponse] | None = None
    error: BaseException | None = None
    samples: list[list[Sample]] = field(default_factory=list)
    evaluated: list[int] = field(default_factory=list)
    left: int = 0
    t0: float = field(default_factory=time.perf_counter)


def plan(requests: Sequence[GenRequest], prompts: list[list[int]], n_seq_max: int, n_ctx: int) -> list[list[Job]]:
    """Pack requests (or slices of their samples) into groups that fit the sequences and cells."""
    groups: list[list[Job]] = []
    cur: list[Job] = []
    seqs = cells = 0
    for i, (r, toks) in enumerate(zip(requests, prompts)):
        per = r.params.max_tokens
        max_k = max(1, min(n_seq_max, (n_ctx - len(toks)) // per))
        start = 0
        while start < r.n:
            k = min(r.n - start, max_k)
            need = len(toks) + k * per
            if cur and (seqs + k > n_seq_max or cells + need > n_ctx):
                groups.append(cur)
                cur, seqs, cells = [], 0, 0
            cur.append(Job(req=i, tokens=toks, samples=range(start, start + k)))
            seqs += k
            cells += need
            start += k
    if cur:
        groups.append(cur)
    return groups


def seed_rng(req: GenRequest, index: int) -> np.random.Generator:
    """Sample `index` of a request draws from (seed, index): the same seed gives the same samples."""
    seed = req.seed if req.seed is not None else int.from_bytes(os.urandom(4), "little")
    return np.random.default_rng([seed, index])


class Scheduler:
    """The queue of calls waiting to join the running decode, and the rules for letting them in."""

    def __init__(self, memory: Memory, prefill: Prefill, *, n_seq_max: int, n_ctx: int) -> None:
        self.memory, self.prefill = memory, prefill
        self.n_seq_max, self.n_ctx = n_seq_max, n_ctx
        self.lock = threading.Lock()
        """Held by the call that decodes."""
        self.queue: collections.deque[Admission] = collections.deque()
        self._queue_lock = threading.Lock()
        self.closing = False

    def wait_to_join(self, requests: list[GenRequest], prompts: list[list[int]], progress: ProgressFn | None,
                     expired: Callable[[GenRequest, int], GenResponse], *,
                     poll_s: float = 0.02) -> list[GenResponse] | None:
        """Another call holds the decoder: queue to join its loop and wait for our own samples. Returns
        None when the decoder went away without taking us and we now hold the lock instead."""
        deadlines = [r.deadline for r in requests]
        end = None if None in deadlines else max(d for d in deadlines if d is not None)
        entry = Admission(requests, prompts, progress)
        with self._queue_lock:
            self.queue.append(entry)
        while not entry.done.wait(poll_s):
            with self._queue_lock:
                queued = entry in self.queue
                gone = all(r.cancel is not None and r.cancel.is_set() for r in requests)
                if queued and (gone or (end is not None and time.monotonic() >= end)):
                    self.queue.remove(entry)  # its deadline passed (or its caller left) before there was room
                    return [expired(r, len(p)) for r, p in zip(requests, prompts)]
                if queued and self.lock.acquire(blocking=False):
                    self.queue.remove(entry)  # the decoder finished without taking us
                    return None
        if entry.error is not None:
            raise entry.error
        assert entry.result is not None
        return entry.result

    def next_queued(self) -> Admission | None:
        """The lock holder, its own work done, takes the calls that queued but found no room."""
        with self._queue_lock:
            return self.queue.popleft() if self.queue else None

    @staticmethod
    def serve(entry: Admission, run: Callable[[], list[GenResponse]]) -> None:
        try:
            entry.result = run()
        except BaseException as e:  # the waiting caller raises it
            entry.error = e
        entry.done.set()

    def admit(self, live: list[Sample], all_samples: list[Sample], group: list[Job],
              reqs: list[GenRequest]) -> tuple[list[Sample], list[np.ndarray]]:
        """Let queued calls join the running loop while free sequences and KV cells allow (first come,
        first served); returns their new samples and the logits for their first tokens. `group` and
        `reqs` (the running loop's jobs and requests) grow by the joined ones."""
        # finished samples give their sequence's cells back, once (seq 0 keeps the cached prompt): the
        # sequence may then go to a joining sample, whose cells must never be removed on the old one's behalf
        for s in all_samples:
            if s.finish is not None and s.seq and not s.released:
                self.memory.seq_rm(s.seq)
                s.released = True
        busy = {s.seq for s in live} | {0}
        free = [q for q in range(self.n_seq_max) if q not in busy]
        jobs = {s.job for s in live}
        cells = sum(len(group[j].tokens) for j in jobs) + sum(reqs[group[s.job].req].params.max_tokens for s in live)
        cells += next((s.pos for s in all_samples if s.seq == 0), 0)
        new: list[Sample] = []
        first_rows: list[np.ndarray] = []
        while True:
            with self._queue_lock:
                entry = self.queue[0] if self.queue else None
                if entry is None:
                    break
                n = sum(r.n for r in entry.requests)
                need = sum(len(p) + r.n * r.params.max_tokens for r, p in zip(entry.requests, entry.prompts))
                if n > len(free) or cells + need > self.n_ctx or self.closing:
                    break  # no room yet: it waits for sequences to finish (or for the next call)
                self.queue.popleft()
            cells += need
            entry.samples = [[] for _ in entry.requests]
            entry.evaluated = [len(p) for p in entry.prompts]
            for i, (r, toks) in enumerate(zip(entry.requests, entry.prompts)):
                seqs, free = free[: r.n], free[r.n:]
                self.memory.seq_rm(seqs[0])
                logits = self.prefill(seqs[0], toks, 0)
                group.append(Job(req=len(reqs), tokens=toks, samples=range(r.n)))
                reqs.append(r)
                for k, q in enumerate(seqs):
                    if k:
                        self.memory.seq_rm(q)
                        self.memory.seq_cp(seqs[0], q)
                    smp = Sample(job=len(group) - 1, index=k, seq=q, pos=len(toks), rng=seed_rng(r, k), owner=entry)
                    entry.samples[i].append(smp)
                    new.append(smp)
                    first_rows.append(logits)
            entry.left = n
        return new, first_rows

    @staticmethod
    def sample_done(s: Sample, respond: Callable[[Admission], list[GenResponse]]) -> None:
        """A sample of a call that joined the loop finished; answer the call once all of its have."""
        entry = s.owner
        assert entry is not None
        entry.left -= 1
        if entry.progress is not None:
            entry.progress(1)
        if entry.left > 0:
            return
        entry.result = respond(entry)
        entry.done.set()

    @staticmethod
    def fail_joined(joined: list[Sample], error: BaseException) -> None:
        """The running loop failed: the calls that joined it get the error too."""
        for s in joined:
            if s.owner is not None and not s.owner.done.is_set():
                s.owner.error = error
                s.owner.done.set()
