"""llama.cpp's scheduler and sequences without a model: continuous batching's bookkeeping against a
recording stand-in for llama.cpp's memory API, the plan that packs requests into batches, admission
refused for lack of cells or sequences, a queued call served by the lock holder, errors reaching the
calls that joined, a queued call cancelled; a sequence's stop rules."""

import threading
import time

import numpy as np
import pytest

from ponder import GenRequest, Message, SamplingParams
from ponder.backends.llama_scheduler import Admission, Job, Scheduler, plan
from ponder.backends.llama_sequence import Sequence
from ponder.types import ConfidenceStop, GenOutput, GenResponse


class Memory:
    """Which sequences hold cells: seq_rm empties one, seq_cp copies one's cells into another."""

    def __init__(self):
        self.calls = []

    def seq_rm(self, seq):
        self.calls.append(("rm", seq))

    def seq_cp(self, src, dst):
        self.calls.append(("cp", src, dst))


def scheduler(n_seq_max=4, n_ctx=100_000):
    return Scheduler(Memory(), lambda seq, tokens, start: np.zeros(4), n_seq_max=n_seq_max, n_ctx=n_ctx)


def request(n=1, max_tokens=8, **kw):
    return GenRequest(messages=(Message("user", "q"),), n=n, params=SamplingParams(max_tokens=max_tokens), seed=0,
                      **kw)


def sample(seq, job=0):
    return Sequence(job=job, index=seq, seq=seq, pos=3, rng=np.random.default_rng(0))


def test_a_joined_sample_keeps_its_cells_when_the_next_call_joins():
    """Regression: a finished sample's sequence went to a joining call, and the next admission
    emptied that sequence again on the finished sample's behalf, wiping the live sample's prompt
    (its text then wandered off mid-sentence)."""
    s = scheduler()
    group, reqs = [Job(req=0, tokens=[1, 2, 3], samples=range(3))], [request(3)]
    s0, s1, s2 = sample(0), sample(1), sample(2)
    s1.finish = "stop"  # sequence 1 is free again
    s.queue.append(Admission([request()], [[5, 6, 7]], None))
    [a], _ = s.admit([s0, s2], [s0, s1, s2], group, reqs)
    assert a.seq == 1  # the joining call got the finished sample's sequence
    assert s.memory.calls == [("rm", 1), ("rm", 1)]  # given back once, emptied for the newcomer

    s.memory.calls.clear()
    s.queue.append(Admission([request()], [[8, 9]], None))
    [b], _ = s.admit([s0, s2, a], [s0, s1, s2, a], group, reqs)
    assert b.seq == 3
    assert ("rm", 1) not in s.memory.calls  # the live joined sample's cells stay
    assert s.memory.calls == [("rm", 3)]


def test_sequences_are_given_back_once_and_only_when_finished():
    s = scheduler(n_seq_max=3)
    group, reqs = [Job(req=0, tokens=[1, 2], samples=range(3))], [request(3)]
    s0, s1, s2 = sample(0), sample(1), sample(2)
    s.admit([s0, s1, s2], [s0, s1, s2], group, reqs)
    assert s.memory.calls == []  # nothing finished: nothing given back
    s2.finish = "length"
    s.admit([s0, s1], [s0, s1, s2], group, reqs)
    s.admit([s0, s1], [s0, s1, s2], group, reqs)
    assert s.memory.calls == [("rm", 2)]
    s0.finish = "stop"
    s.admit([s1], [s0, s1, s2], group, reqs)
    assert s.memory.calls == [("rm", 2)]  # sequence 0 keeps the cached prompt for the next call


def test_admission_waits_for_free_sequences_and_cells():
    s = scheduler(n_seq_max=3, n_ctx=40)
    group, reqs = [Job(req=0, tokens=[1, 2], samples=range(2))], [request(2)]
    live = [sample(0), sample(1)]
    s.queue.append(Admission([request(n=2)], [[7, 8]], None))  # needs 2 sequences: one is free
    assert s.admit(live, live, group, reqs) == ([], []) and len(s.queue) == 1
    live[1].finish = "stop"
    s.queue[0] = Admission([request(n=1, max_tokens=30)], [[7, 8]], None)  # a sequence, but not the cells
    assert s.admit(live[:1], live, group, reqs) == ([], []) and len(s.queue) == 1
    s.queue[0] = Admission([request(n=1, max_tokens=8)], [[7, 8]], None)  # fits now
    new, rows = s.admit(live[:1], live, group, reqs)
    assert [x.seq for x in new] == [1] and len(rows) == 1 and not s.queue
    assert len(group) == 2 and len(reqs) == 2 and new[0].owner is not None and new[0].owner.left == 1
    s.closing = True  # a closing model takes nobody
    s.queue.append(Admission([request()], [[9]], None))
    assert s.admit([], live + new, group, reqs) == ([], [])


def test_plan_splits_a_request_wider_than_a_batch_and_packs_small_ones():
    groups = plan([request(n=10), request(n=2), request(n=1)], [[1] * 5] * 3, n_seq_max=4, n_ctx=10_000)
    assert [[(j.req, list(j.samples)) for j in g] for g in groups] == [
        [(0, [0, 1, 2, 3])], [(0, [4, 5, 6, 7])], [(0, [8, 9]), (1, [0, 1])], [(2, [0])]]
    tight = plan([request(n=4, max_tokens=100)], [[1] * 10], n_seq_max=8, n_ctx=250)
    assert [len(g[0].samples) for g in tight] == [2, 2]  # the cells, not the sequences, bound it


