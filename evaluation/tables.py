"""The report's tables: ours next to the papers' published numbers, in their layouts, as Markdown and CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from evaluation.metrics import (
    finite,
)
from evaluation.paired import paired_comparison
from evaluation.published import METRIC_LABELS, OVERALL_GROUP, PublishedTable, tables_for
from evaluation.runs import Run

DATASET_LABELS: Final = {"mvtec_ad": "MVTec-AD", "visa": "VisA", "mvtec_loco": "MVTec LOCO AD"}
_PERCENT_METRICS: Final = ("accuracy", "f1_positive", "macro_f1", "balance_score")
TABLE_LAYOUT: Final = {"visa": "lr_iad_table5", "mvtec_ad": "lr_iad_table6"}
_PAIRED_HEADERS: Final = (
    "Model A",
    "Model B",
    "N",
    "Acc. A",
    "Acc. B",
    "Only A right",
    "Only B right",
    "Statistic",
    "p",
    "Test",
)


@dataclass(frozen=True)
class Cell:
    """A number (None: not given) with an optional interval, printed with the format ``spec``."""

    value: float | None
    low: float | None = None
    high: float | None = None
    spec: str = ".2f"

    def text(self) -> str:
        if self.value is None:
            return "–"
        if self.low is None or self.high is None:
            return format(self.value, self.spec)
        return f"{format(self.value, self.spec)} [{format(self.low, self.spec)}, {format(self.high, self.spec)}]"


def _csv_number(value: float | None) -> str:
    return "" if value is None else format(value, ".12g")


@dataclass
class ReportTable:
    """A table rendered both as Markdown and as CSV; cells are text or ``Cell``."""

    name: str  # the CSV file's stem
    title: str
    headers: list[str]
    rows: list[list[str | Cell]]
    intro: list[str] = field(default_factory=list)  # paragraphs above the table
    notes: list[str] = field(default_factory=list)  # bullets below it

    def _has_interval(self, column: int) -> bool:
        return any(isinstance(row[column], Cell) and row[column].low is not None for row in self.rows)

    def to_markdown(self) -> str:
        def escape(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        numeric = [any(isinstance(row[j], Cell) for row in self.rows) for j in range(len(self.headers))]
        lines = [
            "| " + " | ".join(escape(h) for h in self.headers) + " |",
            "|" + "|".join("---:" if is_numeric else "---" for is_numeric in numeric) + "|",
        ]
        for row in self.rows:
            cells = [cell.text() if isinstance(cell, Cell) else escape(cell) for cell in row]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_csv(self) -> str:
        intervals = [self._has_interval(j) for j in range(len(self.headers))]
        header: list[str] = []
        for title, has_interval in zip(self.headers, intervals, strict=True):
            header += [title, f"{title} CI low", f"{title} CI high"] if has_interval else [title]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for row in self.rows:
            out: list[str] = []
            for cell, has_interval in zip(row, intervals, strict=True):
                if isinstance(cell, Cell):
                    out.append(_csv_number(cell.value))
                    if has_interval:
                        out += [_csv_number(cell.low), _csv_number(cell.high)]
                else:
                    out += [cell, "", ""] if has_interval else [cell]
            writer.writerow(out)
        return buffer.getvalue()


def our_cell(run: Run, group: str, metric: str, decimals: int) -> Cell:
    scores = run.scores(group)
    spec = f".{decimals}f"
    if scores is None or metric == "accuracy_gain":
        return Cell(None, spec=spec)
    if metric == "mean_reasoning_length":
        return Cell(finite(scores["mean_think_words"]), spec=".1f")
    value = finite(scores[metric])
    if value is None:
        return Cell(None, spec=spec)
    interval = run.interval(group, metric)
    low, high = interval if interval is not None else (None, None)
    return Cell(100 * value if metric in _PERCENT_METRICS else value, low, high, spec)


def published_source(table: PublishedTable) -> str:
    return f"published ({table.source})"


def _our_source(run: Run) -> str:
    return f"ours ({Path(run.test_file).name})"


def _source_intro(table: PublishedTable) -> list[str]:
    caption = f' Caption: "{table.caption}"' if table.caption else ""
    setting = f" Setting: {table.setting}." if table.setting else ""
    return [f"Published: {table.source} — {table.citation}{caption}", f"{table.description}{setting}"]


_OUR_NOTES: Final = [
    "Scores are in percent, as in the papers; our cells show the 95% bootstrap interval in brackets where known "
    "(overall: from the metrics file; per category: from the records, when given).",
    "A missing answer (no parsable <answer>) counts as wrong.",
]


def _columns_with_extras(table: PublishedTable, runs: Sequence[Run]) -> list[tuple[str, str, str]]:
    """(group, metric, header) for every published column, then our categories the paper has no column for."""
    columns = [(c.group, m, f"{c.label} {METRIC_LABELS[m]}") for c in table.columns for m in c.metrics]
    category_metrics = next((c.metrics for c in table.columns if c.group != OVERALL_GROUP), table.columns[0].metrics)
    known = set(table.groups)
    extras = sorted({category for run in runs for category in run.by_category} - known)
    for category in extras:
        columns += [(category, m, f"{category} {METRIC_LABELS[m]}") for m in category_metrics]
    return columns


def _models_as_rows(
    name: str,
    title: str,
    tables: Sequence[PublishedTable],
    runs: Sequence[Run],
    columns: list[tuple[str, str, str]],
    extra_key: str | None = None,
) -> ReportTable:
    """Published rows of ``tables`` (a model repeated with the same numbers is shown once), then one row per run."""
    decimals = tables[0].decimals
    headers = ["Model"] + ([extra_key.capitalize()] if extra_key else []) + ["Source"] + [c[2] for c in columns]
    rows: list[list[str | Cell]] = []
    seen: set[tuple[str, tuple[float | None, ...]]] = set()
    for table in tables:
        for row in table.rows:
            values = tuple(row.get(group, metric) for group, metric, _ in columns)
            if (row.model, values) in seen:
                continue
            seen.add((row.model, values))
            specs = [".1f" if metric == "mean_reasoning_length" else f".{table.decimals}f" for _, metric, _ in columns]
            key = [row.model] + ([row.extra.get(extra_key, "")] if extra_key else []) + [published_source(table)]
            rows.append(key + [Cell(v, spec=s) for v, s in zip(values, specs, strict=True)])
    for run in runs:
        key = [run.name] + (["–"] if extra_key else []) + [_our_source(run)]
        rows.append(key + [our_cell(run, group, metric, decimals) for group, metric, _ in columns])
    notes = [note for table in tables for note in table.notes] + _OUR_NOTES
    intro = [line for table in tables for line in _source_intro(table)]
    return ReportTable(name=name, title=title, headers=headers, rows=rows, intro=intro, notes=notes)


def _categories_as_rows(table: PublishedTable, runs: Sequence[Run]) -> ReportTable:
    """LR-IAD Tables V / VI: objects as rows, each published method and each run as a pair of columns."""
    categories = list(table.groups) + sorted({c for run in runs for c in run.by_category} - set(table.groups))
    metrics = table.columns[0].metrics
    headers = ["Object"]
    for row in table.rows:
        headers += [f"{row.model} {METRIC_LABELS[m]}, {published_source(table)}" for m in metrics]
    for run in runs:
        headers += [f"{run.name} {METRIC_LABELS[m]}" for m in metrics]
    rows: list[list[str | Cell]] = []
    for category in [*categories, OVERALL_GROUP]:
        line: list[str | Cell] = [category]
        for row in table.rows:
            line += [Cell(row.get(category, m), spec=f".{table.decimals}f") for m in metrics]
        for run in runs:
            line += [our_cell(run, category, m, table.decimals) for m in metrics]
        rows.append(line)
    notes = [
        *table.notes,
        f"The overall row has no published numbers in {table.source}; see {table.paper}, Table III.",
        *_OUR_NOTES,
    ]
    title = f"{table.source} layout: per-object accuracy and F1-macro ({DATASET_LABELS[table.datasets[0]]})"
    return ReportTable(
        name=f"{table.key}_layout", title=title, headers=headers, rows=rows, intro=_source_intro(table), notes=notes
    )


def _paper_tables(runs: Sequence[Run]) -> list[ReportTable]:
    protocol = runs[0].protocol
    published = {table.key: table for table in tables_for(protocol)}
    if protocol == "pair-binary":
        table = published["lad_reasoner_table1"]
        return [
            _models_as_rows(
                "lad_reasoner_table1_layout",
                f"{table.source} layout: accuracy and F1 (anomalous = positive)",
                [table],
                runs,
                _columns_with_extras(table, runs),
            )
        ]
    if protocol == "single-ab":
        table3, table4 = published["lr_iad_table3"], published["lr_iad_table4"]
        columns = [(c.group, m, f"{c.label} {METRIC_LABELS[m]}") for c in table3.columns for m in c.metrics]
        for group in dict.fromkeys(run.dataset or OVERALL_GROUP for run in runs):
            if group not in table3.groups:
                label = DATASET_LABELS.get(group, "Overall (other data)")
                columns += [(group, m, f"{label} {METRIC_LABELS[m]}") for m in table3.columns[0].metrics]
        result = [
            _models_as_rows(
                "lr_iad_table3_layout",
                f"{table3.source} layout (with {table4.table}'s base model): accuracy and F1-macro per dataset",
                [table3, table4],
                runs,
                columns,
            )
        ]
        for dataset, key in TABLE_LAYOUT.items():
            covered = [run for run in runs if run.dataset == dataset]
            if covered:
                result.append(_categories_as_rows(published[key], covered))
        return result
    table2, table3 = published["fad_tq_table2"], published["fad_tq_table3"]
    columns = _columns_with_extras(table2, runs) + [
        (OVERALL_GROUP, "balance_score", "Overall BS (not in the paper)"),
        (OVERALL_GROUP, "mean_reasoning_length", "Avg. think words (not in the paper)"),
    ]
    main = _models_as_rows(
        "fad_tq_table2_layout",
        f"{table2.source} layout: accuracy and Balance Score",
        [table2],
        runs,
        columns,
        extra_key="type",
    )
    lengths = _models_as_rows(
        "fad_tq_table3_layout",
        f"{table3.source} layout: accuracy and mean reasoning length",
        [table3],
        runs,
        [(OVERALL_GROUP, m, f"Overall {METRIC_LABELS[m]}") for m in table3.columns[0].metrics],
    )
    lengths.notes.append("Our Avg. length is the mean number of words inside <think> (the paper gives no unit).")
    return [main, lengths]


def _score_cells(run: Run, group: str, scores: Mapping[str, Any]) -> list[str | Cell]:
    positive = run.overall["positive"]
    cells: list[str | Cell] = [Cell(float(scores["n"]), spec=".0f"), Cell(float(scores["n_missing"]), spec=".0f")]
    metrics = ["accuracy"] + (["f1_positive"] if positive is not None else []) + ["macro_f1"]
    for metric in metrics:
        value = finite(scores[metric])
        interval = run.interval(group, metric)
        low, high = interval if interval is not None else (None, None)
        cells.append(Cell(None if value is None else 100 * value, low, high, ".1f"))
    balance, rate, words = (finite(scores[k]) for k in ("balance_score", "format_rate", "mean_think_words"))
    cells += [
        Cell(None if balance is None else 100 * balance, spec=".1f"),
        Cell(None if rate is None else 100 * rate, spec=".1f"),
        Cell(words, spec=".1f"),
    ]
    return cells


def _score_headers(run: Run) -> list[str]:
    positive = run.overall["positive"]
    f1 = [f"F1 ({positive})"] if positive is not None else []
    return ["N", "Missing", "Acc.", *f1, "F1-macro", "BS", "Format %", "Avg. think words"]


def _runs_table(runs: Sequence[Run]) -> ReportTable:
    headers = ["Model", "Test file", "Dataset", *_score_headers(runs[0])]
    rows = [
        [run.name, run.test_file, run.dataset or "–", *_score_cells(run, OVERALL_GROUP, run.overall)] for run in runs
    ]
    return ReportTable(
        name="runs",
        title="Runs",
        headers=headers,
        rows=rows,
        notes=["Scores in percent; BS = Balance Score (FAD-TQ); Format % = share of well-formed responses."],
    )


def _per_category_table(run: Run) -> ReportTable:
    rows = [[category, *_score_cells(run, category, scores)] for category, scores in sorted(run.by_category.items())]
    rows.append([OVERALL_GROUP, *_score_cells(run, OVERALL_GROUP, run.overall)])
    source = "from the records" if run.records else "not available (no records given)"
    return ReportTable(
        name=f"per_category_{run.slug}",
        title=f"Per category: {run.name}",
        headers=["Category", *_score_headers(run)],
        rows=rows,
        intro=[f"Test file: {run.test_file}. Per-category 95% bootstrap intervals: {source}."],
    )


def _paired_table(runs: Sequence[Run]) -> tuple[ReportTable | None, list[dict[str, Any]]]:
    results = []
    rows: list[list[str | Cell]] = []
    with_records = [run for run in runs if run.records]
    for i, first in enumerate(with_records):
        for second in with_records[i + 1 :]:
            if first.test_file != second.test_file:
                continue
            result = paired_comparison(first.records or [], second.records or [])
            results.append({"model_a": first.name, "model_b": second.name, "test_file": first.test_file, **result})
            rows.append(
                [
                    first.name,
                    second.name,
                    Cell(float(result["n"]), spec=".0f"),
                    Cell(100 * result["accuracy_a"], spec=".1f"),
                    Cell(100 * result["accuracy_b"], spec=".1f"),
                    Cell(float(result["only_a"]), spec=".0f"),
                    Cell(float(result["only_b"]), spec=".0f"),
                    Cell(result["statistic"], spec=".4g"),
                    Cell(result["p_value"], spec=".4g"),
                    result["test"],
                ]
            )
    if not rows:
        return None, results
    table = ReportTable(
        name="paired_comparisons",
        title="Paired comparisons (McNemar's test)",
        headers=list(_PAIRED_HEADERS),
        rows=rows,
        notes=[
            "Runs on the same test file, samples matched by index; exact binomial test when fewer than 25 samples "
            "differ, else the continuity-corrected chi-square test."
        ],
    )
    return table, results


def _localization_table(run: Run) -> ReportTable | None:
    """A grounded run's localization metrics per category (evaluation.localization), in percent."""
    metrics = run.metrics.get("localization")
    if not metrics:
        return None
    names = ["mean_iou", "acc@0.1", "acc@0.3", "acc@0.5", "normal_boxed"]
    rows: list[list[str | Cell]] = []
    for group, values in metrics.items():
        cells: list[str | Cell] = [group, str(values["n_anomalous"]), str(values["n_normal"])]
        for name in names:
            value, (low, high) = finite(values[name]), values[f"{name}_ci"]
            scaled = [None if v is None else 100 * v for v in (value, finite(low), finite(high))]
            cells.append(Cell(scaled[0], scaled[1], scaled[2], ".1f"))
        rows.append(cells)
    return ReportTable(
        name=f"localization_{run.slug}",
        title=f"Localization: {run.name}",
        headers=["category", "anomalous", "normal", "mean IoU", "Acc@0.1", "Acc@0.3", "Acc@0.5", "normal with a box"],
        rows=rows,
        notes=["In percent with 95% bootstrap intervals; IoU per anomalous image: each true box's best IoU with a "
               "predicted box, averaged (evaluation.localization)."],
    )  # fmt: skip


def build_tables(runs: Sequence[Run]) -> list[ReportTable]:
    """Every table of the report: runs, the papers' layouts, per category, localization, paired comparisons."""
    tables = [_runs_table(runs), *_paper_tables(runs), *(_per_category_table(run) for run in runs)]
    tables += [table for table in map(_localization_table, runs) if table is not None]
    paired, _ = _paired_table(runs)
    if paired is not None:
        tables.append(paired)
    return tables
