"""Session-wide fixtures on the real stack: tiny models, a vLLM judge server and a Ray head, all on loopback.

Each is built or started once per session, only when a test asks for it, and stopped at the end (also when tests
fail); servers run in their own process groups, so no process outlives the session.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from launch.ray_local import LocalRayCluster
from launch.vllm_server import VLLMServer
from synthetic.datasets import write_mvtec_ad, write_mvtec_loco, write_visa
from synthetic.tiny_models import TinyModels, build_tiny_models

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    """The tiny Qwen2.5-VL policy and Qwen3 judge, built once into the session's temp folder."""
    return build_tiny_models(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tool_policy(tiny_models: TinyModels, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny policy primed further on tool-using conversations (about a minute), so that it calls the tools."""
    from synthetic.priming import prime_tool_use

    policy = tmp_path_factory.mktemp("tool-policy") / "policy"
    shutil.copytree(tiny_models.policy, policy)
    prime_tool_use(policy, steps=200)
    return policy


@pytest.fixture(scope="session")
def judge_server(tiny_models: TinyModels, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    """A real vLLM OpenAI-compatible server for the tiny judge, served as ``judge``."""
    log_path = tmp_path_factory.mktemp("logs") / "judge-server.log"
    with VLLMServer.on_cpu(tiny_models.judge, log_path, served_model_name="judge") as server:
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


@pytest.fixture(scope="session")
def loco_real_counts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic MVTec LOCO AD with the official per-category counts (4,876 files) at 16 px: read-only."""
    return write_mvtec_loco(tmp_path_factory.mktemp("datasets") / "mvtec_loco", preset="real-counts", size=16).root


@pytest.fixture(scope="session")
def small_roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small synthetic MVTec AD, VisA and MVTec LOCO AD roots with a few categories each: read-only."""
    folder = tmp_path_factory.mktemp("datasets")
    return {
        "mvtec_ad": write_mvtec_ad(folder / "mvtec_ad", ["cable", "pill", "bottle"], size=32).root,
        "visa": write_visa(folder / "visa", ["capsules", "pcb4", "candle"], size=32).root,
        "mvtec_loco": write_mvtec_loco(folder / "mvtec_loco", ["pushpins", "juice_bottle"], size=32).root,
    }
