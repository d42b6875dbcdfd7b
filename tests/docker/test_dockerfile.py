"""The GPU image gets every package the project ships, and the GPU extra's pins resolve together."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# The image's platform: x86-64 Linux with glibc 2.35 (verl's vLLM images are Ubuntu 22.04) takes wheels for any
# glibc up to its own (pip does not widen an explicit --platform by itself).
PLATFORMS = (*(f"manylinux_2_{minor}_x86_64" for minor in range(35, 16, -1)), "manylinux2014_x86_64", "linux_x86_64")


def packaged() -> set[str]:
    """The top-level packages ``[tool.setuptools.packages.find]`` includes (``"rewards*"`` -> ``rewards``)."""
    patterns = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    return {pattern.rstrip("*").rstrip(".") for pattern in patterns}


def copied() -> set[str]:
    """The folders the Dockerfile copies into the image under their own names."""
    lines = (ROOT / "docker" / "Dockerfile").read_text().splitlines()
    return {match[1] for line in lines if (match := re.fullmatch(r"COPY (\w+) \1/?", line.strip()))}


def test_every_packaged_package_is_copied_into_the_image() -> None:
    assert packaged() - copied() == set()


def test_every_package_folder_in_the_repository_is_packaged() -> None:
    folders = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"tests", "benchmarks"}
    assert folders - packaged() == set()


def test_package_data_globs_cover_every_config_file() -> None:
    data = PYPROJECT["tool"]["setuptools"]["package-data"]
    for package, globs in data.items():
        configs = set((ROOT / package).rglob("*.yaml"))
        covered = {path for pattern in globs for path in (ROOT / package).glob(pattern)}
        assert configs - covered == set(), f"{package}: YAML files that no package-data glob ships"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_gpu_extra_resolves_together(tmp_path: Path) -> None:
    """pip resolves the GPU pins (verl[vllm], vllm, torch, torchvision, transformers) as one set, from PyPI.

    flash-attn builds against the installed torch and has no wheel to resolve here: checked by name and version.
    """
    pins = [pin for pin in PYPROJECT["project"]["optional-dependencies"]["gpu"] if not pin.startswith("flash-attn")]
    assert "flash-attn==2.8.3" in PYPROJECT["project"]["optional-dependencies"]["gpu"]
    command = [
        sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report",
        str(tmp_path / "report.json"), "--python-version", "3.11", "--only-binary=:all:",
        *(f"--platform={tag}" for tag in PLATFORMS), "--target", str(tmp_path / "target"), *pins,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=850, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    import json

    installed = {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in json.loads(
        (tmp_path / "report.json").read_text())["install"]}  # fmt: skip
    for pin in pins:
        name, version = re.split(r"\[.*\]|==", pin)[0].lower(), pin.split("==")[1]
        assert installed.get(name) == version, (pin, installed.get(name))
