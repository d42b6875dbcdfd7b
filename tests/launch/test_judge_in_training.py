"""The thinking-quality judge during real CPU training: inside verl as its reward model, and killed mid-run.

- In verl: ``fad_tq_gpg``'s default, the tiny Qwen3 judge served by verl on its own pool of one fake GPU and
  reached through verl's reward router (``launch.cpu_train --judge PATH``): every call answers.
- Killed once step 2 is logged (the external server: SIGKILL to its process group; the in-verl one: SIGKILL to the
  Ray actor that runs its vLLM server, and its engine): the run must still finish every step, with the failed calls
  counted (``judge_ok`` 0, the fallback ``tq`` 0) and nothing waiting past the client's deadline. verl's reward
  router does not replace a dead replica, so every later call fails. Outcomes only, never timings.
"""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

import psutil
import pytest

from launch.cpu_train import CPURun, run_training
from launch.process import signal_group
from launch.vllm_server import VLLMServer
from synthetic.tiny_models import TinyModels
from tests.launch.trainer_processes import vllm_server_actors, vllm_servers_of

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

STEPS = 5
KILL_AFTER = 2  # the step after whose log line the judge dies; the step in flight then may be judged in part
DOWN = range(KILL_AFTER + 2, STEPS + 1)  # steps that started after the judge was dead


@pytest.fixture(scope="module")
def in_verl_run(pair3c_data: Path, tiny_models: TinyModels, tmp_path_factory: pytest.TempPathFactory) -> CPURun:
    """``fad_tq_gpg`` with the judge inside verl, whose vLLM server actor is killed once step 2 is logged."""
    killed: list[int] = []

    def kill_the_judge(step: int) -> None:
        if step == KILL_AFTER and not killed:
            servers = vllm_servers_of(tiny_models.judge)
            assert servers, f"no vLLM server actor serves {tiny_models.judge}: {vllm_server_actors()}"
            for server in servers:
                for process in [*server.children(recursive=True), server]:  # its engine core and worker too
                    with contextlib.suppress(psutil.NoSuchProcess):  # a child may go with its parent first
                        process.kill()
                        killed.append(process.pid)

    run = run_training(
        "fad_tq_gpg",
        data_dir=pair3c_data,
        model=tiny_models.policy,
        out=tmp_path_factory.mktemp("judge-in-verl"),
        judge_model=tiny_models.judge,
        overrides=[f"trainer.total_training_steps={STEPS}", "trainer.save_freq=-1"],
        on_step=kill_the_judge,
    )
    assert killed, "the judge was never killed"
    return run


def test_the_in_verl_judge_answers_every_call_while_alive(in_verl_run: CPURun) -> None:
    scalars = in_verl_run.scalars()
    alive = range(1, KILL_AFTER + 1)
    assert all(scalars["reward/judge_called/mean"][step] > 0 for step in alive)
    assert all(scalars["reward/judge_success_rate"][step] == 1.0 for step in alive)
    assert all(scalars["reward/tq/mean"][step] > 0 for step in alive)


def test_training_finishes_when_the_in_verl_judge_is_killed(in_verl_run: CPURun) -> None:
    _assert_judge_down_after_the_kill(in_verl_run)


def _assert_judge_down_after_the_kill(run: CPURun) -> None:
    assert run.returncode == 0, run.log.read_text()[-6000:]
    scalars = run.scalars()
    assert sorted(scalars["training/global_step"]) == list(range(1, STEPS + 1))
    assert scalars["reward/judge_success_rate"][KILL_AFTER] > 0  # it answered while alive
    assert sum(scalars["reward/judge_called/mean"][step] for step in DOWN) > 0  # it was asked while dead
    for step in DOWN:
        assert scalars["reward/judge_ok/mean"][step] == 0
        assert scalars["reward/tq/mean"][step] == 0  # the fallback
        assert scalars["reward/judge_success_rate"].get(step, 0.0) == 0


def test_training_finishes_when_the_external_judge_is_killed(
    pair3c_data: Path, tiny_models: TinyModels, tmp_path: Path
) -> None:
    judge = VLLMServer.on_cpu(tiny_models.judge, tmp_path / "judge.log").start()

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
    _assert_judge_down_after_the_kill(run)
