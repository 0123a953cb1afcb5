"""A merged checkpoint → a GGUF the embedded llama.cpp backend loads, with llama.cpp's own tools.

The converter is `convert_hf_to_gguf.py` (with its `gguf-py` and `conversion` modules) from the
source distribution of the very llama-cpp-python that ponder builds (`scripts/llama-wheel.sh`), so
converter and runtime agree on the format; the quantiser is llama.cpp's `llama_model_quantize`,
called through the installed binding. Both run in child processes: they print a line per tensor on
the C side and a crash there must not take the caller with it.

No hub, no model download: the source comes from `$PONDER_LLAMA_SOURCE` (an sdist or an unpacked
directory), else the sdist `scripts/llama-wheel.sh` built the wheel from (kept in
~/.cache/ponder/llama-src), else PyPI (`pip download`, once), like the build itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from ponder.errors import ConfigError, PonderError

QUANTS = {"f16": "LLAMA_FTYPE_MOSTLY_F16", "bf16": "LLAMA_FTYPE_MOSTLY_BF16", "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0",
          "q6_k": "LLAMA_FTYPE_MOSTLY_Q6_K", "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
          "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M"}
"""Quantisations `ponder distill --quant` offers (llama.cpp's names)."""
_PARTS = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")


def _llama_version() -> str:
    try:
        from importlib.metadata import version

        return version("llama-cpp-python")
    except Exception as e:  # noqa: BLE001 - not installed: say what to install
        raise ImportError("converting to GGUF needs llama-cpp-python (pip install ponder[llamacpp])") from e


def _cache() -> Path:
    from ponder.models import cache_dir

    return cache_dir() / "llama-src"


def _unpack(sdist: Path, into: Path) -> Path:
    """The converter's files of an sdist, unpacked as `into` (once)."""
    if (into / "convert_hf_to_gguf.py").is_file():
        return into
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers()
                   if "/vendor/llama.cpp/" in m.name and m.isfile()
                   and any(m.name.split("/vendor/llama.cpp/", 1)[1].startswith(p) for p in _PARTS)]
        if not members:
            raise ConfigError("llama_source", str(sdist), "holds no vendor/llama.cpp/convert_hf_to_gguf.py")
        tmp = into.with_name(into.name + f".tmp{os.getpid()}")
        tar.extractall(tmp, members=members, filter="data")
    root = next(tmp.glob("*/vendor/llama.cpp"))
    into.parent.mkdir(parents=True, exist_ok=True)
    os.replace(root, into)
    shutil.rmtree(tmp, ignore_errors=True)
    return into


def llama_source() -> Path:
    """The directory holding llama.cpp's `convert_hf_to_gguf.py` for the installed llama-cpp-python."""
    given = os.environ.get("PONDER_LLAMA_SOURCE")
    version = _llama_version()
    if given:
        p = Path(given).expanduser()
        if p.is_dir():
            for cand in (p, p / "vendor" / "llama.cpp"):
                if (cand / "convert_hf_to_gguf.py").is_file():
                    return cand
            raise ConfigError("PONDER_LLAMA_SOURCE", given, "has no convert_hf_to_gguf.py (nor vendor/llama.cpp/)")
        if p.is_file():
            return _unpack(p, _cache() / f"{p.name}-unpacked")
        raise ConfigError("PONDER_LLAMA_SOURCE", given, "no such file or directory")
    target = _cache() / version
    if (target / "convert_hf_to_gguf.py").is_file():
        return target
    name = f"llama_cpp_python-{version}.tar.gz"
    kept = [Path(d) / name for d in (os.environ.get("PONDER_SDIST_CACHE"), _cache(),
                                     Path.home() / ".cache" / "ponder" / "llama-src") if d]
    sdist = next((p for p in kept if p.is_file()), _cache() / name)
    if not sdist.is_file():  # scripts/llama-wheel.sh keeps the one it builds from; else fetch it once
        sdist.parent.mkdir(parents=True, exist_ok=True)
        rc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                             "-d", str(sdist.parent), f"llama-cpp-python=={version}"],
                            capture_output=True, text=True)
        if rc.returncode != 0 or not sdist.is_file():
            raise PonderError(f"could not fetch the llama-cpp-python {version} source for its GGUF converter "
                              f"(pip download: {rc.stderr.strip()[-300:]}); set PONDER_LLAMA_SOURCE to its sdist")
    return _unpack(sdist, target)


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise PonderError(f"{what} failed (exit {proc.returncode}): {' | '.join(tail)}")


def to_gguf(checkpoint: str | os.PathLike, out: str | os.PathLike, *, quant: str = "q8_0") -> Path:
    """Convert a Hugging Face checkpoint directory to GGUF (f32), then quantise it to `quant`."""
    if quant not in QUANTS:
        raise ConfigError("quant", quant, f"must be one of {', '.join(QUANTS)}")
    ckpt, out = Path(checkpoint), Path(out)
    if not (ckpt / "config.json").is_file():
        raise ConfigError("checkpoint", str(ckpt), "is not a Hugging Face checkpoint directory (no config.json)")
    src = llama_source()
    out.parent.mkdir(parents=True, exist_ok=True)
    f32 = out.with_name(out.stem + ".f32.gguf")
    try:
        _run([sys.executable, str(src / "convert_hf_to_gguf.py"), str(ckpt), "--outfile", str(f32),
              "--outtype", "f32"], f"llama.cpp's converter on {ckpt}")
        code = ("import ctypes, sys, llama_cpp as L\n"
                "p = L.llama_model_quantize_default_params()\n"
                f"p.ftype = L.{QUANTS[quant]}\n"
                "sys.exit(L.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), ctypes.byref(p)))\n")
        tmp = out.with_name(out.name + ".tmp")
        _run([sys.executable, "-c", code, str(f32), str(tmp)], f"llama.cpp's quantiser ({quant})")
        os.replace(tmp, out)
    finally:
        f32.unlink(missing_ok=True)
    return out
