"""Compare training runs from their TensorBoard scalars: one figure per metric group, and a summary table.

    python -m evaluation.compare_runs tensorboard_log/iad_reasoner outputs/run_a/tensorboard --out outputs/compare

Each RUN_DIR is a run's TensorBoard folder or a parent of several (``evaluation.tensorboard.discover_runs``).
The figures put every run on the same axes, one line per run (x = step, one colour per run throughout), one
subplot per tag; a tag that only some runs logged is drawn for those runs, and its subplot says which runs lack
it. By default the groups are:

- ``rewards.png``: every ``reward/<name>/mean`` (score, format, acc, tq, conciseness, ..., judge_called);
- ``accuracy.png``: ``reward/acc/mean`` and every validation accuracy, ``val-core/*acc*``;
- ``response_length.png``: ``response_length/mean``;
- ``grad_norm.png``: ``actor/grad_norm``.

``--tags`` replaces them with one figure, ``tags.png``, of the tags that match the given names or shell-style
patterns (``'reward/*/mean'``). A group none of whose tags any run logged draws no figure.

``summary.md`` and ``summary.csv`` have one row per run: its number of training steps, its mean step time
(``timing_s/step``), and for each main metric that some run logged, the value at its last step and the best
(highest) value with its step. The main metrics are ``MAIN_METRICS`` and every ``val-core/*acc*`` tag, or the
tags ``--tags`` selected. Every file is written to a temp file in ``--out`` first, then renamed into place.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING

from data_prep.outputs import write_atomic
from evaluation.tensorboard import NoEventsError, discover_runs, read_scalars

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Scalars = dict[str, dict[int, float]]

STEP_TIME = "timing_s/step"
VALIDATION_PREFIXES = ("val-core/", "val-aux/", "val/")
VAL_ACCURACY = "val-core/*acc*"

# Higher is better for each of these; tags no run logged are left out of the summary.
MAIN_METRICS = (
    "reward/score/mean",
    "critic/score/mean",
    "reward/acc/mean",
    "reward/format/mean",
    "reward/tq/mean",
    "reward/judge_success_rate",
)


@dataclass(frozen=True)
class MetricGroup:
    """One figure: ``name`` is its file's stem, ``tags`` its subplots in order (only tags some run logged)."""

    name: str
    title: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class MetricSummary:
    last: float
    last_step: int
    best: float
    best_step: int


@dataclass(frozen=True)
class RunSummary:
    run: str
    folder: Path
    steps: int
    mean_step_seconds: float
    metrics: dict[str, MetricSummary] = field(default_factory=dict)


def _matching(patterns: Sequence[str], available: Sequence[str]) -> tuple[str, ...]:
    """The tags in ``available`` that match any of ``patterns``, in the order of the first pattern they match."""
    chosen: list[str] = []
    for pattern in patterns:
        for tag in sorted(available):
            if tag not in chosen and fnmatchcase(tag, pattern):
                chosen.append(tag)
    return tuple(chosen)


def _all_tags(scalars_by_run: Mapping[str, Scalars]) -> list[str]:
    return sorted({tag for scalars in scalars_by_run.values() for tag, points in scalars.items() if points})


def metric_groups(scalars_by_run: Mapping[str, Scalars], tags: Sequence[str] | None = None) -> list[MetricGroup]:
    """The figures to draw for these runs: the default groups, or one group of ``tags``; empty groups dropped."""
    available = _all_tags(scalars_by_run)
    if tags is not None:
        specs = [("tags", "Selected tags", tuple(tags))]
    else:
        specs = [
            ("rewards", "Reward components", ("reward/*/mean",)),
            ("accuracy", "Accuracy", ("reward/acc/mean", VAL_ACCURACY)),
            ("response_length", "Response length", ("response_length/mean",)),
            ("grad_norm", "Gradient norm", ("actor/grad_norm",)),
        ]
    groups = [MetricGroup(name, title, _matching(patterns, available)) for name, title, patterns in specs]
    return [group for group in groups if group.tags]


def main_metrics(scalars_by_run: Mapping[str, Scalars], tags: Sequence[str] | None = None) -> tuple[str, ...]:
    """The summary's metrics: ``MAIN_METRICS`` and the validation accuracies, or ``tags``; only tags some run has."""
    return _matching(tuple(tags) if tags is not None else (*MAIN_METRICS, VAL_ACCURACY), _all_tags(scalars_by_run))


def _training_steps(scalars: Scalars) -> set[int]:
    if scalars.get(STEP_TIME):
        return set(scalars[STEP_TIME])
    return {step for tag, points in scalars.items() if not tag.startswith(VALIDATION_PREFIXES) for step in points}


def summarize_run(run: str, folder: Path, scalars: Scalars, metrics: Sequence[str]) -> RunSummary:
    """One run's row: steps, mean step time (nan without ``timing_s/step``) and last and best of ``metrics``."""
    step_times = [value for value in scalars.get(STEP_TIME, {}).values() if math.isfinite(value)]
    summaries: dict[str, MetricSummary] = {}
    for tag in metrics:
        points = sorted(scalars.get(tag, {}).items())
        if not points:
            continue
        last_step, last = points[-1]
        finite = [(value, -step) for step, value in points if math.isfinite(value)]
        best, best_step = (finite and max(finite)) or (math.nan, -last_step)  # ties: the earliest step
        summaries[tag] = MetricSummary(last=last, last_step=last_step, best=best, best_step=-best_step)
    return RunSummary(
        run=run,
        folder=folder,
        steps=len(_training_steps(scalars)),
        mean_step_seconds=sum(step_times) / len(step_times) if step_times else math.nan,
        metrics=summaries,
    )


