"""The import graph follows DESIGN §2's layer order and has no circle (parsed from the sources, nothing imported).

config → data → sim → models → control → train → serve → eval → engine → ui → cli: a module may import
modules of its own layer or of layers before it, never after. Imports inside functions count too
(DESIGN allows lazy imports only to defer heavy third-party packages, not to reach up a layer).
Imports under `if TYPE_CHECKING:` count for the order but not for circles (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "vlaforge"
ORDER = ("config", "data", "sim", "models", "control", "train", "serve", "eval", "engine", "ui", "cli")
# Top-level modules outside the area folders: the shared base below everything, or the entry points on top.
BASE = {"vlaforge", "vlaforge.config", "vlaforge.errors", "vlaforge.io", "vlaforge.jobs", "vlaforge.lazy", "vlaforge.lru", "vlaforge.plots",
        "vlaforge.registry", "vlaforge.runtime"}
TOP = {"vlaforge.cli", "vlaforge.__main__", "vlaforge.demo"}
# (module, imported module) arrows against the order that are allowed, each with its reason. None today.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    p = SRC.joinpath(*name.split("."))
    return p.with_suffix(".py").exists() or (p / "__init__.py").exists()


def type_only_lines(tree: ast.AST) -> set[int]:
    """Lines inside `if TYPE_CHECKING:` blocks: imports there exist for annotations only and never run."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            lines |= {n.lineno for stmt in node.body for n in ast.walk(stmt) if hasattr(n, "lineno")}
    return lines


def imports(path: Path, runtime_only: bool = False) -> list[tuple[str, int]]:
    """(imported vlaforge module, line) for every import statement in the file, at any depth
    (`runtime_only`: leave out the ones under `if TYPE_CHECKING:`)."""
    mod = module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = []
    tree = ast.parse(path.read_text(), str(path))
    skip = type_only_lines(tree) if runtime_only else set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            for a in node.names:  # `from pkg import module` imports the module
                out.append((f"{base}.{a.name}" if is_module(f"{base}.{a.name}") else base, node.lineno))
    return [(m, line) for m, line in out if m == "vlaforge" or m.startswith("vlaforge.")]


def layer(mod: str) -> int:
    if mod in BASE:
        return 0
    if mod in TOP:
        return ORDER.index("cli")
    area = mod.split(".")[1]
    assert area in ORDER, f"{mod} is in no layer of DESIGN §2; add its folder to ORDER or the module to BASE/TOP"
    return ORDER.index(area)


def graph(runtime_only: bool = False) -> dict[str, list[tuple[str, int]]]:
    return {module_name(p): imports(p, runtime_only) for p in sorted(PKG.rglob("*.py"))}


def test_imports_follow_the_layer_order():
    bad = []
    for mod, deps in graph().items():
        for dep, line in deps:
            if layer(dep) > layer(mod) and (mod, dep) not in EXCEPTIONS:
                bad.append(f"{mod}:{line} imports {dep} ({ORDER[layer(mod)]} must not depend on {ORDER[layer(dep)]})")
    unused = [k for k in EXCEPTIONS if k[1] not in {d for d, _ in graph().get(k[0], [])}]
    assert not unused, f"exceptions no longer needed (drop them): {unused}"
    assert not bad, "imports against DESIGN §2's layer order:\n" + "\n".join(bad)


def test_no_import_cycles():
    # Type-only imports count for the layer order above but cannot make a circle: they never run.
    g = {m: sorted({d for d, _ in deps if d != m and d != m.rpartition(".")[0]}) for m, deps in graph(runtime_only=True).items()}
    # A package's __init__ importing its own submodule is how packages work; not a circle.
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in g.get(m, []):
            if d.startswith(m + "."):
                continue
            if state.get(d) == 1:
                cycles.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in g:
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)

