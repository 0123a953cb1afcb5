"""Every backend keeps the request contract of `ponder/backends/base.py` (`contract.check_contract`):
the scripted fake, transformers (a tiny random model), the embedded llama.cpp (SmolLM2), the
OpenAI-compatible HTTP backend and a fleet (against ponder's own server). vLLM runs the same checks in
`test_vllm.py`, in its own environment."""

import pytest

from contract import check_contract, check_deadline, request
from ponder import ScriptedGenerator

LONG = " ".join(["word"] * 400)


def test_the_scripted_fake():
    check_contract(ScriptedGenerator(["so \\boxed{4}", LONG], max_context=64), too_long=request(text=LONG))
    check_deadline(ScriptedGenerator(["so \\boxed{4}"], delay_s=30), request(n=1))


def test_transformers(tmp_path):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from ponder.backends.transformers import TransformersGenerator
    from tinyhf import tiny

    gen = TransformersGenerator(str(tiny(tmp_path, transformers, torch, transformers.LlamaForCausalLM)), device="cpu")
    check_contract(gen, too_long=request(text="What is 2 ? " * 80, max_tokens=64))


@pytest.mark.e2e
def test_llamacpp(llama):
    check_contract(llama, too_long=request(text="What is 2 + 2? " * 800),
                   slow=request(n=1, max_tokens=3000, text="Write a very long story about a dragon."))


def test_the_http_backend_and_a_fleet():
    from ponder.backends.fleet import FleetGenerator
    from ponder.backends.openai_http import OpenAIGenerator
    from ponder.server.app import ServerConfig, create_app
    from ponder.testing import AppServer

    def upstream(delay_s=0.0):
        return AppServer(create_app(ScriptedGenerator(["so \\boxed{4}"], delay_s=delay_s),
                                    ServerConfig(model_name="m", batch_window_s=0, max_tokens=64)))

    servers = [upstream(), upstream(), upstream(delay_s=30)]
    try:
        # ponder's own server takes one choice per request (samples ride in ponder.n): n=1 here
        too_long = request(n=1, max_tokens=100)  # over the server's max_tokens: a 400 for this request only
        http = OpenAIGenerator(servers[0].url + "/v1", model="m")
        check_contract(http, too_long=too_long, n=1)
        check_deadline(OpenAIGenerator(servers[2].url + "/v1", model="m"), request(n=1))
        fleet = FleetGenerator([servers[0].url + "/v1", servers[1].url + "/v1"], model="m")
        check_contract(fleet, too_long=too_long, n=1)
    finally:
        for s in servers:
            s.stop()
