"""The house's floors hold: import-linter's contracts (pyproject.toml), and no two packages that
import each other, counted here from the source itself."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
PACKAGES = set(CONFIG["root_packages"])


def package_imports() -> dict[str, set[str]]:
    """package -> the other packages of ours it imports (any import statement, at any depth)."""
    edges: dict[str, set[str]] = {p: set() for p in PACKAGES}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                else:
                    continue
                edges[package].update(
                    n.split(".")[0] for n in names if n.split(".")[0] in PACKAGES - {package}
                )
    return edges


def test_no_two_packages_import_each_other() -> None:
    edges = package_imports()
    pairs = sorted({tuple(sorted((a, b))) for a in edges for b in edges[a] if a in edges[b]})
    assert pairs == []


def test_every_package_sits_on_a_floor_of_the_layers_contract() -> None:
    layers = next(c for c in CONFIG["contracts"] if c["type"] == "layers")["layers"]
    floors = [{name.strip() for name in layer.split("|")} for layer in layers]
    assert set().union(*floors) == PACKAGES
    below = {name: set().union(*floors[i + 1 :]) for i, floor in enumerate(floors) for name in floor}
    for package, imported in package_imports().items():
        assert imported <= below[package], (
            f"{package} imports {sorted(imported - below[package])} from its floor or above"
        )


def test_import_linter_contracts_are_kept() -> None:
    tool = Path(sys.executable).with_name("lint-imports")
    assert tool.exists(), "import-linter is a dev dependency: pip install -e '.[dev]'"
    run = subprocess.run([str(tool), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "broken" in run.stdout and " 0 broken" in run.stdout
