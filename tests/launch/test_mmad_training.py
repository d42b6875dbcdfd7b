"""mmad_gpg trains for real on CPU on the synthetic MMAD root, and its evaluation gives MMAD's own table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from data_prep.build import BuildConfig, build
from data_prep.mmad import MMADOptions
from evaluation.mmad import MMAD_ANSWERS, OFFICIAL_CSV, official_table
from launch.cpu_train import CPURun, merge_last_checkpoint, run_training
from synthetic.mmad import write_mmad
from synthetic.tiny_models import TinyModels

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mmad_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``IAD_DATA_DIR`` for mmad_gpg: the synthetic MMAD root, pushpins held out for testing."""
    root = write_mmad(tmp_path_factory.mktemp("mmad-root") / "MMAD")
    data = tmp_path_factory.mktemp("mmad-data")
    options = MMADOptions(holdout_categories=("pushpins",))
    build(BuildConfig(protocol="mmad", roots={"mmad": root}, out=data / "mmad", mmad=options))
    return data


@pytest.fixture(scope="module")
def mmad_run(mmad_data: Path, tiny_models: TinyModels, tmp_path_factory: pytest.TempPathFactory) -> CPURun:
    run = run_training(
        "mmad_gpg",
        data_dir=mmad_data,
        model=tiny_models.policy,
        out=tmp_path_factory.mktemp("mmad-run"),
        overrides=["trainer.total_training_steps=2", "trainer.save_freq=2", "data.train_batch_size=8",
                   "actor_rollout_ref.actor.ppo_mini_batch_size=8", "actor_rollout_ref.actor.optim.lr=1e-3"],
    )  # fmt: skip
    assert run.returncode == 0, run.log.read_text()[-6000:]
    return run


def test_mmad_gpg_trains_two_steps_on_mmad_questions(mmad_run: CPURun) -> None:
    scalars = mmad_run.scalars()
    assert sorted(scalars["training/global_step"]) == [1, 2]
    assert max(scalars["actor/grad_norm"].values()) > 0
    for component in ("score", "format", "acc", "answer_parsed"):
        assert f"reward/{component}/mean" in scalars, sorted(scalars)


def test_the_trained_policy_gets_an_mmad_table(mmad_run: CPURun, mmad_data: Path, tmp_path: Path) -> None:
    model = merge_last_checkpoint(mmad_run)
    out = tmp_path / "eval"
    command = [
        sys.executable, "-m", "evaluation", "run", "--model", str(model), "--test-file",
        str(mmad_data / "mmad" / "test.parquet"), "--out", str(out), "--cpu-settings", "--max-tokens", "64",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    answers = json.loads((out / MMAD_ANSWERS).read_text())
    assert {answer["image"].split("/")[0] for answer in answers} == {"MVTec-LOCO"}
    # the CSV is what the official scorer makes of the answers file the run wrote
    assert (out / "mmad" / OFFICIAL_CSV).read_text() == official_table(answers).table.to_csv()
    assert "(published)" in (out / "mmad" / "mmad.md").read_text()
