"""The public API is curated and importing ponder stays light."""

import subprocess
import sys

import ponder

EXPECTED = {
    "BackendError", "Budget", "BudgetExhaustedError", "Candidate", "Capabilities", "CapabilityError",
    "ConfigError", "Engine", "FatalBackendError", "GenOutput", "GenRequest", "GenResponse",
    "Generator", "LlamaCppGenerator", "Message", "ModelNotFoundError", "OpenAIGenerator",
    "PonderError", "Problem", "Prompter", "Result", "RetryableBackendError", "SamplingParams",
    "Scores", "Scripted", "ScriptedGenerator", "ScriptedVerifier", "Step", "TokenLogprob", "Usage",
    "Verifier", "make_generator", "make_strategy", "make_verifier", "solve",
    "FleetGenerator", "TransformersGenerator", "VLLMGenerator",
}


def test_exported_members():
    assert set(ponder.__all__) == EXPECTED
    for name in ponder.__all__:
        assert getattr(ponder, name) is not None


def test_import_is_light():
    code = ("import sys, ponder; heavy = {'torch', 'vllm', 'llama_cpp', 'numpy', 'transformers', 'httpx', 'pydantic'};"
            "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_error_tree():
    assert issubclass(ponder.CapabilityError, ponder.ConfigError)
    assert issubclass(ponder.ConfigError, ValueError)
    assert issubclass(ponder.RetryableBackendError, ponder.BackendError)
    assert ponder.RetryableBackendError.retryable and not ponder.FatalBackendError.retryable


def test_the_namespace_holds_the_api_its_subpackages_and_nothing_else():
    import types

    extra = {n for n in dir(ponder) if not n.startswith("_") and n not in ponder.__all__}
    leaked = {n for n in extra if not isinstance(getattr(ponder, n), types.ModuleType)}
    assert not leaked, f"names that leak into `ponder`: {sorted(leaked)}"
