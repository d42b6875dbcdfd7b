"""recipes.preflight: the resource check, on composed recipes (no data, no Ray)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recipes.compose import compose_recipe
from recipes.preflight import PreflightError, check_resources, gpus_needed


@pytest.fixture
def judge_in_verl(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("IAD_JUDGE_IN_VERL", "true")
    monkeypatch.setenv("IAD_JUDGE_MODEL_PATH", str(tmp_path))
    monkeypatch.setenv("IAD_JUDGE_GPUS", "1")
    return tmp_path


def test_the_cpu_overlay_fits_the_trainer_and_the_judge_pool(judge_in_verl: Path) -> None:
    config = compose_recipe("fad_tq_gpg", ["+overlay=cpu"])
    assert gpus_needed(config) == {"trainer": 1, "judge": 1}
    assert check_resources(config) == "2 GPU(s): trainer 1 + judge 1, Ray offers 2"


def test_pools_larger_than_rays_gpus_are_named(judge_in_verl: Path) -> None:
    config = compose_recipe("fad_tq_gpg", ["+overlay=cpu", "ray_kwargs.ray_init.num_gpus=1"])
    with pytest.raises(PreflightError, match="need 2 GPUs .*num_gpus=1"):
        check_resources(config)


def test_a_missing_local_judge_model_is_named(judge_in_verl: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAD_JUDGE_MODEL_PATH", str(judge_in_verl / "nowhere"))
    with pytest.raises(PreflightError, match="does not exist"):
        check_resources(compose_recipe("fad_tq_gpg", ["+overlay=cpu"]))


def test_no_judge_pool_without_the_judge_in_verl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IAD_JUDGE_IN_VERL", "false")
    assert gpus_needed(compose_recipe("fad_tq_gpg", ["+overlay=cpu"])) == {"trainer": 1}
