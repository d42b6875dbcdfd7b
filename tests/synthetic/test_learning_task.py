"""The learning task: balanced, interleaved, held out on other objects, and its blank-image control."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from PIL import Image

from synthetic.learning_task import (
    LEARNING_SETTINGS,
    PROTOCOL,
    LearningTask,
    blank_task,
    build_learning_task,
    interleave_labels,
)


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> LearningTask:
    return build_learning_task(tmp_path_factory.mktemp("learning") / "task")


def _truths(path: Path) -> list[str]:
    return [row["ground_truth"] for row in pq.read_table(path).column("reward_model").to_pylist()]


def test_both_files_are_balanced(task: LearningTask) -> None:
    for path in (task.train_file, task.test_file):
        truths = _truths(path)
        assert truths.count("A") == truths.count("B") > 0


def test_training_answers_alternate_so_every_batch_is_balanced(task: LearningTask) -> None:
    truths = _truths(task.train_file)
    batch = LEARNING_SETTINGS["fad_tq_gpg"].prompts_per_step
    for start in range(0, len(truths), batch):
        chunk = truths[start : start + batch]
        assert chunk.count("A") == chunk.count("B")


def test_held_out_objects_are_never_trained_on(task: LearningTask) -> None:
    train = {row["dataset"] for row in pq.read_table(task.train_file).column("extra_info").to_pylist()}
    test = {row["dataset"] for row in pq.read_table(task.test_file).column("extra_info").to_pylist()}
    assert train == {"visa"} and test == {"mvtec_ad"}


def test_interleaving_keeps_every_row(task: LearningTask, tmp_path: Path) -> None:
    built = task.root / "built" / "train.parquet"
    again = interleave_labels(built, tmp_path / "again.parquet")
    assert sorted(map(str, pq.read_table(built).to_pylist())) == sorted(map(str, pq.read_table(again).to_pylist()))
    assert again.read_bytes() == task.train_file.read_bytes()  # same seed, same bytes


def test_blank_control_removes_the_evidence_and_nothing_else(task: LearningTask, tmp_path: Path) -> None:
    blanked = blank_task(task, tmp_path / "blank")
    original, blank = pq.read_table(task.train_file), pq.read_table(blanked.train_file)
    assert original.drop_columns(["images"]).equals(blank.drop_columns(["images"]))
    pairs = zip(original.column("images").to_pylist()[:20], blank.column("images").to_pylist()[:20], strict=True)
    for before, after in pairs:
        for a, b in zip(before, after, strict=True):
            image = Image.open(io.BytesIO(b["bytes"]))
            assert image.size == Image.open(io.BytesIO(a["bytes"])).size
            assert len(set(image.getdata())) == 1
    assert blanked.test_file.read_bytes() == task.test_file.read_bytes()


def test_settings_point_verl_at_the_task_in_file_order() -> None:
    overrides = LEARNING_SETTINGS["lr_iad_focal"].overrides()
    assert f"iad.dataset={PROTOCOL}" in overrides
    assert "data.shuffle=false" in overrides


@pytest.mark.parametrize("recipe", sorted(LEARNING_SETTINGS))
def test_adams_epsilon_reaches_the_optimizer_verl_builds(recipe: str) -> None:
    import torch
    from omegaconf import OmegaConf
    from verl.utils.config import omega_conf_to_dataclass
    from verl.workers.config.optimizer import build_optimizer

    from recipes.compose import compose_recipe

    settings = LEARNING_SETTINGS[recipe]
    config = compose_recipe(recipe, ["+overlay=cpu", *settings.overrides()])
    optim = omega_conf_to_dataclass(OmegaConf.to_container(config.actor_rollout_ref.actor.optim, resolve=True))
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(2))], optim)
    assert isinstance(optimizer, torch.optim.AdamW)
    assert optimizer.defaults["eps"] == settings.adam_eps  # 1e-4 where set; lr_iad_focal keeps torch's 1e-8
    assert optimizer.defaults["lr"] == settings.lr


@pytest.mark.parametrize("recipe", sorted(LEARNING_SETTINGS))
def test_warm_up_reaches_verls_learning_rate_schedule(recipe: str) -> None:
    import torch
    from omegaconf import OmegaConf
    from verl.utils.torch_functional import get_cosine_schedule_with_warmup

    from recipes.compose import compose_recipe

    settings = LEARNING_SETTINGS[recipe]
    optim = compose_recipe(recipe, ["+overlay=cpu", *settings.overrides()]).actor_rollout_ref.actor.optim
    optim = OmegaConf.to_container(optim, resolve=True)
    assert (optim["lr_warmup_steps"], optim["lr_scheduler_type"]) == (settings.warmup_steps, "cosine")
    # the schedule verl's FSDP engine builds from those keys (engine/fsdp/transformer_impl.py, _build_lr_scheduler)
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=settings.lr)
    schedule = get_cosine_schedule_with_warmup(
        optimizer,
        optim["lr_warmup_steps"],
        settings.steps,
        min_lr_ratio=optim["min_lr_ratio"],
        zero_indexed_step=optim["zero_indexed_step"],
    )
    rates = []
    for _ in range(settings.steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    peak = rates.index(max(rates))
    assert rates[:peak] == sorted(rates[:peak]) and peak == settings.warmup_steps
    assert max(rates) == pytest.approx(settings.lr)
    assert settings.lr * settings.min_lr_ratio <= rates[-1] < settings.lr * (settings.min_lr_ratio + 0.01)


@pytest.mark.parametrize("recipe", sorted(LEARNING_SETTINGS))
def test_the_run_has_enough_epochs_for_its_steps(recipe: str, task: LearningTask) -> None:
    """verl stops at the end of its last epoch, whatever total_training_steps says (lr_iad_focal's 1 epoch did)."""
    from recipes.compose import compose_recipe

    settings = LEARNING_SETTINGS[recipe]
    config = compose_recipe(recipe, ["+overlay=cpu", *settings.overrides()])
    batches_per_epoch = pq.read_metadata(task.train_file).num_rows // config.data.train_batch_size
    assert config.trainer.total_epochs * batches_per_epoch >= settings.steps


def test_the_focal_scale_reaches_the_reward_options() -> None:
    from recipes.compose import compose_recipe
    from rewards.options import RewardOptions

    overrides = ["+overlay=cpu", *LEARNING_SETTINGS["lr_iad_focal"].overrides()]
    kwargs = compose_recipe("lr_iad_focal", overrides).reward.custom_reward_function.reward_kwargs
    assert RewardOptions.from_kwargs(kwargs).focal_alpha == 4.0
