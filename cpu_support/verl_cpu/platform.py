"""verl's platform interface for a machine without accelerators: device ``cpu``, backend gloo, no CUDA IPC.

Registered through verl's public ``PlatformRegistry`` (verl/plugin/platform). Two choices are not what a
"CPU platform" would say in the abstract, and both are forced by verl 0.9.1:

- the Ray resource stays ``GPU``: verl's resource pools count only GPU/NPU and its vLLM replica reads the GPU
  accelerator id of each worker, so a CPU run declares fake GPUs (the overlay's ``ray_init.num_gpus``);
- ``current_device()`` returns ``torch.device("cpu")``, not an index: about 60 verl call sites pass
  ``get_device_id()`` straight to ``.to()`` / ``device=``, where the integer 0 would mean ``cuda:0``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import torch

from cpu_support import vllm_settings


class _CPUDeviceModule(ModuleType):
    """``torch.cpu`` plus the ``torch.cuda`` memory API as zeros and no-ops, which verl calls unguarded."""

    def __init__(self) -> None:
        super().__init__("iad_cpu_device")

    def __getattr__(self, name: str) -> Any:
        if hasattr(torch.cpu, name):
            return getattr(torch.cpu, name)
        if name in _ZERO_MEMORY_CALLS:
            return lambda *args, **kwargs: 0
        if name in _NOOP_CALLS:
            return lambda *args, **kwargs: None
        if name == "mem_get_info":
            return _mem_get_info
        if name == "memory_stats":
            return lambda *args, **kwargs: {}
        raise AttributeError(f"the CPU device module has no {name!r} (verl called a device API CPU lacks)")

    @staticmethod
    def get_device_name(*args: Any) -> str:
        return "CPU"

    @staticmethod
    def current_device() -> torch.device:
        return torch.device("cpu")

    @staticmethod
    def device_count() -> int:
        return 1

    @staticmethod
    def is_available() -> bool:
        return True

    @staticmethod
    def set_device(device: Any) -> None:
        return None

    @staticmethod
    def manual_seed(seed: int) -> None:
        torch.manual_seed(seed)

    manual_seed_all = manual_seed

    # verl's checkpoint keys the accelerator's RNG state by device name, here "cpu", the key of torch's own CPU
    # state, so resuming calls ``set_rng_state(rng_state["cpu"])``: on CPU that RNG is torch's.
    get_rng_state = staticmethod(torch.get_rng_state)
    set_rng_state = staticmethod(torch.set_rng_state)


_ZERO_MEMORY_CALLS = frozenset(
    {
        "memory_allocated",
        "memory_reserved",
        "max_memory_allocated",
        "max_memory_reserved",
        "memory_cached",
        "max_memory_cached",
    }
)
_NOOP_CALLS = frozenset({"empty_cache", "reset_peak_memory_stats", "reset_max_memory_allocated", "ipc_collect"})


def _mem_get_info(*args: Any, **kwargs: Any) -> tuple[int, int]:
    """(free, total) bytes of host memory, as ``torch.cuda.mem_get_info`` reports for a GPU."""
    import psutil

    memory = psutil.virtual_memory()
    return memory.available, memory.total


CPU_DEVICE_MODULE = _CPUDeviceModule()


def make_platform_class() -> type:
    """The platform class, built lazily so importing this module does not import verl."""
    from verl.plugin.platform import PlatformBase

    class PlatformCPU(PlatformBase):
        """verl on CPU: gloo for collectives, the shared-memory weight-sync path, memory calls as no-ops."""

        @property
        def device_name(self) -> str:
            return "cpu"

        @property
        def vendor_name(self) -> str:
            return "cpu"

        @property
        def device_module(self) -> ModuleType:
            return CPU_DEVICE_MODULE

        def is_available(self) -> bool:
            return True

        def is_platform_available(self, use_smi_check: bool = False) -> bool:
            from cpu_support.verl_cpu import cpu_mode_requested

            return cpu_mode_requested()

        def current_device(self) -> torch.device:  # type: ignore[override]
            return torch.device("cpu")

        def device_count(self) -> int:
            return 1

        def set_device(self, device_index: int) -> None:
            return None

        def synchronize(self, device_index: int | None = None) -> None:
            return None

        def manual_seed(self, seed: int) -> None:
            torch.manual_seed(seed)

        def manual_seed_all(self, seed: int) -> None:
            torch.manual_seed(seed)

        def set_allocator_settings(self, settings: str) -> None:
            return None

        def empty_cache(self) -> None:
            return None

        def get_device_capability(self, device_index: int = 0) -> tuple[int | None, int | None]:
            return None, None

        def communication_backend_name(self) -> str:
            return "gloo"

        def visible_devices_envvar(self) -> str:
            # Ray sets it for the fake GPUs; vLLM's CPU build ignores it.
            return "CUDA_VISIBLE_DEVICES"

        @contextlib.contextmanager
        def nvtx_range(self, msg: str) -> Iterator[None]:
            yield

        def profiler_start(self) -> None:
            return None

        def profiler_stop(self) -> None:
            return None

        def ray_resource_name(self) -> str:
            return "GPU"

        def ray_noset_envvars(self) -> list[str]:
            return []

        def is_ipc_supported(self) -> bool:
            return False

        def rollout_env_vars(self) -> dict[str, str]:
            return dict(vllm_settings.ROLLOUT_ENV)

        def cudart(self) -> Any:
            return None

    PlatformCPU.__module__, PlatformCPU.__qualname__ = __name__, "PlatformCPU"
    sys.modules[__name__].PlatformCPU = PlatformCPU
    return PlatformCPU
