"""Does training learn? Each paper recipe trains the tiny policy on CPU; held-out accuracy before and after.

    python -m benchmarks.learning [--out outputs/benchmarks/learning] [--runs fad_tq_gpg lad_reasoner_grpo ...]

The task is ``synthetic.learning_task`` (LR-IAD's one-image prompt; train on VisA, test on MVTec AD, every anomaly one
large cyan disc, balanced labels, chance 1/2); the settings are its ``LEARNING_SETTINGS``. Five runs, one process:

- ``fad_tq_gpg`` (GPG, format + accuracy + accuracy x thinking quality, the tiny judge served by vLLM on loopback);
- ``lad_reasoner_grpo`` (GRPO with a reference model and KL loss);
- ``lr_iad_focal`` (GRPO without std, the focal reward with p from the ``iad_group`` manager; LoRA off, see
  ``synthetic.learning_task``);
- fad_tq_gpg with every training image blanked (``blank``): must stay at chance;
- fad_tq_gpg with the advantages' sign flipped (``flipped``): must get worse.

Each row: mean training reward and accuracy over the first and the last 5 steps, held-out accuracy before and
after with 95% bootstrap intervals, McNemar's test before vs after (b = right only before, c = right only after),
wall time (training, merge and both evaluations). A PNG of the training curves goes next to BENCHMARKS.md
(``benchmarks/learning_curves.png``); the table into its ``learning`` section.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from benchmarks.report import REPO, machine, now, write_section
from data_prep.outputs import atomic_path
from evaluation.compare_runs import MetricGroup, draw_group
from evaluation.tensorboard import read_scalars
from launch.learning import ACCURACY_TAG, REWARD_TAG, LearningResult, evaluate, run_learning
from launch.vllm_server import VLLMServer
from synthetic.learning_task import CHANCE, LEARNING_SETTINGS, build_learning_task
from synthetic.tiny_models import build_tiny_models

# The controls, `make demo` and the CI test run FAD-TQ's recipe: its learning settings are the best established
# (BENCHMARKS.md, the notes on the learning runs).
CONTROL_RECIPE = "fad_tq_gpg"
RUNS: tuple[tuple[str, str | None], ...] = (
    ("fad_tq_gpg", None),
    ("lad_reasoner_grpo", None),
    ("lr_iad_focal", None),
    (CONTROL_RECIPE, "blank"),
    (CONTROL_RECIPE, "flipped"),
)
CURVES = REPO / "benchmarks" / "learning_curves.png"
GOAL_POINTS = 0.20  # held-out accuracy at least this far above chance after training, McNemar p < 0.01


def verdict(result: LearningResult) -> str:
    """What the row shows, against the goal for real runs and the expectation for controls."""
    above = result.after.accuracy - result.chance
    if result.control is None:
        met = above >= GOAL_POINTS and result.p_value < 0.01 and result.after.accuracy > result.before.accuracy
        return "learns (goal met)" if met else ("learns (goal not met)" if result.improved else "does NOT learn")
    if result.control == "blank":
        return "stays at chance (as it must)" if above < GOAL_POINTS / 2 else "rises above chance: IMAGES LEAK?"
    worse = result.reward_last < result.reward_first and result.after.accuracy <= result.before.accuracy
    return "gets worse (as it must)" if worse else "does not get worse: CHECK THE SIGN"


def _interval(evaluation) -> str:
    return f"{evaluation.accuracy:.1%} [{evaluation.ci_low:.1%}, {evaluation.ci_high:.1%}]"


def _failed_row(name: str, folder: Path) -> str:
    """A run whose training stopped: its rewards as far as it got, and where it stopped (no held-out result)."""
    scalars = read_scalars(folder / "train" / "tensorboard")
    reward, acc = scalars.get(REWARD_TAG, {}), scalars.get(ACCURACY_TAG, {})
    first = [reward[s] for s in sorted(reward)[:5]]
    last = [reward[s] for s in sorted(reward)[-5:]]
    accs = [acc[s] for s in sorted(acc)]
    return (
        f"| {name} | {len(reward)} (stopped) | {sum(first) / len(first):.2f} → {sum(last) / len(last):.2f} | "
        f"{sum(accs[:5]) / len(accs[:5]):.2f} → {sum(accs[-5:]) / len(accs[-5:]):.2f} | – | not evaluated | – | – | "
        f"– | training stopped after step {max(reward)}: see its train.log |"
    )


def table_markdown(results: Sequence[LearningResult], failed: Sequence[str] = ()) -> str:
    header = (
        "| run | steps | reward first 5 → last 5 | train acc first 5 → last 5 | held-out before | held-out after "
        "| b / c | McNemar p | wall time | verdict |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n"
    )
    rows = [
        f"| {r.name} | {r.steps} | {r.reward_first:.2f} → {r.reward_last:.2f} | "
        f"{r.train_acc_first:.2f} → {r.train_acc_last:.2f} | {_interval(r.before)} | {_interval(r.after)} | "
        f"{r.only_before} / {r.only_after} | {r.p_value:.2g} | {r.total_seconds / 60:.1f} min | {verdict(r)} |"
        for r in results
    ]
    return header + "\n".join([*rows, *failed]) + "\n"


def draw_curves(runs: dict[str, Path], target: Path) -> Path:
    """Training reward and accuracy per step of every run, one line per run."""
    scalars = {name: read_scalars(folder) for name, folder in runs.items()}
    group = MetricGroup("learning", "Training on the learning task (tiny policy, CPU)", (REWARD_TAG, ACCURACY_TAG))
    figure = draw_group(group, scalars)
    for ax in figure.axes[1:2]:
        ax.axhline(CHANCE, color="grey", linestyle="--", linewidth=1)
    with atomic_path(target) as temporary:
        figure.savefig(temporary, format="png", dpi=110)
    return target


def section(results: Sequence[LearningResult], seconds: float, failed: Sequence[str] = ()) -> str:
    settings = "; ".join(
        f"{recipe}: {s.steps} steps x {s.prompts_per_step} prompts x {s.rollouts} rollouts, "
        f"lr {s.lr:g} ({s.warmup_steps} warm-up steps, cosine down to {s.min_lr_ratio:g} of it), "
        f"Adam eps {s.adam_eps:g}{''.join(f', {extra}' for extra in s.extra)}"
        for recipe, s in LEARNING_SETTINGS.items()
    )
    return f"""## learning: does training move the policy? Three recipes and two controls on CPU

