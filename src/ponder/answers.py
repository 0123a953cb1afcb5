"""Final answers: pull them out of free text, normalise them into vote keys, decide equivalence.

Extraction order (first that matches wins): the last non-empty `\\boxed{...}`, GSM8K's `#### N`, "the
(final) answer is X", and finally the last number in the text. An answer is a value: an empty box
("The answer is within \\boxed{}.", an echo of the instruction) is no answer, and neither is prose
after "the answer is" ("The answer is correct."): only numbers, math, a choice letter or yes/no count
there. Equivalence uses the `math-verify` package (LaTeX, fractions, sets, units), after a cheap numeric
normalisation that makes "1,234", "$1234.00" and "1234" the same vote.

Grouping many answers (`group_keys`, what a vote over N samples needs) canonicalises each distinct
answer once instead of comparing every pair: exact numbers become fraction keys, prose becomes its
normal form (math-verify is never run on sentences: parsed as LaTeX, each letter is a symbol and
comparing two of them took seconds), and LaTeX expressions are parsed once and bucketed by a numeric
fingerprint (their value at a fixed point). math-verify compares pairs only inside a bucket, bounded in
number and time. math-verify has no grouping API, hence this layer of our own.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

_NUMBER = r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+"
_NUM_RE = re.compile(_NUMBER)
_HASH_RE = re.compile(r"####\s*(.+)")
_ANSWER_IS_RE = re.compile(
    r"(?:final answer|the answer|answer)\s*(?:is|:|=)\s*[:\s]*(.+)", re.IGNORECASE)
_TEXT_WRAP_RE = re.compile(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}")
_UNIT_TAIL_RE = re.compile(r"^(-?[\d.]+)\s*(?:[a-zA-Z][a-zA-Z ]*|%)?\.?$")


def _boxed_span_at(text: str, start: int) -> tuple[str, int] | None:
    """(content, end index) of the \\boxed{...} (or \\fbox{...}) at `start`, nested braces balanced."""
    i = text.find("{", start)
    if i < 0:
        return None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:j].strip(), j + 1
    return None


def _last_boxed_span(text: str) -> tuple[str, int] | None:
    """(content, end index) of the last closed \\boxed{...} (or \\fbox{...})."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    return _boxed_span_at(text, start) if start >= 0 else None


_BOX_RE = re.compile(r"\\(?:boxed|fbox)")


def _boxes(text: str) -> list[str]:
    """The contents of every closed box, in order (empty ones included)."""
    out = []
    for m in _BOX_RE.finditer(text):
        span = _boxed_span_at(text, m.start())
        if span is not None:
            out.append(span[0])
    return out


def _last_boxed(text: str) -> str | None:
    """Content of the last non-empty \\boxed{...} (or \\fbox{...}), with nested braces balanced."""
    return next((b for b in reversed(_boxes(text)) if b), None)


_CHOICE_RE = re.compile(r"^\(?[A-Ea-e]\)?(?:[.:)]|\s|$)")
_WORD_ANSWERS = {"yes", "no", "true", "false"}


def _is_value(tail: str) -> bool:
    """Whether what follows "the answer is" states a value: a number, math, a choice, yes or no. Prose
    ("correct", "within the box") is not an answer."""
    if any(ch.isdigit() for ch in tail) or "\\" in tail or "$" in tail or _CHOICE_RE.match(tail):
        return True
    return tail.strip().lower().rstrip(".!") in _WORD_ANSWERS


THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def split_thinking(text: str) -> tuple[str | None, str]:
    """(the thinking, the answer text) of a reasoning model's output: what sits inside
    `<think>…</think>` and what follows it. Text without the tags is all answer (no thinking); an
    unclosed `<think>` is thinking still going on (no answer yet). Votes, verifiers and the client's
    `content` see the answer text only; the thinking goes to `reasoning_content`."""
    close = text.rfind(THINK_CLOSE)
    if close >= 0:
        head = text[:close]
        start = head.find(THINK_OPEN)
        thinking = head[start + len(THINK_OPEN):] if start >= 0 else head
        return thinking.strip(), text[close + len(THINK_CLOSE):].lstrip()
    start = text.find(THINK_OPEN)
    if start >= 0:
        return text[start + len(THINK_OPEN):].strip(), text[:start]
    return None, text


