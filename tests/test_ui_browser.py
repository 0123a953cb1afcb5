"""The /ui page in a real headless browser (Debian's chromium driven by Playwright), as a person
would use it: ask with vote@8 and watch the lanes and the tally; ask with beam search and watch the
tree; open an eval run and click into a problem. Each test screenshots its view: into docs/img/ with
`make screenshots` (PONDER_SCREENSHOTS=DIR), else into a temporary folder."""

import asyncio
import os
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from ponder import Engine, Problem, ScriptedGenerator
from ponder.eval.runner import run_eval
from ponder.params import SamplingParams
from ponder.registry import make_strategy
from ponder.server.app import ServerConfig, create_app
from ponder.testing import AppServer


def answer(i):
    return [42, 42, 41, 42, 40, 42, 41, 42][i % 8]


def text(i):
    return f"Six times seven: 6 * 7 = {answer(i)}.\nSo the answer is \\boxed{{{answer(i)}}}"


def script(req, i, rng):
    if "\n\n" in req.params.stop:  # a step of a search: two steps, then the answer
        if len(req.prefix) < 20:
            return f"Step {len(req.prefix) // 10 + 1}: multiply.\n\n"
        return f"So \\boxed{{{answer(i)}}}"
    return text(i)


def chromium():
    pytest.importorskip("playwright.sync_api")
    path = os.environ.get("PONDER_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("no chromium: apt install chromium (or set PONDER_CHROMIUM)")
    return path


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    out = Path(os.environ.get("PONDER_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    exe = chromium()
    runs = tmp_path_factory.mktemp("runs")
    gen = ScriptedGenerator(script, word_delay_s=0.05)
    eng = Engine(gen, make_strategy("vote", 4), params=SamplingParams(temperature=0.7, max_tokens=64))
    probs = [Problem(prompt=f"What is 6 * {7 + k}?", id=f"p{k}", answer=str(6 * (7 + k))) for k in range(3)]
    asyncio.run(run_eval(eng, probs, runs / "arith-vote4", config={"dataset": "demo", "strategy": "vote", "n": 4,
                                                                   "model": "scripted"}))
    server = AppServer(create_app(gen, ServerConfig(model_name="tiny", api_keys=("sk-ui",), runs_dir=str(runs))))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        pg.goto(server.url + "/ui")
        pg.fill("#key", "sk-ui")  # the server's own key, nothing else
        pg.press("#key", "Enter")
        pg.locator("#strategy option").nth(3).wait_for(state="attached")  # the page's CSP forbids eval
        yield pg
        browser.close()
    server.stop()


def ask(page, strategy, n, question="What is 6 * 7?", wait=True):
    page.select_option("#strategy", strategy)
    page.fill("#n", str(n))
    page.fill("#max-tokens", "64")
    page.fill("#question", question)
    page.click("#ask")
    if wait:
        page.wait_for_selector("#final:not([hidden])", timeout=30_000)


def test_vote_shows_a_lane_per_sample_and_the_tally(page, shots):
    ask(page, "vote", 8, wait=False)
    page.wait_for_selector(".lane.running pre:not(:empty)")  # text arrives while the samples decode
    assert page.is_hidden("#final")
    page.wait_for_selector("#final:not([hidden])", timeout=30_000)
    lanes = page.query_selector_all(".lane")
    assert len(lanes) == 8
    texts = [lane.query_selector("pre").inner_text() for lane in lanes]
    assert all("So the answer is" in t for t in texts)
    assert [lane.query_selector("footer").inner_text() for lane in lanes][:2] == ["answer: 42", "answer: 42"]
    bars = {b.get_attribute("data-answer"): int(b.query_selector(".count").inner_text())
            for b in page.query_selector_all("#tally .bar")}
    assert bars == dict(Counter(str(answer(i)) for i in range(8)))  # {"42": 5, "41": 2, "40": 1}
    assert page.query_selector("#tally .bar.win").get_attribute("data-answer") == "42"
    assert page.inner_text("#answer") == "42"
    gen_tokens = int(page.inner_text("#m-gen").replace(",", ""))
    assert gen_tokens == sum(len(text(i).split()) for i in range(8))  # the fake: a word a token
    assert page.get_attribute("#download", "href").startswith("blob:")
    page.screenshot(path=str(shots / "ui-vote.png"), full_page=True)
    assert (shots / "ui-vote.png").stat().st_size > 10_000


def test_beam_search_grows_a_tree(page, shots):
    ask(page, "beam", 4)
    nodes = page.query_selector_all("#tree g.node")
    assert len(nodes) > 4  # the question plus the expanded steps
    assert page.query_selector_all("#tree g.node.pruned")  # beam search pruned some branches
    assert page.query_selector("#tree g.node.chosen") is not None
    assert page.is_hidden("#lanes-box")  # search is shown as its tree, not as lanes of steps
    calls = page.inner_text("#final-info").split(" calls")[0].rsplit("· ", 1)[1]
    assert page.inner_text("#m-calls") == calls  # the meter ends where the summary does (verifier calls too)
    page.screenshot(path=str(shots / "ui-beam.png"), full_page=True)
    assert (shots / "ui-beam.png").stat().st_size > 10_000


def test_runs_view_opens_a_run_and_a_problem(page, shots):
    page.click("#tab-runs")
    page.wait_for_selector("#runs tbody tr")
    row = page.query_selector("#runs tbody tr")
    assert row.get_attribute("data-run") == "arith-vote4"
    row.click()
    page.wait_for_selector("#problems tbody tr")
    assert len(page.query_selector_all("#problems tbody tr")) == 3
    from playwright.sync_api import expect

    expect(page.locator("#run-plot")).to_have_attribute("src", re.compile("^blob:"))  # the CSP forbids eval
    page.query_selector_all("#problems tbody tr")[1].click()
    page.wait_for_selector("#candidates .cand")
    assert len(page.query_selector_all("#candidates .cand")) == 4
    assert "What is 6 * 8?" in page.inner_text("#problem-question")
    page.screenshot(path=str(shots / "ui-runs.png"), full_page=True)
    assert (shots / "ui-runs.png").stat().st_size > 10_000
    page.click("#tab-ask")

