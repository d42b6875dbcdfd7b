"""Session-wide fixtures on the real stack: tiny models, a vLLM judge server and a Ray head, all on loopback.

Each is built or started once per session, only when a test asks for it, and stopped at the end (also when tests
fail); servers run in their own process groups, so no process outlives the session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cpu_support import vllm_settings
from launch.ray_local import LocalRayCluster
from launch.vllm_server import VLLMServer
from synthetic.tiny_models import TinyModels, build_tiny_models

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    """The tiny Qwen2.5-VL policy and Qwen3 judge, built once into the session's temp folder."""
    return build_tiny_models(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def judge_server(tiny_models: TinyModels, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    """A real vLLM OpenAI-compatible server for the tiny judge, served as ``judge``."""
    log_path = tmp_path_factory.mktemp("logs") / "judge-server.log"
    with VLLMServer(
        tiny_models.judge,
        served_model_name="judge",
        extra_args=vllm_settings.SERVER_ARGS,
        env=vllm_settings.ENV,
        log_path=log_path,
    ) as server:
        yield server


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[LocalRayCluster]:
    """A one-node Ray head on 127.0.0.1 with a job server (temp dir under /tmp: Ray socket paths are short)."""
    with LocalRayCluster(num_cpus=2) as cluster:
        yield cluster


@pytest.fixture
def hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A per-test HF_HOME: HF datasets caches results (an empty filtered dataset too) across runs otherwise."""
    home = tmp_path / "hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(home / "datasets"))
    return home