def answer_written(text: str, after: int = 0) -> bool:
    """True once `text` holds a closed, non-empty `\\boxed{...}` that closes at or after index
    `after`: the point where a sample that was asked to box its final answer can stop
    (`GenRequest.answer_stop`). For a continuation, `text` is prefix + generated text and `after` the
    prefix's length, so a box the prefix already closed does not count but one it opened does."""
    if THINK_OPEN in text:  # a reasoning model: only a box after its thinking is its answer
        close = text.rfind(THINK_CLOSE)
        if close < 0:
            return False
        after = max(after, close)
    span = _last_boxed_span(text)
    return span is not None and bool(span[0]) and span[1] > after


def _clean_tail(s: str) -> str:
    s = s.strip().splitlines()[0] if s.strip() else ""
    s = s.strip().strip("*").strip()
    s = re.sub(r"^\$+|\$+$", "", s).strip()  # LaTeX math delimiters
    return s.rstrip(".").strip()


def extract_answer(text: str) -> str | None:
    """The final answer stated in `text` (after a reasoning model's thinking), or None when there is none."""
    if not text:
        return None
    text = split_thinking(text)[1]
    boxes = _boxes(text)
    boxed = next((b for b in reversed(boxes) if b), None)
    if boxed is not None:
        return boxed
    if boxes:  # it boxed its answer, and the box is empty: it stated none
        return None
    m = _HASH_RE.findall(text)
    if m and _clean_tail(m[-1]):
        return _clean_tail(m[-1])
    m = _ANSWER_IS_RE.findall(text)
    if m:
        tail = _clean_tail(m[-1])
        num = _NUM_RE.search(tail)
        if num and _UNIT_TAIL_RE.match(tail.replace("$", "").replace(",", "")):
            return num.group(0)
        if tail and _is_value(tail):
            return tail
    nums = _NUM_RE.findall(text)
    return nums[-1].rstrip(".") if nums else None


def _as_number(s: str) -> Fraction | None:
    t = s.replace("\\$", "").replace("$", "").replace("\\!", "").replace(",", "").strip()
    t = t.replace("\\%", "%")
    t = re.sub(r"\^\{?\\circ\}?", "", t).strip()
    m = _UNIT_TAIL_RE.match(t)
    if m is None:
        m2 = re.fullmatch(r"-?\\[dt]?frac\{(-?\d+)\}\{(-?\d+)\}|(-?\d+)/(\d+)", t)
        if m2:
            num, den = (m2.group(1), m2.group(2)) if m2.group(1) else (m2.group(3), m2.group(4))
            if int(den) == 0:
                return None
            val = Fraction(int(num), int(den))
            return -val if t.startswith("-\\") else val
        return None
    try:
        return Fraction(m.group(1))
    except (ValueError, ZeroDivisionError):
        return None


def normalize(answer: str | None) -> str | None:
    """A canonical vote key: numbers become their exact value ("1,234.0" → "1234", "0.50" → "1/2"),
    other answers lose LaTeX wrappers and spacing."""
    if answer is None:
        return None
    s = _TEXT_WRAP_RE.sub(r"\1", answer).strip()
    num = _as_number(s)
    if num is not None:
        return str(num.numerator) if num.denominator == 1 else f"{num.numerator}/{num.denominator}"
    s = s.replace("\\left", "").replace("\\right", "").replace("\\dfrac", "\\frac")
    s = re.sub(r"\s+", "", s).rstrip(".")
    return s or None


