"""Final answers: pull them out of free text, normalise them into vote keys, decide equivalence.

Extraction order (first that matches wins): the last `\\boxed{...}`, GSM8K's `#### N`, "the (final)
answer is X", and finally the last number in the text. Equivalence uses the `math-verify` package
(LaTeX, fractions, sets, units), after a cheap numeric normalisation that makes "1,234", "$1234.00" and
"1234" the same vote.
"""

from __future__ import annotations

import logging
import re
import threading
from fractions import Fraction
from functools import lru_cache

_NUMBER = r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+"
_NUM_RE = re.compile(_NUMBER)
_HASH_RE = re.compile(r"####\s*(.+)")
_ANSWER_IS_RE = re.compile(
    r"(?:final answer|the answer|answer)\s*(?:is|:|=)\s*[:\s]*(.+)", re.IGNORECASE)
_TEXT_WRAP_RE = re.compile(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}")
_UNIT_TAIL_RE = re.compile(r"^(-?[\d.]+)\s*(?:[a-zA-Z][a-zA-Z ]*|%)?\.?$")


def _last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}), with nested braces balanced."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
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
                inner = text[i + 1:j].strip()
                return inner or None
    return None


def _clean_tail(s: str) -> str:
    s = s.strip().splitlines()[0] if s.strip() else ""
    s = s.strip().strip("*").strip()
    s = re.sub(r"^\$+|\$+$", "", s).strip()  # LaTeX math delimiters
    return s.rstrip(".").strip()


def extract_answer(text: str) -> str | None:
    """The final answer stated in `text`, or None when there is none."""
    if not text:
        return None
    boxed = _last_boxed(text)
    if boxed is not None:
        return boxed
    m = _HASH_RE.findall(text)
    if m and _clean_tail(m[-1]):
        return _clean_tail(m[-1])
    m = _ANSWER_IS_RE.findall(text)
    if m:
        tail = _clean_tail(m[-1])
        num = _NUM_RE.search(tail)
        if num and _UNIT_TAIL_RE.match(tail.replace("$", "").replace(",", "")):
            return num.group(0)
        if tail:
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


@lru_cache(maxsize=4096)
def _parse(answer: str, timeout: int | None):  # type: ignore[no-untyped-def]
    from math_verify import parse

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    return parse("\\boxed{" + answer + "}", parsing_timeout=timeout)


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
