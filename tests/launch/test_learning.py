"""Training learns, and the check of it can fail: FAD-TQ's recipe on the learning task, and its blank control.

Each run trains the tiny policy with verl on CPU (``launch.learning``, the path ``benchmarks.learning`` and
``make demo`` take), then evaluates before and after on the held-out pairs. Outcomes only, never timings.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from evaluation.tensorboard import read_scalars
from launch.learning import LearningResult, evaluate, run_learning
from launch.vllm_server import VLLMServer
from synthetic.learning_task import CHANCE, LearningTask, build_learning_task
from synthetic.tiny_models import TinyModels

# one run: verl's start-up (~2.5 min here), 40 steps of 128 rollouts (~10 min), merge, one evaluation; beyond the
# suite's 600 s
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

RECIPE = "fad_tq_gpg"  # benchmarks.learning.CONTROL_RECIPE


@pytest.fixture(scope="module")
def learning_task(tmp_path_factory: pytest.TempPathFactory) -> LearningTask:
    return build_learning_task(tmp_path_factory.mktemp("learning") / "task")


@pytest.fixture(scope="module")
def before_records(learning_task: LearningTask, tiny_models: TinyModels, tmp_path_factory: pytest.TempPathFactory):
    return evaluate(tiny_models.policy, learning_task.test_file, tmp_path_factory.mktemp("eval-before"), "before")


def _run(
    control: str | None,
    learning_task: LearningTask,
    tiny_models: TinyModels,
    judge_server: VLLMServer,
    before_records: list,
    out: Path,
) -> LearningResult:
    return run_learning(
        RECIPE,
        learning_task,
        tiny_models.policy,
        out,
        control=control,
        judge_url=judge_server.base_url,
        before_records=before_records,
        # the learning settings (synthetic.learning_task lists every setting tried and how its runs went); another
        # machine's rounding is another seed
    )


def _training_curve(out: Path) -> str:
    """Accuracy and format per step ("step:acc/format"), for a failure message that shows how the run went."""
    scalars = read_scalars(out / "train" / "tensorboard")
    accuracy, form = scalars.get("reward/acc/mean", {}), scalars.get("reward/format/mean", {})
    return " ".join(f"{step}:{accuracy[step]:.2f}/{form.get(step, math.nan):.2f}" for step in sorted(accuracy))


def test_fad_tq_gpg_learns_the_task(
    learning_task: LearningTask,
    tiny_models: TinyModels,
    judge_server: VLLMServer,
    before_records: list,
    tmp_path: Path,
) -> None:
    result = _run(None, learning_task, tiny_models, judge_server, before_records, tmp_path)
    curve = _training_curve(tmp_path)
    assert result.after.accuracy > result.before.accuracy, (result, curve)
    assert result.p_value < 0.05, (result, curve)
    assert result.only_after > result.only_before, (result, curve)


def test_the_blank_image_control_does_not_learn(
    learning_task: LearningTask,
    tiny_models: TinyModels,
    judge_server: VLLMServer,
    before_records: list,
    tmp_path: Path,
) -> None:
    result = _run("blank", learning_task, tiny_models, judge_server, before_records, tmp_path)
    # chance is 1/2 on the balanced held-out images; the real run ends far above it (the test above)
    assert result.after.accuracy < CHANCE + 0.10, result
    assert not result.improved or result.after.accuracy < CHANCE + 0.10, result