def _verify_timeouts() -> int | None:
    # math-verify enforces timeouts with signal.alarm, which only works in the main thread.
    return 5 if threading.current_thread() is threading.main_thread() else None


@lru_cache(maxsize=1)
def _quiet_math_verify() -> None:
    """math-verify warns on every answer it cannot parse (most free text). Once per process, and only
    if the application has not set that logger's level itself, keep it to errors."""
    logger = logging.getLogger("math_verify")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.ERROR)


@lru_cache(maxsize=4096)
def _parse(answer: str, timeout: int | None) -> list[Any]:
    from math_verify import parse

    _quiet_math_verify()
    parsed: list[Any] = parse("\\boxed{" + answer + "}", parsing_timeout=timeout)
    return parsed


def equivalent(a: str | None, b: str | None) -> bool:
    """True when two final answers are the same mathematical object. None equals nothing."""
    if a is None or b is None:
        return False
    na, nb = normalize(a), normalize(b)
    if na is not None and na == nb:
        return True
    if _as_number(a) is not None and _as_number(b) is not None:
        return False  # two different exact numbers
    from math_verify import verify

    timeout = _verify_timeouts()
    try:
        return bool(verify(_parse(a, timeout), _parse(b, timeout), timeout_seconds=timeout))
    except Exception:  # math-verify can raise on exotic input; unparseable means not equal
        return False


# -- grouping many answers -------------------------------------------------------------------------

_FUNCTION_WORDS = frozenset(
    "sin cos tan cot sec csc sinh cosh tanh arcsin arccos arctan log ln exp sqrt frac dfrac tfrac pi "
    "infty inf mod gcd lcm max min deg cdot times div leq geq neq circ text mathrm".split())
_WORD_RE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{3,}")
_MAX_EXPR_CHARS = 200
"""Longer answers are keyed by their normal form without parsing (sympy's cost grows with size)."""
MAX_PAIR_CHECKS = 256
"""Most math-verify comparisons one `group_keys` call makes (inside fingerprint buckets)."""


@dataclass(frozen=True, slots=True)
class Canonical:
    """One answer's vote key. kind: "number" (key is the exact value), "text" (key is the normal form,
    equal only to itself), or "expr" (a parsed expression; `fingerprint` buckets candidates for a
    math-verify comparison)."""

    key: str
    kind: str
    fingerprint: str | None = None
    parsed: Any = None


def _is_prose(key: str) -> bool:
    return any(w.lower() not in _FUNCTION_WORDS for w in _WORD_RE.findall(key))


def _fraction_key(num: Fraction) -> str:
    return str(num.numerator) if num.denominator == 1 else f"{num.numerator}/{num.denominator}"


def _round(x: float) -> str:
    return "0" if abs(x) < 1e-9 else f"{x:.6g}"


def _probe_value(name: str) -> float:
    # a fixed, name-dependent point far from small integers, where distinct expressions rarely agree
    return 0.5 + (sum(map(ord, name)) * 0.6180339887) % 1.0


def _fingerprint(obj: Any) -> str:
    """Numbers and expressions: their (complex) value, 6 significant digits, at a fixed point for the
    free symbols. Anything else (sets, intervals, relations): its type, so such answers share a bucket."""
    import sympy

    if isinstance(obj, sympy.Expr):
        try:
            subs = {s: _probe_value(str(s)) for s in obj.free_symbols}
            v = complex(obj.evalf(15, subs=subs))
            return f"v:{_round(v.real)},{_round(v.imag)}"
        except Exception:  # noqa: BLE001 - unevaluable (e.g. undefined functions): bucket by type
            pass
    return f"t:{type(obj).__name__}"