Measured {now()} on {machine()}; `python -m benchmarks.learning`, {seconds / 60:.0f} minutes in all.
Task: `synthetic.learning_task` (LR-IAD's one-image (A) defect / (B) normal prompt; 480 VisA-layout training
images, 140 held-out MVTec AD-layout images of other objects; every anomaly one large cyan disc; balanced, chance
{CHANCE:.0%}). The tiny primed policy (Qwen2.5-VL architecture, 0.36 M weights) trained by verl 0.9.1 on CPU
(`+overlay=cpu`), then the starting and the trained policy answer the held-out images greedily with vLLM.
Settings: {settings}.
Controls run {CONTROL_RECIPE} with every training image blanked (`blank`) or with the advantages'
sign flipped (`flipped`). Goal: held-out accuracy at least {GOAL_POINTS:.0%} points above chance, McNemar p < 0.01.

{table_markdown(results, failed)}
b / c: held-out images right only before / right only after training. Intervals: 95% percentile bootstrap
(1,000 resamples). Wall time: training (with verl's start-up), merging and both evaluations. A run whose training
stopped shows its rewards up to the stop and no held-out result.
See the notes under this section for other settings and an earlier run.
What the tiny policy learns here is to see a large disc; it checks the pipeline, not Qwen2.5-VL.

![training curves](benchmarks/learning_curves.png)
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmarks/learning"))
    parser.add_argument("--only", nargs="+", metavar="RUN", help="run only these rows (e.g. fad_tq_gpg blank)")
    parser.add_argument("--no-write", action="store_true", help="print the table without touching BENCHMARKS.md")
    parser.add_argument(
        "--from-results",
        action="store_true",
        help="train nothing: rebuild the table and curves from the runs already in --out (after a crash)",
    )
    args = parser.parse_args(argv)
    runs = [
        (recipe, control)
        for recipe, control in RUNS
        if not args.only or recipe in args.only or (control is not None and control in args.only)
    ]
    console = Console(width=None if sys.stdout.isatty() else 160)
    if args.from_results:
        return rebuild(args.out, runs, console, write=not args.no_write)
    started = time.perf_counter()
    console.print(f"building the task and the tiny models in {args.out} ...")
    task = build_learning_task(args.out / "task", overwrite=True)
    models = build_tiny_models(args.out / "tiny_models", overwrite=True)
    before = evaluate(models.policy, task.test_file, args.out / "eval_before", "before")
    judge = VLLMServer.on_cpu(models.judge, args.out / "judge.log")
    results: list[LearningResult] = []
    try:
        judge.start()
        for recipe, control in runs:
            name = _folder(recipe, control)
            steps = LEARNING_SETTINGS[recipe].steps
            with Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                TimeElapsedColumn(), console=console,
            ) as progress:  # fmt: skip
                bar = progress.add_task(name, total=steps)
                result = run_learning(
                    recipe,
                    task,
                    models.policy,
                    args.out / name,
                    control=control,
                    judge_url=judge.base_url,
                    before_records=before,
                    on_step=lambda step, bar=bar: progress.update(bar, completed=step),
                    overwrite=True,  # this benchmark's own folder: a rerun starts from step 0
                )
            results.append(result)
            console.print(
                f"{result.name}: held-out {result.before.accuracy:.1%} -> {result.after.accuracy:.1%} "
                f"(McNemar p {result.p_value:.2g}); {verdict(result)}",
                markup=False,
            )
    finally:
        judge.stop()
    seconds = time.perf_counter() - started
    (args.out / "results.json").write_text(json.dumps([r.to_json() for r in results], indent=1) + "\n")
    console.print(table_markdown(results), markup=False, highlight=False)
    if not args.no_write:
        draw_curves(
            {r.name: args.out / _folder(r.recipe, r.control) / "train" / "tensorboard" for r in results}, CURVES
        )
        write_section("learning", section(results, seconds))
        console.print(f"written: {CURVES} and the learning section of BENCHMARKS.md")
    return 0


def _folder(recipe: str, control: str | None) -> str:
    return recipe if control is None else f"{recipe}-{control}"


def rebuild(out: Path, runs: Sequence[tuple[str, str | None]], console: Console, *, write: bool) -> int:
    """The table and curves from each run's ``result.json`` (or its TensorBoard events when training stopped)."""
    results, failed, curves = [], [], {}
    for recipe, control in runs:
        folder = out / _folder(recipe, control)
        name = recipe if control is None else f"{recipe} [{control}]"
        if (folder / "result.json").exists():
            results.append(LearningResult.from_json(json.loads((folder / "result.json").read_text())))
        elif (folder / "train" / "tensorboard").exists():
            failed.append(_failed_row(name, folder))
        else:
            continue
        curves[name] = folder / "train" / "tensorboard"
    seconds = sum(r.total_seconds for r in results)
    console.print(table_markdown(results, failed), markup=False, highlight=False)
    if write:
        draw_curves(curves, CURVES)
        write_section("learning", section(results, seconds, failed))
        console.print(f"written: {CURVES} and the learning section of BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
