"""The torchvision / torchaudio compatibility finder, in fresh interpreters of the project's venv."""

from __future__ import annotations

import os
import subprocess
import sys

import iad_cpu_compat
import pytest


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}, timeout=300
    )


def test_pth_file_installs_the_finder_at_startup() -> None:
    code = "import sys, iad_cpu_compat as c; print(any(isinstance(f, c._CudaBuildFinder) for f in sys.meta_path))"
    result = run_python(code)
    assert result.stdout.strip() == "True", result.stderr


def test_torchvision_imports_with_pure_python_transforms() -> None:
    code = (
        "import torch, torchvision\n"
        "from torchvision.transforms import functional as F\n"
        "from torchvision.extension import _has_ops\n"
        "out = F.resize(torch.zeros(3, 8, 8), [4, 4])\n"
        "print(tuple(out.shape), _has_ops())"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "(3, 4, 4) False"


def test_without_the_fix_torchvision_fails_as_documented() -> None:
    result = run_python("import torchvision", IAD_CPU_COMPAT="0")
    assert result.returncode != 0
    assert "operator torchvision::nms does not exist" in result.stderr


def test_torchaudio_import_raises_import_error_with_reason() -> None:
    result = run_python("try:\n    import torchaudio\nexcept ImportError as e:\n    print('ImportError:', e)")
    assert result.returncode == 0, result.stderr
    assert "ImportError: torchaudio's compiled library" in result.stdout
    assert "IAD_CPU_COMPAT=0" in result.stdout


def test_define_missing_ops_is_idempotent() -> None:
    pytest.importorskip("torchvision")  # the finder has run: the schemas exist
    assert iad_cpu_compat.define_missing_torchvision_ops() == []


def test_unloadable_library_is_detected(tmp_path) -> None:
    (tmp_path / "_C.so").write_bytes(b"not an ELF file")
    assert iad_cpu_compat.compiled_library_loads(tmp_path, "_C*.so") is False
    assert iad_cpu_compat.compiled_library_loads(tmp_path, "missing*.so") is False