def draw_group(group: MetricGroup, scalars_by_run: Mapping[str, Scalars]) -> Figure:
    """The figure of one group: a subplot per tag, a line per run that logged it, one colour per run."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    runs = list(scalars_by_run)
    colours = {run: f"C{index % 10}" for index, run in enumerate(runs)}
    columns = min(4, len(group.tags))
    rows = math.ceil(len(group.tags) / columns)
    figure = Figure(figsize=(4.6 * columns, 3.3 * rows + 0.8), layout="constrained")
    FigureCanvasAgg(figure)  # Agg, without touching pyplot or the process-wide backend
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, tag in zip(axes, group.tags, strict=False):
        missing = []
        for run in runs:
            points = sorted(scalars_by_run[run].get(tag, {}).items())
            if not points:
                missing.append(run)
                continue
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, color=colours[run], label=run, marker="o" if len(points) <= 40 else None, ms=3)
        ax.set_title(tag, fontsize=10)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        if missing:
            ax.text(0.01, 0.98, "not in: " + ", ".join(missing), transform=ax.transAxes, va="top", fontsize=7)
    for ax in axes[len(group.tags) :]:
        ax.set_visible(False)
    handles = [Line2D([], [], color=colours[run], marker="o", ms=3) for run in runs]
    figure.legend(handles, runs, loc="outside lower center", ncols=min(len(runs), 6), frameon=False)
    figure.suptitle(group.title)
    return figure


def _number(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.4g}"


def summary_markdown(rows: Sequence[RunSummary], metrics: Sequence[str]) -> str:
    lines = ["# Run comparison", ""]
    lines += ["| run | folder | steps | mean step (s) |", "|---|---|---:|---:|"]
    lines += [f"| {r.run} | `{r.folder}` | {r.steps} | {_number(r.mean_step_seconds)} |" for r in rows]
    for tag in metrics:
        lines += ["", f"## `{tag}`", "", "| run | last | last step | best | best step |", "|---|---:|---:|---:|---:|"]
        for row in rows:
            metric = row.metrics.get(tag)
            if metric is None:
                lines.append(f"| {row.run} | — | — | — | — |")
            else:
                lines.append(
                    f"| {row.run} | {_number(metric.last)} | {metric.last_step} | {_number(metric.best)} | "
                    f"{metric.best_step} |"
                )
    return "\n".join(lines) + "\n"


def summary_csv(rows: Sequence[RunSummary], metrics: Sequence[str]) -> str:
    """Columns ``run, folder, steps, mean_step_s`` and ``<tag> last``, ``<tag> best``, ``<tag> best_step`` per
    metric; numbers as ``repr`` (they read back exactly), empty where a run lacks the value."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["run", "folder", "steps", "mean_step_s"]
    for tag in metrics:
        header += [f"{tag} last", f"{tag} best", f"{tag} best_step"]
    writer.writerow(header)
    for row in rows:
        cells = [
            row.run,
            str(row.folder),
            str(row.steps),
            "" if math.isnan(row.mean_step_seconds) else repr(row.mean_step_seconds),
        ]
        for tag in metrics:
            metric = row.metrics.get(tag)
            if metric is None:
                cells += ["", "", ""]
            else:
                best = "" if math.isnan(metric.best) else repr(metric.best)
                cells += [repr(metric.last), best, str(metric.best_step)]
        writer.writerow(cells)
    return buffer.getvalue()


def compare_runs(runs: Mapping[str, Path], out_dir: Path, tags: Sequence[str] | None = None) -> list[Path]:
    """Draw the runs' figures and write ``summary.md`` and ``summary.csv`` into ``out_dir``; the paths written.

    ``runs`` maps a name to a TensorBoard folder (``discover_runs``). ``tags`` (names or shell-style patterns)
    replaces the default groups and main metrics with the matching tags.
    """
    if not runs:
        raise ValueError("no runs to compare")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scalars_by_run = {name: read_scalars(Path(folder)) for name, folder in runs.items()}

    written: list[Path] = []
    for group in metric_groups(scalars_by_run, tags):
        figure = draw_group(group, scalars_by_run)
        png = io.BytesIO()
        figure.savefig(png, format="png", dpi=110)
        written.append(write_atomic(out_dir / f"{group.name}.png", png.getvalue()))

    metrics = main_metrics(scalars_by_run, tags)
    rows = [summarize_run(name, Path(runs[name]), scalars, metrics) for name, scalars in scalars_by_run.items()]
    markdown, table = summary_markdown(rows, metrics), summary_csv(rows, metrics)
    written.append(write_atomic(out_dir / "summary.md", markdown))
    written.append(write_atomic(out_dir / "summary.csv", table))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation.compare_runs",
        description="Plot and tabulate training runs from their TensorBoard event files.",
    )
    parser.add_argument(
        "run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="a run's TensorBoard folder or a parent of several"
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the figures and summary")
    parser.add_argument(
        "--tags", nargs="+", metavar="TAG", help="plot and summarize only these tags (shell patterns allowed)"
    )
    args = parser.parse_args(argv)
    try:
        runs = discover_runs(args.run_dirs)
    except NoEventsError as error:
        parser.error(str(error))  # exits 2
    written = compare_runs(runs, args.out, args.tags)
    if args.tags:
        logged = {tag for folder in runs.values() for tag in read_scalars(folder)}
        for pattern in args.tags:
            if not any(fnmatchcase(tag, pattern) for tag in logged):
                print(f"note: no run logged a tag matching {pattern!r}", file=sys.stderr)
    print(f"compared {len(runs)} runs: {', '.join(runs)}")
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
