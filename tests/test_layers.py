"""The import graph points one way: types → backends → verifiers → strategies → allocation → engine
→ front ends. Every import is counted, function-level ones too (a lazy upward import is still one)."""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "ponder"
LAYERS = {
    0: {"errors", "params", "usage", "types", "answers", "models", "prompts", "steps", "budget", "voting", "files"},
    1: {"backends"},
    2: {"verifiers"},
    3: {"strategies"},
    4: {"allocation"},
    5: {"engine", "registry", "effort"},
    6: {"eval", "distill", "server", "cli", "convert", "testing", "recipes", "__main__", "__init__"},
}
LAYER = {name: n for n, names in LAYERS.items() for name in names}


def unit(module: str) -> str:
    """ponder.backends.llamacpp → backends; ponder.types → types."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ponder"):
            found.append((node.module, node.lineno))
            if node.module == "ponder":  # from ponder import x: x may be a subpackage
                found += [(f"ponder.{a.name}", node.lineno) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.startswith("ponder")]
    return found


def test_every_module_has_a_layer():
    names = {p.stem if p.parent == SRC else p.parent.name for p in SRC.rglob("*.py")}
    assert names <= set(LAYER), f"modules without a layer: {sorted(names - set(LAYER))}"


def test_no_import_points_up():
    upward = []
    for path in sorted(SRC.rglob("*.py")):
        here = unit("ponder." + ".".join(path.relative_to(SRC).with_suffix("").parts))
        for module, line in imports(path):
            there = unit(module)
            if there in LAYER and LAYER[there] > LAYER[here]:
                upward.append(f"{path.relative_to(SRC)}:{line} ({here}, layer {LAYER[here]}) imports {module} "
                              f"(layer {LAYER[there]})")
    assert not upward, "\n".join(upward)


def module_of(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(("ponder",) + (parts[:-1] if parts[-1] == "__init__" else parts))


def test_no_import_cycle_between_modules():
    """Within a layer too, modules import one way (function-level imports count): a cycle means two
    modules that are really one, or one reaching into the other's privates."""
    modules = {module_of(p): p for p in SRC.rglob("*.py")}
    graph = {m: {i for i, _ in imports(p) if i in modules and i != m} for m, p in modules.items()}
    seen, on_path, cycles = set(), [], []

    def visit(m):
        if m in on_path:
            cycles.append(on_path[on_path.index(m):] + [m])
            return
        if m in seen:
            return
        seen.add(m)
        on_path.append(m)
        for nxt in sorted(graph[m]):
            visit(nxt)
        on_path.pop()

    for m in sorted(graph):
        visit(m)
    # a package's __init__ re-exporting from its own modules is not a cycle worth failing on
    real = [c for c in cycles if not any(a.startswith(b + ".") or b.startswith(a + ".") for a, b in zip(c, c[1:]))]
    assert not real, "\n".join(" -> ".join(c) for c in real)


def test_the_guide_to_the_source_names_every_module():
    guide = (SRC.parent.parent / "docs" / "guide" / "inside.md").read_text()
    missing = [str(p.relative_to(SRC)) for p in sorted(SRC.rglob("*.py"))
               if p.name != "__init__.py" and p.name not in guide]
    assert not missing, f"docs/guide/inside.md does not say what these are: {missing}"
