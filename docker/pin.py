"""Print one package's requirement from pyproject.toml's `gpu` extra, so the image never restates a version pin."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path


def gpu_requirement(package: str, pyproject: Path = Path("pyproject.toml")) -> str:
    requirements = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]["gpu"]
    for requirement in requirements:
        if re.split(r"[\[=<>!~; ]", requirement, maxsplit=1)[0] == package:
            return requirement
    raise SystemExit(f"{package!r} is not in the gpu extra of {pyproject}: {requirements}")


if __name__ == "__main__":
    print(gpu_requirement(sys.argv[1]))
