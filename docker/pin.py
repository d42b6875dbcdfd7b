"""The GPU image's pins, read from pyproject.toml's `gpu` extra so the image never restates a version.

python docker/pin.py torch        # print one requirement, e.g. torch==2.11.0
python docker/pin.py --check      # fail unless every pinned package is installed at its pinned version
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def gpu_requirements(pyproject: Path = PYPROJECT) -> list[str]:
    return tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]["gpu"]


def _name(requirement: str) -> str:
    return re.split(r"[\[=<>!~; ]", requirement, maxsplit=1)[0]


def gpu_requirement(package: str, pyproject: Path = PYPROJECT) -> str:
    for requirement in gpu_requirements(pyproject):
        if _name(requirement) == package:
            return requirement
    raise SystemExit(f"{package!r} is not in the gpu extra of {pyproject}: {gpu_requirements(pyproject)}")


def mismatches(pyproject: Path = PYPROJECT) -> list[str]:
    """``name: installed X, pinned Y`` for every exact pin the environment does not satisfy."""
    problems = []
    for requirement in gpu_requirements(pyproject):
        if "==" not in requirement:
            continue
        name, pinned = _name(requirement), requirement.split("==", 1)[1]
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{name}: not installed, pinned {pinned}")
            continue
        if installed.split("+", 1)[0] != pinned:
            problems.append(f"{name}: installed {installed}, pinned {pinned}")
    return problems


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        found = mismatches()
        print("\n".join(found) or "every gpu pin is installed")
        sys.exit(1 if found else 0)
    print(gpu_requirement(sys.argv[1]))
