"""Continuous batching on llama.cpp: the bookkeeping of sequences as calls join a running decode,
checked against a recording stand-in for llama.cpp's memory API (no model needed)."""

import threading
from collections import deque
from types import SimpleNamespace

import numpy as np

from ponder import GenRequest, Message, SamplingParams
from ponder.backends.llamacpp import LlamaCppGenerator, _Admission, _Job, _Sample


class Memory:
    """Which sequences hold cells: seq_rm empties one, seq_cp copies one's cells into another."""

    def __init__(self):
        self.calls = []

    def llama_memory_seq_rm(self, mem, seq, p0, p1):
        self.calls.append(("rm", seq))

    def llama_memory_seq_cp(self, mem, src, dst, p0, p1):
        self.calls.append(("cp", src, dst))


def generator(n_seq_max=4):
    g = LlamaCppGenerator.__new__(LlamaCppGenerator)  # no model: only the admission bookkeeping runs
    g._ll, g._ctx = Memory(), SimpleNamespace(memory=None)
    g.n_seq_max, g.n_ctx, g._closing = n_seq_max, 100_000, False
    g._admit_lock, g._admissions = threading.Lock(), deque()
    g._prefill = lambda seq, tokens, start: np.zeros(4)
    return g


def request(n=1):
    return GenRequest(messages=(Message("user", "q"),), n=n, params=SamplingParams(max_tokens=8), seed=0)


def sample(seq, job=0):
    return _Sample(job=job, index=seq, seq=seq, pos=3, rng=np.random.default_rng(0))


def test_a_joined_sample_keeps_its_cells_when_the_next_call_joins():
    """Regression: a finished sample's sequence went to a joining call, and the next admission
    emptied that sequence again on the finished sample's behalf, wiping the live sample's prompt
    (its text then wandered off mid-sentence)."""
    g = generator()
    group, reqs = [_Job(req=0, tokens=[1, 2, 3], samples=range(3))], [request(3)]
    s0, s1, s2 = sample(0), sample(1), sample(2)
    s1.finish = "stop"  # sequence 1 is free again
    g._admissions.append(_Admission([request()], [[5, 6, 7]], None))
    [a], _ = g._admit([s0, s2], [s0, s1, s2], group, reqs)
    assert a.seq == 1  # the joining call got the finished sample's sequence
    assert g._ll.calls == [("rm", 1), ("rm", 1)]  # given back once, emptied for the newcomer

    g._ll.calls.clear()
    g._admissions.append(_Admission([request()], [[8, 9]], None))
    [b], _ = g._admit([s0, s2, a], [s0, s1, s2, a], group, reqs)
    assert b.seq == 3
    assert ("rm", 1) not in g._ll.calls  # the live joined sample's cells stay
    assert g._ll.calls == [("rm", 3)]


def test_sequences_are_given_back_once_and_only_when_finished():
    g = generator(n_seq_max=3)
    group, reqs = [_Job(req=0, tokens=[1, 2], samples=range(3))], [request(3)]
    s0, s1, s2 = sample(0), sample(1), sample(2)
    g._admit([s0, s1, s2], [s0, s1, s2], group, reqs)
    assert g._ll.calls == []  # nothing finished: nothing given back
    s2.finish = "length"
    g._admit([s0, s1], [s0, s1, s2], group, reqs)
    g._admit([s0, s1], [s0, s1, s2], group, reqs)
    assert g._ll.calls == [("rm", 2)]
    s0.finish = "stop"
    g._admit([s1], [s0, s1, s2], group, reqs)
    assert g._ll.calls == [("rm", 2)]  # sequence 0 keeps the cached prompt for the next call
