"""launch.learning's pieces that need no training: the controls' overrides and the accuracy with its interval."""

from __future__ import annotations

from pathlib import Path

import pytest

from launch.learning import _window_mean, accuracy_of, run_learning, training_overrides
from synthetic.learning_task import LEARNING_SETTINGS


def test_the_flipped_control_swaps_in_the_recipes_own_estimator_negated() -> None:
    assert training_overrides("fad_tq_gpg", "flipped")[-1] == "algorithm.adv_estimator=flipped_gpg_paper"
    assert training_overrides("lad_reasoner_grpo", "flipped")[-1] == "algorithm.adv_estimator=flipped_grpo"
    assert training_overrides("lr_iad_focal", None) == LEARNING_SETTINGS["lr_iad_focal"].overrides()


def test_the_blank_control_changes_the_data_not_the_settings() -> None:
    assert training_overrides("fad_tq_gpg", "blank") == LEARNING_SETTINGS["fad_tq_gpg"].overrides()


BAD = [("nope", None, "no learning settings"), ("fad_tq_gpg", "shuffled", "unknown control")]


@pytest.mark.parametrize(("recipe", "control", "message"), BAD)
def test_unknown_recipes_and_controls_are_errors(recipe: str, control: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        training_overrides(recipe, control)


@pytest.mark.parametrize("steps", [0, -3])
def test_a_run_of_no_steps_is_refused_before_anything_starts(steps: int, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="steps must be at least 1"):
        run_learning("fad_tq_gpg", None, tmp_path / "policy", tmp_path / "out", steps=steps)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


def test_accuracy_counts_a_missing_answer_as_wrong() -> None:
    records = [{"predicted": "A", "truth": "A"}, {"predicted": None, "truth": "B"}, {"predicted": "A", "truth": "B"},
               {"predicted": "B", "truth": "B"}]  # fmt: skip
    result = accuracy_of(records)
    assert result.accuracy == 0.5 and result.n == 4
    assert 0.0 <= result.ci_low <= 0.5 <= result.ci_high <= 1.0


def test_window_means_take_the_first_and_last_five_steps() -> None:
    points = {step: float(step) for step in range(1, 21)}
    assert _window_mean(points, first=True) == 3.0
    assert _window_mean(points, first=False) == 18.0


def test_a_folder_holding_an_earlier_run_is_refused_without_overwrite(tmp_path: Path) -> None:
    earlier = tmp_path / "out" / "train" / "checkpoints" / "global_step_45"
    earlier.mkdir(parents=True)
    with pytest.raises(FileExistsError, match="verl would resume"):
        run_learning("fad_tq_gpg", None, tmp_path / "policy", tmp_path / "out")  # type: ignore[arg-type]
    assert earlier.exists()
