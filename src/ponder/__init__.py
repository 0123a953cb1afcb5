"""ponder: test-time compute scaling for any LLM.

    import ponder
    result = ponder.solve("What is 17 * 24?", strategy="vote", n=8)
    print(result.answer, result.usage)

Importing ponder is light: torch, vllm, llama_cpp, numpy and httpx load only when a backend that
needs them is built (the generator classes — `LlamaCppGenerator`, `OpenAIGenerator`, `FleetGenerator`,
`TransformersGenerator`, `VLLMGenerator` — are resolved lazily), and the registry (every strategy's
declaration, pydantic) when a name is first turned into an object (`make_strategy`, `solve`).
"""

from typing import Any as _Any

from ponder.backends.base import Capabilities, Generator
from ponder.backends.fake import Scripted, ScriptedGenerator
from ponder.engine import Engine, solve
from ponder.errors import (
    BackendError,
    BudgetExhaustedError,
    CapabilityError,
    ConfigError,
    FatalBackendError,
    ModelNotFoundError,
    PonderError,
    RetryableBackendError,
)
from ponder.params import Budget, SamplingParams
from ponder.prompts import Prompter
from ponder.types import (
    Candidate,
    GenOutput,
    GenRequest,
    GenResponse,
    Message,
    Problem,
    Result,
    Step,
    TokenLogprob,
)
from ponder.usage import Usage
from ponder.verifiers.base import Scores, Verifier
from ponder.verifiers.fake import ScriptedVerifier

__version__ = "0.1.0"

_LAZY = {
    "make_generator": "ponder.registry",
    "make_strategy": "ponder.registry",
    "make_verifier": "ponder.registry",
    "LlamaCppGenerator": "ponder.backends.llamacpp",
    "OpenAIGenerator": "ponder.backends.openai_http",
    "FleetGenerator": "ponder.backends.fleet",
    "TransformersGenerator": "ponder.backends.transformers",
    "VLLMGenerator": "ponder.backends.vllm",
}

__all__ = [
    "BackendError", "Budget", "BudgetExhaustedError", "Candidate", "Capabilities", "CapabilityError",
    "ConfigError", "Engine", "FatalBackendError", "FleetGenerator", "GenOutput", "GenRequest", "GenResponse",
    "Generator", "LlamaCppGenerator", "Message", "ModelNotFoundError", "OpenAIGenerator",
    "PonderError", "Problem", "Prompter", "Result", "RetryableBackendError", "SamplingParams",
    "Scores", "Scripted", "ScriptedGenerator", "ScriptedVerifier", "Step", "TokenLogprob",
    "TransformersGenerator", "Usage", "VLLMGenerator", "Verifier", "make_generator", "make_strategy",
    "make_verifier", "solve",
]


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ponder' has no attribute {name!r}")
