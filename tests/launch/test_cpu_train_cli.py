"""launch.cpu_train's command line and summary, without training."""

from __future__ import annotations

from pathlib import Path

import pytest

from launch.cpu_train import main, shown_steps


def test_summary_shows_at_most_ten_steps_with_the_first_and_last() -> None:
    steps = list(range(1, 46))
    shown = shown_steps(steps)
    assert len(shown) == 10 and shown[0] == 1 and shown[-1] == 45 and shown == sorted(set(shown))
    assert shown_steps([1, 2, 3]) == [1, 2, 3]


def test_learning_settings_exist_only_for_the_paper_recipes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--recipe", "my_recipe", "--data-dir", str(tmp_path), "--model", str(tmp_path),
              "--out", str(tmp_path / "run"), "--learning-settings"])  # fmt: skip
    assert exit_info.value.code == 2
    assert "no learning settings for my_recipe" in capsys.readouterr().err


def test_an_out_folder_holding_a_run_is_refused_without_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    earlier = tmp_path / "run" / "checkpoints" / "global_step_2"
    earlier.mkdir(parents=True)
    with pytest.raises(SystemExit) as exit_info:
        main(["--data-dir", str(tmp_path), "--model", str(tmp_path), "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    assert "verl would resume" in capsys.readouterr().err
    assert earlier.exists()
