"""recipes.trainer: the reward's sub-scores as training metrics, behind verl's own ``sync`` trainer mode."""

from __future__ import annotations

import numpy as np
import pytest

from recipes.compose import compose_recipe
from recipes.trainer import TRAINER_MODE, reward_component_metrics


def test_means_per_key_over_rollouts_skipping_missing_infos() -> None:
    infos = [{"format": 1.0, "accuracy": 0.0}, None, {"format": 0.5, "accuracy": 1.0}, {"format": 0.0}]
    metrics = reward_component_metrics(infos)
    assert {key: value for key, value in metrics.items() if key.endswith("/mean")} == {
        "reward/accuracy/mean": 0.5,
        "reward/format/mean": 0.5,
    }


def test_strings_ignored_bools_and_numpy_counted() -> None:
    infos = [{"ok": True, "note": "fine", "score": np.float32(0.5)}, {"ok": False, "note": "bad", "score": 1}]
    metrics = reward_component_metrics(infos)
    assert {key: value for key, value in metrics.items() if key.endswith("/mean")} == {
        "reward/ok/mean": 0.5,
        "reward/score/mean": 0.75,
    }


def test_spread_per_key_is_the_population_std() -> None:
    infos = [{"tq": 0.5, "format": 1.0}, {"tq": 1.0, "format": 1.0}, {"tq": 0.0}]
    metrics = reward_component_metrics(infos)
    assert metrics["reward/tq/std"] == pytest.approx((1 / 6) ** 0.5)
    assert metrics["reward/format/std"] == 0.0


def test_judge_success_rate_over_calls() -> None:
    infos = [
        {"judge_called": 1, "judge_ok": 1},
        {"judge_called": 1, "judge_ok": 0},
        {"judge_called": 0, "judge_ok": 0},
        {"judge_called": 2, "judge_ok": 2},
    ]
    metrics = reward_component_metrics(infos)
    assert metrics["reward/judge_success_rate"] == pytest.approx(3 / 4)
    assert metrics["reward/judge_called/mean"] == 1.0


def test_no_judge_success_rate_without_judge_calls() -> None:
    for infos in ([{"judge_called": 0, "judge_ok": 0}], [{"format": 1.0}], [], [None]):
        assert "reward/judge_success_rate" not in reward_component_metrics(infos)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_verls_sync_mode_gets_the_reward_metrics_trainer() -> None:
    import verl.trainer.ppo.v1.trainer_sync as trainer_sync
    from verl.trainer.ppo.v1.trainer_base import get_trainer_cls

    trainer = get_trainer_cls("sync")
    assert issubclass(trainer, trainer_sync.PPOTrainerSync) and trainer is not trainer_sync.PPOTrainerSync
    assert trainer.__name__ == "IADPPOTrainerSync"


def test_recipes_keep_verls_sync_mode() -> None:
    """verl branches on trainer_mode == "sync" (replay buffer, refills): another name would change training."""
    assert TRAINER_MODE == "sync"
    assert compose_recipe("fad_tq_gpg").trainer.v1.trainer_mode == "sync"


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(("overrides", "poll"), [([], 2.0), (["+overlay=cpu"], 0.1)])
def test_the_replay_buffer_verl_builds_polls_at_the_recipes_interval(overrides: list[str], poll: float) -> None:
    """verl's own _build_replay_buffer runs; the subclass only sets the interval (verl hard-codes 2 s)."""
    from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer
    from verl.trainer.ppo.v1.trainer_base import get_trainer_cls

    trainer = object.__new__(get_trainer_cls("sync"))  # the real method, without starting workers
    trainer.config = compose_recipe("fad_tq_gpg", overrides)
    trainer.trainer_mode = TRAINER_MODE
    trainer._add_prompts_to_generate = lambda *args, **kwargs: None
    buffer = trainer._build_replay_buffer()
    assert type(buffer) is ReplayBuffer
    assert buffer.poll_interval == poll
