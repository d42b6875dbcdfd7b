"""A killed CPU training run resumes: SIGKILL to the trainer's process group after a checkpoint, then ``--resume``.

The first run trains in a thread (``launch.cpu_train.run_training``, what the CLI calls); once verl has written
the checkpoint of step 2 and logged that step, the trainer's whole process group is killed. The same command with
``--resume`` then continues to step 4 through the CLI. Two verl start-ups, about 6 minutes on 2 cores.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from evaluation.tensorboard import read_scalars
from launch.cpu_train import STEP_LINE, CPURun, last_checkpoint_step, main, run_training
from launch.vllm_server import VLLMServer
from synthetic.tiny_models import TinyModels
from tests.launch.trainer_processes import trainer_process

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

STEPS = 4
KILL_AFTER = 2  # the checkpoint step after which the trainer is killed
STEP_TAG = "training/global_step"


def _logged_steps(tensorboard: Path) -> list[int]:
    """Every ``training/global_step`` point as TensorBoard reads the folder (purges applied, duplicates kept)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not tensorboard.exists():
        return []
    accumulator = EventAccumulator(str(tensorboard), size_guidance={"scalars": 0})
    accumulator.Reload()
    return [event.step for event in accumulator.Scalars(STEP_TAG)] if STEP_TAG in accumulator.Tags()["scalars"] else []


def test_a_killed_run_resumes_from_its_last_checkpoint(
    pair3c_data: Path, tiny_models: TinyModels, judge_server: VLLMServer, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    settings = [f"trainer.total_training_steps={STEPS}", "trainer.save_freq=1"]
    killed: list[CPURun] = []
    first = threading.Thread(
        target=lambda: killed.append(
            run_training(
                "fad_tq_gpg",
                data_dir=pair3c_data,
                model=tiny_models.policy,
                out=out,
                judge_url=judge_server.base_url,
                overrides=settings,
            )
        )
    )
    first.start()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and first.is_alive():
        step = last_checkpoint_step(out / "checkpoints") if (out / "checkpoints").exists() else None
        if step is not None and step >= KILL_AFTER and KILL_AFTER in _logged_steps(out / "tensorboard"):
            break
        time.sleep(0.5)
    trainer = trainer_process()
    assert trainer is not None and first.is_alive(), "the first run ended before it could be killed"
    os.killpg(os.getpgid(trainer.pid), signal.SIGKILL)
    first.join(timeout=120)
    assert killed and killed[0].returncode == -signal.SIGKILL
    resumed_from = last_checkpoint_step(out / "checkpoints")
    assert resumed_from is not None and KILL_AFTER <= resumed_from < STEPS
    log_before = (out / "train.log").read_text()

    code = main(["--recipe", "fad_tq_gpg", "--data-dir", str(pair3c_data), "--model", str(tiny_models.policy),
                 "--judge-url", judge_server.base_url, "--out", str(out), "--steps", str(STEPS), "--save-freq", "1",
                 "--resume", "--skip-preflight"])  # fmt: skip

    assert code == 0, (out / "train.log").read_text()[-6000:]
    assert _logged_steps(out / "tensorboard") == list(range(1, STEPS + 1))  # each step once
    assert sorted(read_scalars(out / "tensorboard")[STEP_TAG]) == list(range(1, STEPS + 1))
    resumed_log = (out / "train.log").read_text()[len(log_before) :]
    trained_again = sorted({int(match[1]) for match in STEP_LINE.finditer(resumed_log)})
    assert trained_again == list(range(resumed_from + 1, STEPS + 1))  # continued, not restarted
    assert last_checkpoint_step(out / "checkpoints") == STEPS
    assert (out / "hf_model" / "config.json").is_file()  # merged and loaded by the CLI
