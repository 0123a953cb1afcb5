"""ponder serve works in the tools users already have, each tested against a real server (the
scripted backend: the model does not matter here): the openai SDK (chat, streaming, the Responses API,
reasoning_effort and reasoning tokens), LiteLLM (completion, acompletion, streaming), LangChain's
ChatOpenAI (invoke, stream), DSPy (dspy.LM and a Predict module) and lm-evaluation-harness's
local-chat-completions on a local task. The end-to-end run on the embedded SmolLM2 is in
test_server_e2e.py."""

import asyncio
import json
import os

import pytest

from ponder import ScriptedGenerator
from ponder.server.app import ServerConfig, create_app
from ponder.testing import AppServer

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # LiteLLM would fetch a price list at import


def script(req, i, rng):
    """A reasoning model that thinks, then answers; every other sample of a call disagrees, so an
    adaptive strategy never settles and the reasoning tokens grow with the compute allowed."""
    last = req.messages[-1].content if req.messages else (req.prompt or "")
    if "[[ ## answer ## ]]" in last or "answer" in last and "[[" in last:  # DSPy's chat adapter
        return "[[ ## answer ## ]]\n4\n\n[[ ## completed ## ]]"
    return f"<think>2 plus 2, sample {i}</think>The answer is \\boxed{{{5 if i % 2 else 4}}}"


@pytest.fixture(scope="module")
def served():
    s = AppServer(create_app(ScriptedGenerator(script), ServerConfig(model_name="tiny", batch_window_s=0)))
    yield s
    s.stop()


def test_openai_sdk_chat_streaming_effort_and_reasoning_tokens(served):
    from openai import OpenAI

    c = OpenAI(base_url=served.url + "/v1", api_key="none")
    q = [{"role": "user", "content": "What is 2 + 2?"}]
    low = c.chat.completions.create(model="tiny", messages=q, reasoning_effort="low", seed=1)
    high = c.chat.completions.create(model="tiny", messages=q, reasoning_effort="high", seed=1)
    minimal = c.chat.completions.create(model="tiny", messages=q, reasoning_effort="minimal", seed=1)
    assert low.choices[0].message.content == "The answer is \\boxed{4}"
    assert low.choices[0].message.reasoning_content.startswith("2 plus 2")  # the thinking, split off
    r = {name: x.usage.completion_tokens_details.reasoning_tokens for name, x in
         (("minimal", minimal), ("low", low), ("high", high))}
    assert r["minimal"] < r["low"] < r["high"], r  # greedy < vote@4 < auto up to 16, as documented
    assert json.loads(low.model_dump_json())["ponder"]["samples"] == 4
    bad = c.chat.completions.with_raw_response.create
    with pytest.raises(Exception) as e:
        bad(model="tiny", messages=q, reasoning_effort="extreme")
    assert "reasoning_effort" in str(e.value)
    chunks = list(c.chat.completions.create(model="tiny", messages=q, stream=True,
                                            stream_options={"include_usage": True}))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "The answer is \\boxed{4}" and chunks[-1].usage.completion_tokens > 0


def test_openai_sdk_responses_create_and_stream(served):
    from openai import OpenAI

    c = OpenAI(base_url=served.url + "/v1", api_key="none")
    r = c.responses.create(model="tiny", input="What is 2 + 2?", instructions="Be brief.", max_output_tokens=64,
                           reasoning={"effort": "low"})
    assert r.output_text == "The answer is \\boxed{4}" and [o.type for o in r.output] == ["reasoning", "message"]
    assert r.usage.output_tokens_details.reasoning_tokens > 0 and r.status == "completed"
    with c.responses.stream(model="tiny", input=[{"role": "user", "content": [{"type": "input_text",
                                                                                "text": "What is 2 + 2?"}]}]) as st:
        deltas = [ev.delta for ev in st if ev.type == "response.output_text.delta"]
        final = st.get_final_response()
    assert "".join(deltas) == final.output_text == "The answer is \\boxed{4}"
    with pytest.raises(Exception) as e:
        c.responses.create(model="tiny", input="q", reasoning={"effort": "extreme"})
    assert "reasoning.effort" in str(e.value)
    with pytest.raises(Exception) as e:
        c.responses.create(model="tiny", input="q", max_output_tokens=10**9)
    assert "max_output_tokens" in str(e.value)


def test_litellm_completion_acompletion_and_streaming(served):
    import litellm

    kw = {"model": "openai/tiny", "api_base": served.url + "/v1", "api_key": "none",
          "messages": [{"role": "user", "content": "What is 2 + 2?"}]}
    r = litellm.completion(**kw, reasoning_effort="low")
    assert r.choices[0].message.content == "The answer is \\boxed{4}"
    assert r.usage.completion_tokens_details.reasoning_tokens > 0
    r = asyncio.run(litellm.acompletion(**kw, extra_body={"ponder": {"strategy": "vote", "n": 3}}))
    assert r.choices[0].message.content.endswith("\\boxed{4}")
    text = "".join(ch.choices[0].delta.content or "" for ch in litellm.completion(**kw, stream=True))
    assert text == "The answer is \\boxed{4}"


def test_langchain_chat_openai_invoke_and_stream(served):
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=served.url + "/v1", api_key="none", model="vote-3/tiny")
    assert llm.invoke("What is 2 + 2?").content == "The answer is \\boxed{4}"
    streamed = "".join(str(ch.content) for ch in llm.stream("What is 2 + 2?"))
    assert streamed == "The answer is \\boxed{4}"


def test_dspy_lm_and_a_predict_module(served):
    import dspy

    lm = dspy.LM("openai/tiny", api_base=served.url + "/v1", api_key="none", cache=False, max_tokens=64)
    with dspy.context(lm=lm):
        pred = dspy.Predict("question -> answer")(question="What is 2 + 2?")
    assert pred.answer == "4"


def test_lm_evaluation_harness_local_chat_completions_on_a_local_task(served, tmp_path):
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    data = tmp_path / "arith.jsonl"
    data.write_text("".join(json.dumps({"question": f"What is {a} + {a}?", "answer": "4" if a == 2 else "x"}) + "\n"
                            for a in (2, 2, 3)))
    (tmp_path / "ponder_arith.yaml").write_text(f"""
task: ponder_arith
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{{{{question}}}}"
doc_to_target: "{{{{answer}}}}"
generation_kwargs:
  until: []
  max_gen_toks: 64
filter_list:
  - name: boxed
    filter:
      - function: regex
        regex_pattern: "boxed\\\\{{(\\\\d+)\\\\}}"
      - function: take_first
metric_list:
  - metric: exact_match
""")
    out = simple_evaluate(model="local-chat-completions",
                          model_args=f"model=tiny,base_url={served.url}/v1/chat/completions,num_concurrent=1,"
                                     "max_retries=1,tokenized_requests=False,tokenizer_backend=None",
                          tasks=["ponder_arith"], task_manager=TaskManager(include_path=str(tmp_path)),
                          apply_chat_template=True, log_samples=False,
                          gen_kwargs="temperature=0.7,do_sample=True")  # lm-eval asks for greedy by default
    assert out["results"]["ponder_arith"]["exact_match,boxed"] == pytest.approx(2 / 3)
