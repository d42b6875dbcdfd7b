"""LAD-Reasoner's two stages on CPU: verl's own SFT trainer on converted QA pairs, then GRPO from its checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from data_prep.build import BuildConfig, build
from data_prep.sft import SFTConfig, convert
from evaluation.tensorboard import read_scalars
from launch.cpu_train import run_training
from recipes.merge import actor_folder, merge_command
from synthetic.tiny_models import TinyModels

pytestmark = pytest.mark.slow


def _sft_data(small_roots: dict[str, Path], out: Path) -> Path:
    """Four QA pairs on MVTec AD test images (the paper's SFT source), converted by `iad-data sft`."""
    mvtec = small_roots["mvtec_ad"]
    images = sorted(path.relative_to(mvtec).as_posix() for path in mvtec.glob("*/test/*/*.png"))[:4]
    lines = [
        {"image": image, "question": "Describe what you see.", "answer": f"A {Path(image).parts[2]} part."}
        for image in images
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    (out.parent / "qa.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    with pytest.warns(UserWarning, match="no leakage check"):  # the RL data below is not an evaluation set
        convert(SFTConfig(out=out, jsonl=(out.parent / "qa.jsonl",), roots=small_roots, root_dir=mvtec))
    return out


def test_sft_loss_goes_down_and_grpo_starts_from_its_checkpoint(
    small_roots: dict[str, Path], tiny_models: TinyModels, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    _sft_data(small_roots, data / "lad_reasoner_sft")
    checkpoints = tmp_path / "sft_checkpoints"
    env = {**os.environ, "IAD_DATA_DIR": str(data), "IAD_MODEL_PATH": str(tiny_models.policy)}
    env |= {"TENSORBOARD_DIR": str(tmp_path / "sft_tb"), "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable, "-m", "recipes.sft", "lad_reasoner_sft", "+overlay=cpu",
        "data.train_batch_size=4",  # the whole (tiny) file: every step sees the same batch
        "optim.lr=1e-4", "trainer.total_epochs=4", "trainer.total_training_steps=4", "trainer.save_freq=4",
        f"trainer.default_local_dir={checkpoints}",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    loss = read_scalars(tmp_path / "sft_tb")["train/loss"]
    assert sorted(loss) == [1, 2, 3, 4]
    assert loss[4] < loss[1]

    merged = tmp_path / "models" / "lad_reasoner_sft"
    subprocess.run(merge_command(actor_folder(checkpoints), merged), check=True, capture_output=True, timeout=300)
    assert (merged / "model.safetensors").exists()

    build(
        BuildConfig(
            protocol="pair-binary",
            roots=small_roots,
            out=data / "lad_reasoner",
            datasets=("mvtec_ad", "visa"),
            categories=("cable", "capsules"),
        )
    )
    run = run_training(
        "lad_reasoner_grpo",
        data_dir=data,
        model=merged,
        out=tmp_path / "grpo",
        overrides=["trainer.total_training_steps=1", "trainer.save_freq=-1"],
    )
    assert run.returncode == 0, run.log.read_text()[-6000:]
    assert sorted(run.scalars()["training/global_step"]) == [1]
    assert f"'path': '{merged.resolve()}'" in run.log.read_text()  # the policy verl trained is the SFT model
