import pytest

from ponder.answers import equivalent, extract_answer, normalize


@pytest.mark.parametrize("text,expected", [
    ("so the total is \\boxed{72}.", "72"),
    ("first \\boxed{1} then \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
    ("nested \\boxed{\\sqrt{\\frac{a}{b}}} end", "\\sqrt{\\frac{a}{b}}"),
    ("Natalia sold 48 + 24 = 72 clips.\n#### 72", "72"),
    ("#### 1,234", "1,234"),
    ("The answer is 18 dollars.", "18"),
    ("Final answer: $18.00", "18.00"),
    ("So the answer is: (B) red", "(B) red"),
    ("She has 3 apples, then 5, so 8 in total", "8"),
    ("no numbers here", None),
    ("", None),
    # an answer is a value: empty boxes and prose are no answer
    ("The answer is within \\boxed{}.", None),
    ("3 + 4 = 7. The answer is \\boxed{}.", None),
    ("so \\boxed{5} and then an empty \\boxed{}", "5"),
    ("The answer is correct.", None),
    ("We get 12. The answer is correct.", "12"),
    ("The answer is B", "B"),
    ("The answer is: yes", "yes"),
])
def test_extract(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize("raw,key", [
    ("1,234", "1234"), ("$18.00", "18"), ("18.0", "18"), ("0.50", "1/2"), ("\\frac{1}{2}", "1/2"),
    ("-3", "-3"), ("50%", "50"), ("6 apples", "6"), ("\\text{(B)}", "(B)"), ("x = 3", "x=3"),
    (None, None),
])
def test_normalize(raw, key):
    assert normalize(raw) == key


def test_equivalent():
    assert equivalent("72", "72.0")
    assert equivalent("$1,000", "1000")
    assert equivalent("\\frac{1}{2}", "0.5")
    assert equivalent("3\\sqrt{2}", "\\sqrt{18}")
    assert not equivalent("72", "27")
    assert not equivalent(None, "1")
    assert not equivalent("1", None)


# -- grouping many answers (group_keys) ------------------------------------------------------------

import random  # noqa: E402

from ponder import answers  # noqa: E402
from ponder.answers import canonical, group_keys  # noqa: E402


def test_group_keys_merges_equivalent_answers_and_keeps_others_apart():
    got = group_keys(["1/2", "0.5", "\\frac{1}{2}", "3\\sqrt{2}", "\\sqrt{18}", "72", "72.0", "$72", "27",
                      "\\sqrt{4}", "2", None, "x^2+2x", "x(x+2)", "x^2", "The store has 52 apples",
                      "The store has 52 apples"])
    assert got[0] == got[1] == got[2] == "1/2"
    assert got[3] == got[4] and got[3] in ("3\\sqrt{2}", "\\sqrt{18}")
    assert got[5] == got[6] == got[7] == "72" and got[8] == "27"
    assert got[9] == got[10] == "2"  # an expression that is an exact number joins the number
    assert got[11] is None
    assert got[12] == got[13] != got[14]
    assert got[15] == got[16] and got[15] not in got[:15]


def test_group_keys_does_not_depend_on_order():
    base = ["1/2", "0.5", "\\frac{1}{2}", "3\\sqrt{2}", "\\sqrt{18}", "7", "x^2+2x", "x(x+2)", "a cat", "A cat"]
    want = dict(zip(base, group_keys(base)))
    rng = random.Random(0)
    for _ in range(5):
        shuffled = base[:]
        rng.shuffle(shuffled)
        assert dict(zip(shuffled, group_keys(shuffled))) == want


def test_prose_is_never_handed_to_math_verify(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("math-verify was asked to parse prose")

    monkeypatch.setattr(answers, "_parse", boom)
    answers._canonical_expr.cache_clear()
    texts = [f"The store has {i} apples left after Monday" for i in range(64)]
    keys = group_keys(texts + texts[:3])
    assert len(set(keys)) == 64 and keys[64:] == keys[:3]
    assert canonical("Monday").kind == "text" and canonical("\\sin(x)").kind in ("expr", "text")


def test_each_distinct_answer_is_parsed_once(monkeypatch):
    calls = []
    real = answers._parse.__wrapped__

    def counting(answer, timeout):
        calls.append(answer)
        return real(answer, timeout)

    monkeypatch.setattr(answers, "_parse", counting)
    answers._canonical_expr.cache_clear()
    distinct = [f"\\sqrt{{{k}}}" for k in (2, 3, 5, 6, 7)] + ["x+1", "1+x", "x-1"]
    rng = random.Random(1)
    many = distinct + [rng.choice(distinct) for _ in range(400)]
    keys = group_keys(many)
    assert len(calls) == len(distinct)  # once each; pairwise checks reuse the parsed forms
    assert keys[many.index("x+1")] == keys[many.index("1+x")] != keys[many.index("x-1")]
    assert len(set(keys)) == len(distinct) - 1


def test_pairwise_checks_are_bounded(monkeypatch):
    checks = []
    monkeypatch.setattr(answers, "_verify_pair", lambda a, b: checks.append((a.key, b.key)) or False)
    answers._canonical_expr.cache_clear()
    # intervals share one bucket (no numeric fingerprint): the worst case for pairwise checks
    ivs = [f"[{i}, {i + 1}]" for i in range(40)]
    keys = group_keys(ivs, max_checks=25, budget_s=600)  # the check cap, not the time budget, must bind
    assert len(checks) == 25 and len(set(keys)) == 40


def test_time_budget_falls_back_to_normal_forms(monkeypatch):
    monkeypatch.setattr(answers, "_parse", lambda *a: (_ for _ in ()).throw(AssertionError("parsed")))
    keys = group_keys(["3\\sqrt{2}", "\\sqrt{18}", "0.5", "\\frac{1}{2}"], budget_s=0.0)
    assert keys == ["3\\sqrt{2}", "\\sqrt{18}", "1/2", "1/2"]  # exact numbers still meet exactly
