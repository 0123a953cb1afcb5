"""Convert a GGUF file into a plain Hugging Face checkpoint (safetensors), for backends that do not
read GGUF (vLLM's CPU build, transformers without gguf at run time).

transformers dequantises the GGUF (`gguf_file=`, needs the `gguf` and `accelerate` packages); the
GGUF quantisation settings are dropped and the weights are copied into a fresh model of the same
config, which is saved with its tokenizer (chat template included).
"""

from __future__ import annotations

import os
from pathlib import Path

from ponder.errors import ModelNotFoundError


def convert_gguf(gguf: str | os.PathLike, out: str | os.PathLike, *, dtype: str = "float32") -> Path:
    """Write a safetensors checkpoint of `gguf` (a packaged model name or a GGUF path) into `out`."""
    try:
        import torch
        import transformers as tf
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("conversion needs torch, transformers, gguf and accelerate: pip install ponder[hf]") from e
    from ponder.models import resolve_model

    path = resolve_model(str(gguf))
    if path.suffix != ".gguf" and not str(path).endswith(".gguf"):
        raise ModelNotFoundError("gguf", str(gguf), "is not a .gguf file")
    out = Path(out)
    kw = {"gguf_file": path.name}
    tok = tf.AutoTokenizer.from_pretrained(path.parent, **kw)
    loaded = tf.AutoModelForCausalLM.from_pretrained(path.parent, dtype=getattr(torch, dtype), **kw)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = tf.AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))
    fresh.load_state_dict(loaded.state_dict())
    out.mkdir(parents=True, exist_ok=True)
    fresh.save_pretrained(out)
    tok.save_pretrained(out)
    return out
