"""Markdown and CSV tables and PNG plots of evaluation runs, laid out like the papers' tables, next to their numbers.

Input: the metrics JSON the runner writes per run (``{"model", "test_file", "protocol", "overall": asdict(Metrics),
"by_category": {category: asdict(Metrics)}, "ci": {"accuracy": [lo, hi], "f1_positive": [...], "macro_f1":
[...]}}``), one per model, all of one protocol, and optionally each run's per-sample records (JSONL) for the
per-category bootstrap intervals and McNemar's test between runs on the same test file.

Layouts (published numbers from ``evaluation.published``, each row or column marked ``published (paper, table)``):

- pair-binary: LAD-Reasoner Table 1, models as rows, Acc. and F1 overall and per MVTec LOCO category;
- single-ab: LR-IAD Table III (with Table IV's base model), models as rows, Acc. and F1-macro per dataset; and
  Tables V (VisA) / VI (MVTec-AD) for the datasets our runs cover, objects as rows, methods as columns;
- pair3c: FAD-TQ Table 2, models as rows, Acc. and Balance Score per category and overall accuracy (plus our
  overall Balance Score and mean reasoning length), and Table 3 (accuracy, mean reasoning length).

Every score is printed in percent like the papers (ours are fractions in the metrics files); our cells carry the
95% bootstrap interval in brackets where one is known: overall from the metrics file, per category when records
are given. CSV files hold the same numbers, each interval in two extra columns. Every file is written atomically.

By concern: ``evaluation.records`` reads the metrics and records files, ``evaluation.runs`` pairs them into runs
(with ``evaluation.metrics``' bootstrap statistics), ``evaluation.paired`` compares two runs, ``evaluation.tables``
lays out the tables, ``evaluation.plots`` draws the PNGs; this module writes them together.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from data_prep.outputs import write_atomic
from evaluation.plots import plot_category_accuracy, plot_confusion
from evaluation.records import load_metrics, read_records
from evaluation.runs import Run, make_runs
from evaluation.tables import ReportTable, build_tables


def render_markdown(runs: Sequence[Run], tables: Sequence[ReportTable], images: Sequence[tuple[str, str]]) -> str:
    """The report: each table with its sources and notes and a link to its CSV, then the plots."""
    lines = [f"# Evaluation report: {runs[0].protocol}", ""]
    for table in tables:
        lines += [f"## {table.title}", ""]
        for paragraph in table.intro:
            lines += [paragraph, ""]
        lines += [table.to_markdown(), ""]
        lines += [f"- {note}" for note in table.notes]
        lines += [f"- CSV: [{table.name}.csv]({table.name}.csv)", ""]
    if images:
        lines += ["## Plots", ""]
        for title, file_name in images:
            lines += [f"### {title}", "", f"![{title}]({file_name})", ""]
    return "\n".join(lines)


SUMMARY = "summary.md"  # the runs and their paired comparisons: what `python -m evaluation report` prints


def write_report(
    metrics_paths: list[Path],
    out_dir: Path,
    records_paths: Sequence[Path | None] | None = None,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
) -> list[Path]:
    """Write ``report.md``, one CSV per table and the PNG plots into ``out_dir``; returns the written paths.

    ``records_paths``, when given, pairs one records JSONL (or None) with each metrics file, in the same order; the
    records add per-category bootstrap intervals (``n_resamples`` resamples, ``seed``) and McNemar's test between
    runs on the same test file.
    """
    if records_paths is not None and len(records_paths) != len(metrics_paths):
        raise ValueError(f"got {len(records_paths)} records files for {len(metrics_paths)} metrics files")
    metrics = [load_metrics(path) for path in metrics_paths]
    records = None if records_paths is None else [None if p is None else read_records(p) for p in records_paths]
    runs = make_runs(metrics, records, n_resamples=n_resamples, seed=seed)
    tables = build_tables(runs)
    out_dir = Path(out_dir)
    written = [write_atomic(out_dir / f"{table.name}.csv", table.to_csv()) for table in tables]
    images = []
    for run in runs:
        file_name = f"confusion_{run.slug}.png"
        written.append(write_atomic(out_dir / file_name, plot_confusion(run)))
        images.append((f"Confusion matrix: {run.name}", file_name))
    written.append(write_atomic(out_dir / "category_accuracy.png", plot_category_accuracy(runs)))
    images.append(("Per-category accuracy", "category_accuracy.png"))
    summary = [table for table in tables if table.name in ("runs", "paired_comparisons")]
    written.append(
        write_atomic(out_dir / SUMMARY, "\n\n".join(f"{t.title}\n\n{t.to_markdown()}" for t in summary) + "\n")
    )
    written.append(write_atomic(out_dir / "report.md", render_markdown(runs, tables, images)))
    return written
