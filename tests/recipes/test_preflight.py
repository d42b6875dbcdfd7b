"""recipes.preflight: the resource and reward checks, on composed recipes (no Ray)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recipes.compose import compose_recipe
from recipes.preflight import PreflightError, check_resources, check_reward, gpus_needed


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


def _one_row_dataset(folder: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = folder / "train.parquet"
    row = {"data_source": "pair3c", "reward_model": {"ground_truth": "C"}, "extra_info": {"split": "train"}}
    pq.write_table(pa.Table.from_pylist([row]), path)
    return path


def test_a_misspelt_reward_option_fails_with_the_valid_names(tmp_path: Path) -> None:
    train = _one_row_dataset(tmp_path)
    typo = "+reward.custom_reward_function.reward_kwargs.judge_whn=never"
    overrides = ["+overlay=cpu", f"data.train_files={train}", typo]
    with pytest.raises(PreflightError, match=r"unknown reward_kwargs \['judge_whn'\]; valid: .*'judge_when'"):
        check_reward(compose_recipe("fad_tq_gpg", overrides))


def test_the_recipes_reward_ranks_correct_over_wrong_over_malformed(tmp_path: Path) -> None:
    train = _one_row_dataset(tmp_path)
    detail = check_reward(compose_recipe("fad_tq_gpg", ["+overlay=cpu", f"data.train_files={train}"]))
    assert detail == "correct 2.00, wrong 1.00, malformed 0.00"


@pytest.fixture(scope="module")
def tools_data_dir(small_roots: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from data_prep.build import BuildConfig, build

    data = tmp_path_factory.mktemp("preflight-tools")
    out = data / "lr_iad_visa2mvtec_tools"
    build(BuildConfig(protocol="single-ab", roots=small_roots, out=out, datasets=("visa",), tools=True))
    return data


def test_agentic_gpg_builds_its_tools_and_scores_final_turns(
    tools_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recipes.preflight import check_tools

    monkeypatch.setenv("IAD_DATA_DIR", str(tools_data_dir))
    config = compose_recipe("agentic_gpg", ["+overlay=cpu"])
    assert check_tools(config).startswith("zoom, reference from ")
    assert check_reward(config).startswith("correct 2.00")


def test_a_missing_tool_config_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from recipes.preflight import check_tools

    monkeypatch.setenv("IAD_DATA_DIR", str(tmp_path))
    with pytest.raises(PreflightError, match=r"tools.yaml does not exist \(iad-data build --tools writes it\)"):
        check_tools(compose_recipe("agentic_gpg", ["+overlay=cpu"]))
