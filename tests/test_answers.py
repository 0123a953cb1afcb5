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
