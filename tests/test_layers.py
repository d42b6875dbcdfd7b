"""The packages form layers: each imports only the packages below it, so none can reach back up (no cycles)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# lowest first: data in the papers' layouts and prompts; synthetic data and models; rewards; the agent's tools; the
# CPU stack; evaluation; verl recipes; launchers; benchmarks
LAYERS = (
    "data_prep", "synthetic", "rewards", "agent_tools", "cpu_support", "evaluation", "recipes", "launch", "benchmarks"
)  # fmt: skip


def imported_packages(package: str) -> dict[str, set[str]]:
    """Project packages imported anywhere in ``package`` (lazy imports inside functions included), by file."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in LAYERS and top != package:
                    found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


@pytest.mark.parametrize("package", LAYERS)
def test_a_package_imports_only_the_layers_below_it(package: str) -> None:
    above = set(LAYERS[LAYERS.index(package) + 1 :])
    upward = {target: sorted(files) for target, files in imported_packages(package).items() if target in above}
    assert not upward, f"{package} imports higher layers: {upward}"
