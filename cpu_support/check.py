"""Check that the CPU environment is complete: the last step of ``make setup`` (also ``iad-check-env``).

Each check is one line of a table; any failure exits non-zero with the error, so a broken install is caught at
setup time rather than in the middle of a test or a job.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

STACK_MODULES = ("torch", "torchvision", "transformers", "ray", "vllm", "verl")


def check_imports() -> str:
    versions = []
    for name in STACK_MODULES:
        module = importlib.import_module(name)
        versions.append(f"{name} {getattr(module, '__version__', '?')}")
    return ", ".join(versions)


def check_verl_sees_vllm() -> str:
    from verl.third_party.vllm import vllm_version

    if vllm_version is None:
        raise RuntimeError("verl found no usable vLLM (verl.third_party.vllm.vllm_version is None)")
    return f"verl.third_party.vllm.vllm_version = {vllm_version}"


def check_vllm_platform() -> str:
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        raise RuntimeError(f"vLLM chose the {current_platform.device_type!r} platform, expected 'cpu'")
    return f"distribution vllm {importlib.metadata.version('vllm')}, platform {current_platform.device_type}"


def check_processor() -> str:
    from transformers import AutoProcessor

    from synthetic.tiny_models import build_policy, train_tokenizer

    with tempfile.TemporaryDirectory(prefix="iad-check-") as folder:
        path = build_policy(Path(folder) / "policy", train_tokenizer())
        processor = AutoProcessor.from_pretrained(path)
    return f"{type(processor).__name__} with {type(processor.image_processor).__name__}"


CHECKS: dict[str, Callable[[], str]] = {
    "imports": check_imports,
    "verl detects vLLM": check_verl_sees_vllm,
    "vLLM platform": check_vllm_platform,
    "Qwen2.5-VL AutoProcessor": check_processor,
}


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    failed = 0
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            detail, status = check(), "ok"
        except Exception as error:  # every failure is reported, not just the first
            detail, status = f"{type(error).__name__}: {error}", "FAIL"
            failed += 1
        print(f"{status:4}  {name:26} {detail}  ({time.perf_counter() - started:.1f} s)")
    if failed:
        print(f"{failed} check(s) failed: see above; `make setup` reinstalls the environment.", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
