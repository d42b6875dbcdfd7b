"""The thinking-quality judge during real CPU training: inside verl as its reward model, and killed mid-run.

- In verl: ``fad_tq_gpg``'s default, the tiny Qwen3 judge served by verl on its own pool of one fake GPU and
  reached through verl's reward router (``launch.cpu_train --judge PATH``): every call answers.
- Killed once step 2 is logged (the external server: SIGKILL to its process group): the run must still finish every
  step, with the failed calls counted (``judge_ok`` 0, the fallback ``tq`` 0) and nothing waiting past the client's
  deadline. Outcomes only, never timings.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from cpu_support import vllm_settings
from launch.cpu_train import CPURun, run_training
from launch.process import signal_group
from launch.vllm_server import VLLMServer
from synthetic.tiny_models import TinyModels

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

STEPS = 5
KILL_AFTER = 2  # the step after whose log line the judge dies; the step in flight then may be judged in part
DOWN = range(KILL_AFTER + 2, STEPS + 1)  # steps that started after the judge was dead


@pytest.fixture(scope="module")
def in_verl_run(pair3c_data: Path, tiny_models: TinyModels, tmp_path_factory: pytest.TempPathFactory) -> CPURun:
    run = run_training(
        "fad_tq_gpg",
        data_dir=pair3c_data,
        model=tiny_models.policy,
        out=tmp_path_factory.mktemp("judge-in-verl"),
        judge_model=tiny_models.judge,
        overrides=["trainer.total_training_steps=2", "trainer.save_freq=-1"],
    )
    assert run.returncode == 0, run.log.read_text()[-6000:]
    return run


def test_the_in_verl_judge_answers_every_call(in_verl_run: CPURun) -> None:
    scalars = in_verl_run.scalars()
    assert sorted(scalars["training/global_step"]) == [1, 2]
    assert all(value > 0 for value in scalars["reward/judge_called/mean"].values())
    assert all(value == 1.0 for value in scalars["reward/judge_success_rate"].values())
    assert all(value > 0 for value in scalars["reward/tq/mean"].values())


def test_training_finishes_when_the_external_judge_is_killed(
    pair3c_data: Path, tiny_models: TinyModels, tmp_path: Path
) -> None:
    judge = VLLMServer(
        tiny_models.judge, extra_args=vllm_settings.SERVER_ARGS, env=vllm_settings.ENV, log_path=tmp_path / "judge.log"
    ).start()

    def kill_the_judge(step: int) -> None:
        if step == KILL_AFTER and judge.running:
            signal_group(judge.process.pid, signal.SIGKILL)

    try:
        run = run_training(
            "fad_tq_gpg",
            data_dir=pair3c_data,
            model=tiny_models.policy,
            out=tmp_path / "run",
            judge_url=judge.base_url,
            overrides=[f"trainer.total_training_steps={STEPS}", "trainer.save_freq=-1"],
            on_step=kill_the_judge,
        )
    finally:
        judge.stop()
    assert run.returncode == 0, run.log.read_text()[-6000:]
    scalars = run.scalars()
    assert sorted(scalars["training/global_step"]) == list(range(1, STEPS + 1))
    assert scalars["reward/judge_success_rate"][KILL_AFTER] > 0  # it answered while alive
    assert sum(scalars["reward/judge_called/mean"][step] for step in DOWN) > 0  # it was asked while dead
    for step in DOWN:
        assert scalars["reward/judge_ok/mean"][step] == 0
        assert scalars["reward/tq/mean"][step] == 0  # the fallback
        assert scalars["reward/judge_success_rate"].get(step, 0.0) == 0
