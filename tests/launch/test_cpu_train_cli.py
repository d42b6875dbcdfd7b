"""launch.cpu_train's command line and summary, without training."""

from __future__ import annotations

from pathlib import Path

import pytest

from launch.cpu_train import main, shown_steps
from launch.job import job_env


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


def test_a_judge_model_runs_in_verl_and_no_endpoint_leaks_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAD_JUDGE_URL", "http://elsewhere:8000/v1")
    monkeypatch.setenv("IAD_JUDGE_MODEL", "judge")
    env = job_env(tmp_path, tmp_path, tmp_path / "run", None, judge_model=tmp_path / "judge")
    assert env["IAD_JUDGE_IN_VERL"] == "true" and env["IAD_JUDGE_MODEL_PATH"] == str((tmp_path / "judge").resolve())
    assert env["IAD_JUDGE_GPUS"] == "1"
    assert "IAD_JUDGE_URL" not in env and "IAD_JUDGE_MODEL" not in env


def test_a_judge_url_is_an_external_endpoint(tmp_path: Path) -> None:
    env = job_env(tmp_path, tmp_path, tmp_path / "run", "http://127.0.0.1:9/v1")
    assert env["IAD_JUDGE_URL"] == "http://127.0.0.1:9/v1" and env["IAD_JUDGE_IN_VERL"] == "false"
    with pytest.raises(ValueError, match="not both"):
        job_env(tmp_path, tmp_path, tmp_path / "run", "http://127.0.0.1:9/v1", judge_model=tmp_path)


def test_resume_needs_a_checkpoint_and_refuses_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    common = ["--data-dir", str(tmp_path), "--model", str(tmp_path), "--out", str(tmp_path / "run"), "--resume"]
    with pytest.raises(SystemExit) as exit_info:
        main(common)
    assert exit_info.value.code == 2 and "holds no verl checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*common, "--overwrite"])
    assert "pass one of them" in capsys.readouterr().err
