"""The report's PNG plots: a confusion matrix per run and per-category accuracy beside the papers'."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from data_prep.catalog import DATASETS
from data_prep.prompts import PROMPTS
from evaluation.metrics import (
    MISSING,
    finite,
)
from evaluation.published import OVERALL_GROUP, PublishedTable, load_published
from evaluation.runs import Run
from evaluation.tables import TABLE_LAYOUT, our_cell, published_source


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    return buffer.getvalue()


def plot_confusion(run: Run) -> bytes:
    """A PNG heatmap of the run's confusion matrix: true answers as rows, predictions then "missing" as columns."""
    matrix = np.asarray(run.overall["confusion"], dtype=np.int64)
    labels = list(run.overall["labels"])
    if matrix.shape != (len(labels), len(labels) + 1):
        raise ValueError(f"{run.name}: confusion has shape {matrix.shape}, expected {(len(labels), len(labels) + 1)}")
    options = {option.key: option.text for option in PROMPTS[run.protocol].options}
    names = [
        label if options.get(label, label) == label else f"{label}\n{textwrap.fill(f'({options[label]})', 12)}"
        for label in labels
    ]
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    figure = Figure(figsize=(1.7 * (len(labels) + 1) + 2.5, 1.3 * len(labels) + 2))
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            color = "white" if shares[i, j] > 0.5 else "black"
            axes.text(j, i, f"{matrix[i, j]}\n{shares[i, j]:.0%}", ha="center", va="center", color=color)
    axes.set_xticks(range(matrix.shape[1]), [*names, MISSING])
    axes.set_yticks(range(matrix.shape[0]), names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("truth")
    acc = finite(run.overall["accuracy"])
    accuracy_text = "n/a" if acc is None else f"{acc:.1%}"
    axes.set_title(f"{run.name}\n{run.protocol}, n={run.overall['n']}, accuracy {accuracy_text}", fontsize=10)
    figure.colorbar(image, ax=axes, label="share of the true class")
    return _png(figure)


def _published_category_tables(protocol: str) -> list[PublishedTable]:
    keys = {
        "pair-binary": ["lad_reasoner_table1"],
        "single-ab": list(TABLE_LAYOUT.values()),
        "pair3c": ["fad_tq_table2"],
    }[protocol]
    published = load_published()
    return [published[key] for key in keys]


def plot_category_accuracy(runs: Sequence[Run]) -> bytes:
    """A PNG of per-category accuracy bars per run (95% bootstrap error bars where known), the papers' method and
    base model as markers."""
    order = {category: i for i, category in enumerate(c for cs in DATASETS.values() for c in cs)}
    categories = sorted({c for run in runs for c in run.by_category}, key=lambda c: (order.get(c, len(order)), c))
    positions = [*categories, OVERALL_GROUP]
    x = np.arange(len(positions), dtype=np.float64)
    width = 0.8 / len(runs)
    figure = Figure(figsize=(max(6.0, 0.9 * len(positions) + 2.5), 4.8))
    axes = figure.add_subplot()
    for k, run in enumerate(runs):
        values, lower, upper = [], [], []
        for group in positions:
            cell = our_cell(run, group, "accuracy", 2)
            values.append(np.nan if cell.value is None else cell.value)
            has_interval = cell.value is not None and cell.low is not None and cell.high is not None
            lower.append(cell.value - cell.low if has_interval else np.nan)
            upper.append(cell.high - cell.value if has_interval else np.nan)
        errors = np.array([lower, upper])
        shown = None if np.isnan(errors).all() else np.nan_to_num(errors, nan=0.0)
        axes.bar(x - 0.4 + width * (k + 0.5), values, width, yerr=shown, capsize=3, label=run.name)
    markers = iter(["D", "o", "^", "s", "v", "P"])
    for table in _published_category_tables(runs[0].protocol):
        for row in (*table.rows_with_role("method"), *table.rows_with_role("base")):
            points = [(i, row.get(group, "accuracy")) for i, group in enumerate(positions)]
            points = [(i, v) for i, v in points if v is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                label = f"{row.model}, {published_source(table)}"
                axes.scatter(xs, ys, marker=next(markers, "x"), color="black", zorder=3, s=22, label=label)
    crowded = len(positions) > 6 or max(len(group) for group in positions) > 10
    axes.set_xticks(x, positions, rotation=30 if crowded else 0, ha="right" if crowded else "center")
    axes.set_ylim(0, 100)
    axes.set_ylabel("accuracy (%)")
    axes.set_title(f"Per-category accuracy ({runs[0].protocol})", fontsize=10)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes.grid(axis="y", alpha=0.3)
    return _png(figure)
