"""recipes.trainer: the reward's sub-scores as training metrics, behind verl's own ``sync`` trainer mode."""

from __future__ import annotations

import numpy as np
import pytest

from recipes.compose import compose_recipe
from recipes.trainer import TRAINER_MODE, reward_component_metrics


def test_means_per_key_over_rollouts_skipping_missing_infos() -> None:
    infos = [{"format": 1.0, "accuracy": 0.0}, None, {"format": 0.5, "accuracy": 1.0}, {"format": 0.0}]
    assert reward_component_metrics(infos) == {"reward/accuracy/mean": 0.5, "reward/format/mean": 0.5}


def test_strings_ignored_bools_and_numpy_counted() -> None:
    infos = [{"ok": True, "note": "fine", "score": np.float32(0.5)}, {"ok": False, "note": "bad", "score": 1}]
    assert reward_component_metrics(infos) == {"reward/ok/mean": 0.5, "reward/score/mean": 0.75}


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
