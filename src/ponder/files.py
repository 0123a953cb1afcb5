"""Reading the files users and operators name (stop rules, policies, route tables, recipes, run logs
and their settings), so that no file can exhaust or crash ponder.

Only regular files are read (not `/dev/zero`, a FIFO or a directory), never more than a size cap;
JSON is checked for nesting depth before it is parsed (Python's parser recurses and a deep enough
document is a RecursionError); YAML is read with the safe loader and a cap on aliases (a "billion
laughs" document expands a few aliases into gigabytes). Every failure is a ConfigError naming the
parameter and the file, in one line.

Why our own: the standard library and PyYAML parse, but bound neither size, depth nor alias expansion.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from ponder.errors import ConfigError

MAX_FILE_BYTES = 16 << 20
"""Rules, policies, tables, recipes and run settings are kilobytes; 16 MiB leaves room for any real one."""
MAX_DEPTH = 64
MAX_ALIASES = 16
"""Settings files need few if any aliases; 16 bounds what a nested alias chain can expand to."""


def read_text(path: str | os.PathLike, *, param: str, what: str, max_bytes: int = MAX_FILE_BYTES) -> str:
    """A regular file's text, at most `max_bytes` long."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as e:
        raise ConfigError(param, str(path), f"cannot read {what}: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(param, str(path), f"is not a regular file (a {what} is a file)")
    if st.st_size > max_bytes:
        raise ConfigError(param, str(path), f"is {st.st_size} bytes; a {what} is at most {max_bytes}")
    try:
        with p.open("rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise ConfigError(param, str(path), f"cannot read {what}: {e.strerror or e}") from None
    if len(data) > max_bytes:
        raise ConfigError(param, str(path), f"grew past {max_bytes} bytes while read")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(param, str(path), f"is not UTF-8 text (a {what} is JSON or YAML)") from None


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_BRACKETS = str.maketrans("[{]}", "(())")


def json_depth_ok(text: str, max_depth: int = MAX_DEPTH) -> bool:
    """Whether no array or object in `text` nests deeper than `max_depth` (strings are skipped).

    Written with the regex engine and str.replace, not a loop over characters, because it runs on
    every line of every log read (hundreds of MB on a big run): strings are cut out, the brackets
    kept, and innermost pairs removed one level per pass."""
    if text.count("[") + text.count("{") <= max_depth:  # cannot nest deeper than it has brackets
        return True
    nest = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)).translate(_BRACKETS)
    for levels in range(max_depth + 1):
        if "()" not in nest:  # what is left opens without closing (torn text): it nests around the rest
            return levels + nest.count("(") <= max_depth
        nest = nest.replace("()", "")
    return False


def parse_json(text: str, *, param: str, where: str, max_depth: int = MAX_DEPTH) -> Any:
    """JSON text, refused when nested deeper than `max_depth`."""
    if not json_depth_ok(text, max_depth):
        raise ConfigError(param, where, f"nests deeper than {max_depth} levels: not a ponder file")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ConfigError(param, where, f"is not valid JSON ({e})") from None


def load_json(path: str | os.PathLike, *, param: str, what: str, max_bytes: int = MAX_FILE_BYTES) -> Any:
    return parse_json(read_text(path, param=param, what=what, max_bytes=max_bytes), param=param, where=str(path))


def load_yaml(text: str, *, param: str, where: str, max_aliases: int = MAX_ALIASES) -> Any:
    """YAML with the safe loader, refused when it uses more than `max_aliases` aliases or nests too deep."""
    import yaml

    class Bounded(yaml.SafeLoader):
        aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                Bounded.aliases += 1
                if Bounded.aliases > max_aliases:
                    raise ConfigError(param, where, f"uses more than {max_aliases} YAML aliases (&/*): refused, "
                                                    "it could expand without bound")
            return super().compose_node(parent, index)

    if not json_depth_ok(text.replace("'", '"'), MAX_DEPTH * 2):
        raise ConfigError(param, where, "nests too deep: not a ponder file")
    try:
        return yaml.load(text, Loader=Bounded)  # noqa: S506 - Bounded is a SafeLoader
    except yaml.YAMLError as e:
        raise ConfigError(param, where, f"is not valid YAML ({str(e).splitlines()[0]})") from None
    except RecursionError:
        raise ConfigError(param, where, "nests too deep: not a ponder file") from None


def build(cls: Any, data: Any, keys: tuple[str, ...], *, param: str, path: str | os.PathLike, what: str,
          check: Any = None) -> Any:
    """`cls(**data[keys])` for a file's parsed JSON, then `check(obj)` (a cheap use of it): any failure
    is one ConfigError saying the file is not what ponder writes, not a traceback from deep inside."""
    if not isinstance(data, dict) or any(k not in data for k in keys):
        missing = [k for k in keys if not isinstance(data, dict) or k not in data]
        raise ConfigError(param, str(path), f"is not a {what} (missing {', '.join(missing)})")
    try:
        obj = cls(**{k: data[k] for k in keys})
        if check is not None:
            check(obj)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError):
        raise ConfigError(param, str(path), f"is not a valid {what}: its fields are not what ponder writes") from None
    return obj