@lru_cache(maxsize=65536)
def _canonical_expr(key: str, timeout: int | None) -> Canonical:
    try:
        parsed = _parse(key, timeout)
    except Exception:  # noqa: BLE001 - math-verify can raise (or time out) on exotic input
        parsed = None
    if not parsed:
        return Canonical(key, "text")
    import sympy

    obj = parsed[0]
    if isinstance(obj, sympy.Rational):
        return Canonical(_fraction_key(Fraction(int(obj.p), int(obj.q))), "number", _fingerprint(obj))
    if isinstance(obj, sympy.Float):
        try:
            return Canonical(_fraction_key(Fraction(str(obj))), "number", _fingerprint(obj))
        except ValueError:
            pass
    return Canonical(key, "expr", _fingerprint(obj), parsed)


def canonical(answer: str | None, *, parse: bool = True) -> Canonical | None:
    """The vote key of one answer (None: no answer). parse=False keys expressions by their normal
    form without math-verify (what `group_keys` falls back to once its time is up)."""
    key = normalize(answer)
    if key is None:
        return None
    assert answer is not None
    num = _as_number(_TEXT_WRAP_RE.sub(r"\1", answer).strip())
    if num is not None:
        return Canonical(key, "number", f"v:{_round(float(num))},0")
    if not parse or len(key) > _MAX_EXPR_CHARS or _is_prose(key):
        return Canonical(key, "text")
    return _canonical_expr(key, _verify_timeouts())


def _verify_pair(a: Canonical, b: Canonical) -> bool:
    from math_verify import verify

    timeout = _verify_timeouts()
    try:
        return bool(verify(a.parsed or _parse(a.key, timeout), b.parsed or _parse(b.key, timeout),
                           timeout_seconds=timeout))
    except Exception:  # noqa: BLE001 - unparseable means not equal
        return False


def group_keys(answers: Sequence[str | None], *, budget_s: float = 2.0,
               max_checks: int = MAX_PAIR_CHECKS) -> list[str | None]:
    """Each answer's vote key (None: no answer); equivalent answers share one key, the smallest of
    their canonical keys, so the result does not depend on order.

    Each distinct answer is canonicalised once (`canonical`, cached), so the cost grows with the
    number of distinct answers, not their pairs. Two keys of different exact numbers are never
    merged; text is equal only to itself; expressions (and numbers) whose values agree at a fixed
    point share a bucket, and math-verify compares keys only inside a bucket, at most `max_checks`
    times. Once `budget_s` has passed, the remaining answers are keyed by their normal form
    (`canonical(parse=False)`): grouping never takes much longer than its budget, whatever the text.
    """
    t_end = time.monotonic() + budget_s
    canon: dict[str, Canonical | None] = {}
    for a in answers:
        if a is not None and a not in canon:
            canon[a] = canonical(a, parse=time.monotonic() < t_end)
    # distinct keys, then merge inside fingerprint buckets (union into the smallest key)
    reps: dict[str, Canonical] = {}
    for c in canon.values():
        if c is not None:
            reps.setdefault(c.key, c)
    buckets: dict[str, list[Canonical]] = {}
    for c in reps.values():
        if c.kind != "text" and c.fingerprint is not None:
            buckets.setdefault(c.fingerprint, []).append(c)
    parent = {k: k for k in reps}

    def root(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    checks = 0
    for members in buckets.values():
        if len(members) < 2 or not any(m.kind == "expr" for m in members):
            continue  # only exact numbers here: distinct numbers are never equal
        members.sort(key=lambda c: c.key)
        for i, first in enumerate(members):
            for second in members[i + 1:]:
                if root(first.key) == root(second.key) or (first.kind == second.kind == "number"):
                    continue
                if checks >= max_checks or time.monotonic() >= t_end:
                    break
                checks += 1
                if _verify_pair(first, second):
                    ra, rb = root(first.key), root(second.key)
                    parent[max(ra, rb)] = min(ra, rb)
    out: list[str | None] = []
    for a in answers:
        found = canon.get(a) if a is not None else None
        out.append(None if found is None else root(found.key))
    return out