def expired(req, prompt_tokens):
    return GenResponse(outputs=tuple(GenOutput(text="", finish_reason="deadline", completion_tokens=0)
                                     for _ in range(req.n)), usage=None)


def test_a_queued_call_is_served_by_the_holder_or_answered_when_it_expires_or_leaves():
    s = scheduler()
    s.lock.acquire()  # another call decodes
    got = []
    t = threading.Thread(target=lambda: got.append(s.wait_to_join([request()], [[1]], None, expired, poll_s=0.005)))
    t.start()
    while not s.queue:
        time.sleep(0.001)
    entry = s.next_queued()  # the holder, its own work done, serves the queue
    s.serve(entry, lambda: ["served"])
    t.join(5)
    assert got == [["served"]]
    s.lock.release()

    s.lock.acquire()
    late = request(deadline=time.monotonic() + 0.05)
    [resp] = s.wait_to_join([late], [[1]], None, expired, poll_s=0.005)
    assert resp.outputs[0].finish_reason == "deadline" and not s.queue  # never prefilled
    gone = threading.Event()
    gone.set()
    [resp] = s.wait_to_join([request(cancel=gone)], [[1]], None, expired, poll_s=0.005)
    assert resp.outputs[0].finish_reason == "deadline" and not s.queue
    s.lock.release()
    assert s.wait_to_join([request()], [[1]], None, expired, poll_s=0.005) is None  # the decoder left: ours now
    assert s.lock.locked()
    s.lock.release()


def test_an_error_in_the_running_loop_reaches_the_calls_that_joined_it():
    s = scheduler()
    s.lock.acquire()
    group, reqs = [Job(req=0, tokens=[1], samples=range(1))], [request()]
    errors = []

    def waiter():
        try:
            s.wait_to_join([request()], [[1]], None, expired, poll_s=0.005)
        except RuntimeError as e:
            errors.append(e)

    t = threading.Thread(target=waiter)
    t.start()
    while not s.queue:
        time.sleep(0.001)
    live = [sample(0)]
    joined, _ = s.admit(live, live, group, reqs)
    s.fail_joined(joined, RuntimeError("llama_decode failed"))
    t.join(5)
    assert [str(e) for e in errors] == ["llama_decode failed"]
    s.lock.release()


def step(seq, text_tokens, req, eog=None):
    pieces = {i: t.encode() for i, t in enumerate(text_tokens)}
    for i in range(len(text_tokens)):
        seq.step(np.zeros(len(text_tokens) + 2), req, i, piece=pieces.__getitem__, end_of_generation=i == eog)
        if seq.finish:
            break
    return seq


def test_a_sequence_stops_at_a_stop_string_split_across_tokens_and_keeps_the_text_before_it():
    req = GenRequest(prompt="q", params=SamplingParams(max_tokens=50, stop=("\n\nStep",)))
    s = step(sample(1), ["One", " thing", ".\n", "\nSt", "ep 2", " more"], req)
    assert s.finish == "stop" and s.text == "One thing." and s.stop_string == "\n\nStep" and len(s.tokens) == 5
    assert s.output(req).text == "One thing."


def test_a_sequence_stops_at_its_answer_max_tokens_a_confidence_cut_or_its_deadline():
    ans = GenRequest(prompt="q", answer_stop=True, params=SamplingParams(max_tokens=50))
    s = step(sample(1), ["so ", "\\boxed{", "4", "}", " and more"], ans)
    assert s.finish == "stop" and s.output(ans).text == "so \\boxed{4}"
    empty = step(sample(1), ["\\boxed{", "}", " then"], ans)
    assert empty.finish is None and len(empty.tokens) == 3  # an empty box is not an answer: it goes on
    short = GenRequest(prompt="q", params=SamplingParams(max_tokens=2))
    assert step(sample(1), ["a", "b", "c"], short).finish == "length"
    late = GenRequest(prompt="q", params=SamplingParams(max_tokens=50), deadline=time.monotonic() - 1)
    assert step(sample(1), ["a", "b"], late).finish == "deadline"
    cut = GenRequest(prompt="q", params=SamplingParams(max_tokens=50),
                     confidence_stop=ConfidenceStop(threshold=100.0, window=2, top_k=2))
    s = step(sample(1), ["a", "b", "c", "d"], cut)
    assert s.finish == "cutoff" and len(s.conf) == 2
    assert step(sample(1), ["a", "b"], short, eog=0).finish == "stop"


@pytest.mark.parametrize("chunks", [["é"], ["\xc3", "\xa9"]])
def test_text_is_reported_in_whole_characters(chunks):
    seen = []
    req = GenRequest(prompt="q", params=SamplingParams(max_tokens=9), on_text=lambda i, t, f: seen.append(t))
    s = sample(0)
    raw = "é".encode()
    parts = [raw] if len(chunks) == 1 else [raw[:1], raw[1:]]
    for k, part in enumerate(parts):
        s.step(np.zeros(4), req, k, piece=lambda _t, p=part: p, end_of_generation=False)
        s.report(req, len(s.pieces) - 1)
    assert "".join(seen) == "é" and all(seen)
