"""docker/pin.py reads the GPU image's pins from pyproject.toml, so the image cannot drift from it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pin(package: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "docker/pin.py", package], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_pins_come_from_the_gpu_extra() -> None:
    gpu = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["gpu"]
    for package in ("torch", "flash-attn", "vllm"):
        result = pin(package)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() in gpu
        assert result.stdout.strip().startswith(f"{package}==")


def test_unknown_package_is_an_error_naming_the_extra() -> None:
    result = pin("no-such-package")
    assert result.returncode != 0
    assert "not in the gpu extra" in result.stderr


def test_dockerfile_checks_the_pins_and_restates_none() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert "python docker/pin.py --check" in dockerfile
    assert "==" not in dockerfile.split("FROM", 1)[1]  # no version restated after the base image


def test_check_reports_every_mismatch_here() -> None:
    sys.path.insert(0, str(ROOT / "docker"))
    try:
        import pin
    finally:
        sys.path.pop(0)
    found = pin.mismatches()  # this CPU machine has the cpu extra: torch 2.13, no vllm 0.24, no flash-attn
    assert any(line.startswith("torch: installed 2.13.0") for line in found)
    assert any(line.startswith("flash-attn: not installed") for line in found)
