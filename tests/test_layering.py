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
    "engine": {"engine", "utils", "config", "structures", "layers", "modeling", "data", "evaluation",
               "checkpoint", "solver"},
    # the Python API (inference, export) sits on top of the engine; only tools and user code import it
    "apis": {"apis", "engine", "utils", "config", "structures", "layers", "modeling", "data", "evaluation",
             "checkpoint", "solver"},
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
