"""The package layering of STYLE.md: parse every module with ast and check who imports whom."""

from __future__ import annotations

import ast
import pathlib

PKG = pathlib.Path(__file__).resolve().parents[1] / "alphaction"

# package -> the alphaction packages it may import (itself included)
ALLOWED = {
    "utils": {"utils"},
    "config": {"config", "utils"},
    "structures": {"structures", "utils"},
    "layers": {"layers", "structures", "utils"},
    "modeling": {"modeling", "layers", "structures", "utils", "config"},
    "data": {"data", "utils", "structures", "config"},
    "evaluation": {"evaluation", "utils", "structures"},
    "checkpoint": {"checkpoint", "utils"},
    "solver": {"solver", "config", "utils"},
    "engine": {
        "engine",
        "utils",
        "config",
        "structures",
        "layers",
        "modeling",
        "data",
        "evaluation",
        "checkpoint",
        "solver",
    },
    # the Python API (inference, export) sits on top of the engine; only tools and user code import it
    "apis": {
        "apis",
        "engine",
        "utils",
        "config",
        "structures",
        "layers",
        "modeling",
        "data",
        "evaluation",
        "checkpoint",
        "solver",
    },
}


def _imported_packages(path: pathlib.Path, root: pathlib.Path = PKG) -> set[str]:
    rel = path.relative_to(root.parent).with_suffix("").parts  # ('alphaction', 'data', 'build')
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # a module's package is rel[:-1]; a package __init__'s package is itself (rel[:-1] too,
                # since rel ends in "__init__"); each extra dot goes one package up
                base = list(rel[:-1])
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
                names = [mod] if node.module else [f"{mod}.{a.name}" for a in node.names]
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "alphaction" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_every_package_is_known():
    packages = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(ALLOWED), f"add the new package(s) {packages - set(ALLOWED)} to ALLOWED"


def test_import_directions():
    violations = []
    for path in PKG.rglob("*.py"):
        parts = path.relative_to(PKG).parts
        if len(parts) < 2:
            continue
        owner = parts[0]
        for target in _imported_packages(path) - ALLOWED[owner]:
            violations.append(f"{path.relative_to(PKG.parent)} imports alphaction.{target}")
    assert not violations, "\n".join(violations)


def test_checker_sees_relative_imports(tmp_path):
    # the checker itself must resolve `from ..modeling import x` inside alphaction/data/build.py
    src = "from ..modeling import build_model\nfrom . import collate\nimport alphaction.engine\n"
    probe = tmp_path / "alphaction" / "data" / "build.py"
    probe.parent.mkdir(parents=True)
    probe.write_text(src)
    assert _imported_packages(probe, tmp_path / "alphaction") == {"modeling", "data", "engine"}


def _module_graph(root: pathlib.Path = PKG) -> dict[str, set[str]]:
    """Module -> the alphaction modules it imports (function-level imports included). A name that is not a module
    (``from .x import f``) counts as its module; ``from . import x`` as module ``x`` where there is one."""

    def name_of(path: pathlib.Path) -> str:
        rel = path.relative_to(root.parent).with_suffix("").parts
        return ".".join(rel[:-1] if rel[-1] == "__init__" else rel)

    modules = {name_of(p): p for p in root.rglob("*.py")}

    def module(dotted: str) -> str | None:
        parts = dotted.split(".")
        while parts and ".".join(parts) not in modules:
            parts.pop()
        return ".".join(parts) or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(module(a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = (
                    ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
                    if node.level
                    else node.module or ""
                )
                found.update(module(f"{base}.{a.name}") for a in node.names)
        graph[name] = {m for m in found if m and m != name and m.startswith(root.name)}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_itself_through_others():
    cycles = _cycles(_module_graph())
    assert not cycles, "import circles (move what both need into one of them, or a third module):\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


def test_the_circle_check_finds_a_circle_through_a_lazy_import(tmp_path):
    pkg = tmp_path / "alphaction" / "engine"
    pkg.mkdir(parents=True)
    (tmp_path / "alphaction" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from .trainer import Trainer\n")
    (pkg / "trainer.py").write_text("from .hooks import HookBase\nclass Trainer: pass\n")
    (pkg / "hooks.py").write_text("class HookBase:\n    def f(self):\n        from .trainer import Trainer\n")
    (pkg / "other.py").write_text("from . import hooks\n")
    assert _cycles(_module_graph(tmp_path / "alphaction")) == [["alphaction.engine.hooks", "alphaction.engine.trainer"]]
