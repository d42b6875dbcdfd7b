"""Does training move the policy toward higher reward? Train a recipe on CPU, evaluate before and after, compare.

One run is: the tiny primed policy trained by ``launch.cpu_train``'s path (verl, ``+overlay=cpu`` plus the learning
settings of ``synthetic.learning_task``) on the learning task, its last checkpoint merged, then both the starting
policy and the trained one answer the held-out images greedily with vLLM (``python -m evaluation run``), and McNemar's
test compares them pair by pair. Controls run the same way with one thing broken on purpose:

- ``blank``: every training image replaced by flat grey (``synthetic.learning_task.blank_task``): the rewards are
  the same, the evidence is gone. Held out on the real images it must stay at chance.
- ``flipped``: the recipe's advantages with their sign flipped (``recipes.controls``): it must get worse.

``benchmarks.learning`` runs every recipe and both controls; ``tests/launch/test_learning.py`` fad_tq_gpg
and the blank control.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

from evaluation.metrics import bootstrap_ci
from evaluation.paired import paired_comparison
from evaluation.records import RECORDS, read_records
from launch.cpu_train import CPURun, clear_output_folder, merge_last_checkpoint, run_training
from recipes.controls import flipped_name
from synthetic.learning_task import CHANCE, LEARNING_SETTINGS, LearningTask, blank_task

CONTROLS: Final = ("blank", "flipped")
RECIPE_ESTIMATORS: Final = {"fad_tq_gpg": "gpg_paper", "lad_reasoner_grpo": "grpo", "lr_iad_focal": "grpo"}
REWARD_TAG: Final = "reward/score/mean"
ACCURACY_TAG: Final = "reward/acc/mean"
WINDOW: Final = 5  # steps averaged at the start and the end of training


class LearningRunError(RuntimeError):
    """Training, merging or evaluating failed; the message names the log to read."""


@dataclass(frozen=True)
class Evaluation:
    """Held-out accuracy of one model, with its 95% bootstrap interval."""

    accuracy: float
    ci_low: float
    ci_high: float
    n: int


@dataclass(frozen=True)
class LearningResult:
    """One training run measured: rewards at the start and end of training, held-out accuracy before and after."""

    recipe: str
    control: str | None
    steps: int
    reward_first: float  # mean training reward (score) over the first WINDOW steps
    reward_last: float
    train_acc_first: float  # mean training accuracy over the first WINDOW steps
    train_acc_last: float
    before: Evaluation
    after: Evaluation
    only_before: int  # held-out rows right before training and wrong after (McNemar's b)
    only_after: int  # wrong before, right after (McNemar's c)
    p_value: float  # McNemar's test, before against after
    train_seconds: float
    total_seconds: float
    chance: float = CHANCE

    @property
    def name(self) -> str:
        return self.recipe if self.control is None else f"{self.recipe} [{self.control}]"

    @property
    def improved(self) -> bool:
        """Held-out accuracy rose, significantly at 5%."""
        return self.after.accuracy > self.before.accuracy and self.p_value < 0.05

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"name": self.name}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LearningResult:
        values = {key: value for key, value in data.items() if key != "name"}
        return cls(**values | {"before": Evaluation(**data["before"]), "after": Evaluation(**data["after"])})


def _window_mean(points: Mapping[int, float], first: bool) -> float:
    steps = sorted(points)
    chosen = steps[:WINDOW] if first else steps[-WINDOW:]
    return sum(points[step] for step in chosen) / len(chosen) if chosen else math.nan


def evaluate(model: Path, test_file: Path, out: Path, name: str) -> list[dict[str, Any]]:
    """Greedy answers of ``model`` to every row of ``test_file`` with vLLM (CPU build), as ``evaluation run``."""
    command = [
        sys.executable, "-m", "evaluation", "run", "--model", str(model), "--test-file", str(test_file),
        "--out", str(out), "--name", name, "--cpu-settings", "--max-tokens", "128", "--overwrite",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise LearningRunError(f"evaluating {model} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return read_records(out / RECORDS)


def accuracy_of(records: Sequence[Mapping[str, Any]], seed: int = 0) -> Evaluation:
    """Accuracy (a missing answer is wrong) with its 95% percentile-bootstrap interval."""

    def accuracy(sample: list[Mapping[str, Any]]) -> float:
        return sum(r["predicted"] is not None and r["predicted"] == r["truth"] for r in sample) / len(sample)

    low, high = bootstrap_ci(list(records), accuracy, seed=seed)
    return Evaluation(accuracy=accuracy(list(records)), ci_low=low, ci_high=high, n=len(records))


def training_overrides(recipe: str, control: str | None) -> list[str]:
    """The learning settings for ``recipe``, plus what ``control`` breaks on purpose."""
    if recipe not in LEARNING_SETTINGS:
        raise ValueError(f"no learning settings for recipe {recipe!r}; valid: {', '.join(LEARNING_SETTINGS)}")
    if control is not None and control not in CONTROLS:
        raise ValueError(f"unknown control {control!r}; valid: {', '.join(CONTROLS)}")
    overrides = LEARNING_SETTINGS[recipe].overrides()
    if control == "flipped":
        overrides.append(f"algorithm.adv_estimator={flipped_name(RECIPE_ESTIMATORS[recipe])}")
    return overrides


def run_learning(
    recipe: str,
    task: LearningTask,
    policy: Path,
    out: Path,
    *,
    control: str | None = None,
    judge_url: str | None = None,
    before_records: Sequence[Mapping[str, Any]] | None = None,
    on_step: Callable[[int], None] | None = None,
    steps: int | None = None,
    overwrite: bool = False,
) -> LearningResult:
    """Train ``recipe`` on ``task`` from ``policy`` (``control``: None, ``blank`` or ``flipped``) and measure it.

    ``steps`` shortens the run (the learning-rate schedule follows it); by default the recipe's learning settings.
    ``out`` must be empty, or ``overwrite`` set: verl resumes from checkpoints it finds there.
    """
    started = time.perf_counter()
    overrides = training_overrides(recipe, control)
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}; leave it out for the recipe's learning settings")
    clear_output_folder(out, overwrite)
    steps = steps or LEARNING_SETTINGS[recipe].steps
    data = blank_task(task, out / "blank_task") if control == "blank" else task
    if before_records is None:
        before_records = evaluate(policy, task.test_file, out / "eval_before", "before")
    run: CPURun = run_training(
        recipe,
        data_dir=data.data_dir,
        model=policy,
        out=out / "train",
        judge_url=judge_url,
        overrides=[f"trainer.total_training_steps={steps}", f"trainer.save_freq={steps}", *overrides],
        on_step=on_step,
    )
    if run.returncode != 0:
        raise LearningRunError(f"training {recipe} ({control or 'no control'}) failed: see {run.log}")
    scalars = run.scalars()
    trained = len(scalars.get(REWARD_TAG, {}))
    if trained < steps:
        raise LearningRunError(
            f"training {recipe} stopped after {trained} of {steps} steps without an error (verl ends with its last "
            f"epoch: raise trainer.total_epochs); see {run.log}"
        )
    model = merge_last_checkpoint(run)
    after_records = evaluate(model, task.test_file, out / "eval_after", "after")
    comparison = paired_comparison(before_records, after_records)
    result = LearningResult(
        recipe=recipe,
        control=control,
        steps=trained,
        reward_first=_window_mean(scalars[REWARD_TAG], first=True),
        reward_last=_window_mean(scalars[REWARD_TAG], first=False),
        train_acc_first=_window_mean(scalars[ACCURACY_TAG], first=True),
        train_acc_last=_window_mean(scalars[ACCURACY_TAG], first=False),
        before=accuracy_of(before_records),
        after=accuracy_of(after_records),
        only_before=comparison["only_a"],
        only_after=comparison["only_b"],
        p_value=comparison["p_value"],
        train_seconds=run.seconds,
        total_seconds=time.perf_counter() - started,
    )
    (out / "result.json").write_text(json.dumps(result.to_json(), indent=1) + "\n")
    return result
