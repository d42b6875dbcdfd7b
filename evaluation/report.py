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
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from data_prep.catalog import DATASETS
from data_prep.outputs import write_atomic
from data_prep.prompts import PROMPTS
from evaluation.metrics import MISSING, OVERALL, accuracy, bootstrap_ci, confusion_matrix, f1_score, macro_f1, mcnemar
from evaluation.published import METRIC_LABELS, OVERALL_GROUP, PublishedTable, load_published, tables_for

DATASET_LABELS: Final = {"mvtec_ad": "MVTec-AD", "visa": "VisA", "mvtec_loco": "MVTec LOCO AD"}
CI_METRICS: Final = ("accuracy", "f1_positive", "macro_f1")  # the intervals a metrics file carries
_PERCENT_METRICS: Final = ("accuracy", "f1_positive", "macro_f1", "balance_score")
_METRICS_KEYS: Final = ("model", "test_file", "protocol", "overall", "by_category")
_SCORE_KEYS: Final = (
    "labels",
    "positive",
    "n",
    "n_missing",
    "accuracy",
    "f1_positive",
    "macro_f1",
    "balance_score",
    "format_rate",
    "mean_think_words",
    "confusion",
)
_RECORD_KEYS: Final = ("index", "truth", "predicted", "category")
_TABLE_LAYOUT: Final = {"visa": "lr_iad_table5", "mvtec_ad": "lr_iad_table6"}
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


# --------------------------------------------------------------------------------------------------------- loading
def _finite(value: Any) -> float | None:
    """A number, or None for null / nan (the runner may write either for an undefined score)."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _check_scores(scores: Any, where: str) -> None:
    if not isinstance(scores, Mapping):
        raise ValueError(f"{where} must be a mapping of scores (dataclasses.asdict(Metrics)), got {scores!r}")
    missing = [key for key in _SCORE_KEYS if key not in scores]
    if missing:
        raise ValueError(f"{where} lacks {missing}")


def validate_metrics(metrics: Any, where: str = "metrics") -> dict[str, Any]:
    """Check a metrics dict has the runner's layout; returns it as a dict. ValueError names the missing part."""
    if not isinstance(metrics, Mapping):
        raise ValueError(f"{where} must be a JSON object, got {type(metrics).__name__}")
    missing = [key for key in _METRICS_KEYS if key not in metrics]
    if missing:
        raise ValueError(f"{where} lacks {missing}")
    if metrics["protocol"] not in PROMPTS:
        raise ValueError(f"{where}: unknown protocol {metrics['protocol']!r}; valid: {list(PROMPTS)}")
    _check_scores(metrics["overall"], f"{where}: overall")
    if not isinstance(metrics["by_category"], Mapping):
        raise ValueError(f"{where}: by_category must map categories to scores")
    for category, scores in metrics["by_category"].items():
        _check_scores(scores, f"{where}: by_category[{category!r}]")
    ci = metrics.get("ci") or {}
    if not isinstance(ci, Mapping):
        raise ValueError(f"{where}: ci must map metric names to [low, high]")
    for name, interval in ci.items():
        if interval is not None and (not isinstance(interval, Sequence) or len(interval) != 2):
            raise ValueError(f"{where}: ci[{name!r}] must be [low, high], got {interval!r}")
    return dict(metrics)


def load_metrics(path: Path) -> dict[str, Any]:
    """Read and check one metrics JSON file."""
    path = Path(path)
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    return validate_metrics(metrics, str(path))


def load_records(path: Path) -> list[dict[str, Any]]:
    """Read a per-sample JSONL file (one JSON object per non-blank line)."""
    path = Path(path)
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}, line {number}: not valid JSON: {error}") from error
            missing = [key for key in _RECORD_KEYS if not isinstance(record, Mapping) or key not in record]
            if missing:
                raise ValueError(f"{path}, line {number}: the record lacks {missing}")
            records.append(record)
    return records


# ------------------------------------------------------------------------------------------------ paired comparison
def _by_index(records: Sequence[Mapping[str, Any]], name: str) -> dict[int, Mapping[str, Any]]:
    if not records:
        raise ValueError(f"{name} is empty")
    indexed: dict[int, Mapping[str, Any]] = {}
    for record in records:
        index = record["index"]
        if index in indexed:
            raise ValueError(f"{name} holds index {index} twice")
        indexed[index] = record
    return indexed


def paired_comparison(records_a: Sequence[Mapping[str, Any]], records_b: Sequence[Mapping[str, Any]]) -> dict:
    """McNemar's test (``evaluation.metrics.mcnemar``) of two runs on the same test file, records matched by index.

    A record is right when its ``predicted`` equals its ``truth`` (a missing answer is wrong). The two lists must
    hold the same indices, and each index the same truth (and protocol, dataset and category where given):
    otherwise they come from different test files and ValueError says where they differ. Returns ``n``, both
    accuracies (fractions), the four cells of the paired table (``both_correct``, ``only_a``, ``only_b``,
    ``neither``; ``only_a`` is McNemar's b and ``only_b`` its c), ``statistic``, ``p_value``, ``exact`` and ``test``.
    """
    a = _by_index(records_a, "records_a")
    b = _by_index(records_b, "records_b")
    if a.keys() != b.keys():
        only_a = sorted(a.keys() - b.keys())
        only_b = sorted(b.keys() - a.keys())
        raise ValueError(
            f"the records come from different test files: {len(only_a)} indices only in records_a "
            f"(e.g. {only_a[:5]}), {len(only_b)} only in records_b (e.g. {only_b[:5]})"
        )
    indices = sorted(a)
    for index in indices:
        for key in ("truth", "protocol", "dataset", "category"):
            if key in a[index] and key in b[index] and a[index][key] != b[index][key]:
                raise ValueError(
                    f"the records come from different test files: index {index} has {key} "
                    f"{a[index][key]!r} in records_a and {b[index][key]!r} in records_b"
                )
    correct_a = [a[i]["predicted"] is not None and a[i]["predicted"] == a[i]["truth"] for i in indices]
    correct_b = [b[i]["predicted"] is not None and b[i]["predicted"] == b[i]["truth"] for i in indices]
    result = mcnemar(correct_a, correct_b)
    both = sum(x and y for x, y in zip(correct_a, correct_b, strict=True))
    return {
        "n": len(indices),
        "accuracy_a": sum(correct_a) / len(indices),
        "accuracy_b": sum(correct_b) / len(indices),
        "both_correct": both,
        "only_a": result.b,
        "only_b": result.c,
        "neither": len(indices) - both - result.b - result.c,
        "statistic": result.statistic,
        "p_value": result.p_value,
        "exact": result.exact,
        "test": "exact binomial" if result.exact else "chi-square, continuity-corrected",
    }


# ------------------------------------------------------------------------------------------------------------ runs
@dataclass
class Run:
    """One metrics file, with what the report derives from it (and from its records, when given)."""

    name: str  # unique display name
    slug: str  # unique file-name part
    metrics: dict[str, Any]
    dataset: str | None
    records: list[dict[str, Any]] | None = None
    category_ci: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)  # in percent

    @property
    def protocol(self) -> str:
        return self.metrics["protocol"]

    @property
    def test_file(self) -> str:
        return str(self.metrics["test_file"])

    @property
    def overall(self) -> Mapping[str, Any]:
        return self.metrics["overall"]

    @property
    def by_category(self) -> Mapping[str, Mapping[str, Any]]:
        return {key: value for key, value in self.metrics["by_category"].items() if key != OVERALL}

    def scores(self, group: str) -> Mapping[str, Any] | None:
        """The scores of column group ``group``: the whole set for "overall" or our dataset, else a category."""
        if group == OVERALL_GROUP or (self.dataset is not None and group == self.dataset):
            return self.overall
        return self.by_category.get(group)

    def interval(self, group: str, metric: str) -> tuple[float, float] | None:
        """The 95% interval in percent of ``metric`` over ``group``, when the metrics file or records give one."""
        if metric not in CI_METRICS:
            return None
        if group == OVERALL_GROUP or (self.dataset is not None and group == self.dataset):
            raw = (self.metrics.get("ci") or {}).get(metric)
            low, high = (None, None) if raw is None else (_finite(raw[0]), _finite(raw[1]))
            if low is not None and high is not None:
                return 100 * low, 100 * high
            group = OVERALL  # else the records' interval, when records were given
        return self.category_ci.get(group, {}).get(metric)


def _infer_dataset(metrics: Mapping[str, Any], records: Sequence[Mapping[str, Any]] | None) -> str | None:
    if metrics.get("dataset") in DATASETS:
        return metrics["dataset"]
    if records:
        names = {record.get("dataset") for record in records}
        if len(names) == 1 and next(iter(names)) in DATASETS:
            return next(iter(names))
    categories = {category for category in metrics["by_category"] if category != OVERALL}
    matches = [name for name, members in DATASETS.items() if categories and categories <= set(members)]
    return matches[0] if len(matches) == 1 else None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._").lower() or "run"


def _statistics(labels: list[str], positive: str | None) -> dict[str, Callable[[list[Mapping[str, Any]]], float]]:
    def truth_predicted(records: list[Mapping[str, Any]]) -> tuple[list[str], list[str | None]]:
        return [r["truth"] for r in records], [r["predicted"] for r in records]

    def acc(records: list[Mapping[str, Any]]) -> float:
        return accuracy(*truth_predicted(records))

    def macro(records: list[Mapping[str, Any]]) -> float:
        return macro_f1(confusion_matrix(*truth_predicted(records), labels), labels)

    statistics = {"accuracy": acc, "macro_f1": macro}
    if positive is not None:

        def f1(records: list[Mapping[str, Any]]) -> float:
            return f1_score(confusion_matrix(*truth_predicted(records), labels), labels, positive)

        statistics["f1_positive"] = f1
    return statistics


def _category_intervals(run: Run, n_resamples: int, seed: int) -> dict[str, dict[str, tuple[float, float]]]:
    """Bootstrap intervals in percent per category from the records; for the whole set (under "overall") only
    those the metrics file lacks."""
    assert run.records is not None
    labels = list(run.overall["labels"])
    statistics = _statistics(labels, run.overall["positive"])
    groups: dict[str, list[Mapping[str, Any]]] = {OVERALL: list(run.records)}
    for record in run.records:
        groups.setdefault(str(record["category"]), []).append(record)
    given = {
        name
        for name, raw in (run.metrics.get("ci") or {}).items()
        if raw is not None and _finite(raw[0]) is not None and _finite(raw[1]) is not None
    }
    intervals: dict[str, dict[str, tuple[float, float]]] = {}
    for group, members in groups.items():
        intervals[group] = {}
        for metric, statistic in statistics.items():
            if group == OVERALL and metric in given:
                continue  # the metrics file's interval is the one shown
            low, high = bootstrap_ci(members, statistic, n_resamples=n_resamples, seed=seed)
            if not (math.isnan(low) or math.isnan(high)):
                intervals[group][metric] = (100 * low, 100 * high)
    return intervals


def make_runs(
    metrics: Sequence[Mapping[str, Any]],
    records: Sequence[Sequence[Mapping[str, Any]] | None] | None = None,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
) -> list[Run]:
    """Check the metrics dicts (one protocol), pair each with its records by position, and name the runs."""
    if not metrics:
        raise ValueError("no metrics to report")
    metrics = [validate_metrics(m, f"metrics #{i}") for i, m in enumerate(metrics)]
    protocols = sorted({m["protocol"] for m in metrics})
    if len(protocols) != 1:
        raise ValueError(f"one report covers one protocol, got {protocols}")
    if records is not None and len(records) != len(metrics):
        raise ValueError(f"got {len(records)} record lists for {len(metrics)} metrics files; pair them one to one")
    record_lists: list[list[dict[str, Any]] | None] = (
        [None] * len(metrics) if records is None else [None if r is None else [dict(x) for x in r] for r in records]
    )
    for i, (m, rs) in enumerate(zip(metrics, record_lists, strict=True)):
        if rs is not None and len(rs) != m["overall"]["n"]:
            raise ValueError(
                f"records #{i} hold {len(rs)} samples but metrics #{i} ({m['model']}) report n={m['overall']['n']}"
            )
        if rs is not None and any(r.get("protocol", m["protocol"]) != m["protocol"] for r in rs):
            raise ValueError(f"records #{i} are not all of protocol {m['protocol']!r}")

    models = [str(m["model"]) for m in metrics]
    names = []
    for m, model in zip(metrics, models, strict=True):
        names.append(f"{model} ({Path(str(m['test_file'])).stem})" if models.count(model) > 1 else model)
    for i, name in enumerate(names):
        if names.count(name) > 1:
            names[i] = f"{name} #{i + 1}"
    slugs: list[str] = []
    for name in names:
        slug = _slug(name)
        while slug in slugs:
            slug += "-"
        slugs.append(slug)

    runs = []
    for m, rs, name, slug in zip(metrics, record_lists, names, slugs, strict=True):
        run = Run(name=name, slug=slug, metrics=m, dataset=_infer_dataset(m, rs), records=rs)
        if rs:
            run.category_ci = _category_intervals(run, n_resamples, seed)
        runs.append(run)
    return runs


# ---------------------------------------------------------------------------------------------------------- tables
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


def _our_cell(run: Run, group: str, metric: str, decimals: int) -> Cell:
    scores = run.scores(group)
    spec = f".{decimals}f"
    if scores is None or metric == "accuracy_gain":
        return Cell(None, spec=spec)
    if metric == "mean_reasoning_length":
        return Cell(_finite(scores["mean_think_words"]), spec=".1f")
    value = _finite(scores[metric])
    if value is None:
        return Cell(None, spec=spec)
    interval = run.interval(group, metric)
    low, high = interval if interval is not None else (None, None)
    return Cell(100 * value if metric in _PERCENT_METRICS else value, low, high, spec)


def _published_source(table: PublishedTable) -> str:
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
            key = [row.model] + ([row.extra.get(extra_key, "")] if extra_key else []) + [_published_source(table)]
            rows.append(key + [Cell(v, spec=s) for v, s in zip(values, specs, strict=True)])
    for run in runs:
        key = [run.name] + (["–"] if extra_key else []) + [_our_source(run)]
        rows.append(key + [_our_cell(run, group, metric, decimals) for group, metric, _ in columns])
    notes = [note for table in tables for note in table.notes] + _OUR_NOTES
    intro = [line for table in tables for line in _source_intro(table)]
    return ReportTable(name=name, title=title, headers=headers, rows=rows, intro=intro, notes=notes)


def _categories_as_rows(table: PublishedTable, runs: Sequence[Run]) -> ReportTable:
    """LR-IAD Tables V / VI: objects as rows, each published method and each run as a pair of columns."""
    categories = list(table.groups) + sorted({c for run in runs for c in run.by_category} - set(table.groups))
    metrics = table.columns[0].metrics
    headers = ["Object"]
    for row in table.rows:
        headers += [f"{row.model} {METRIC_LABELS[m]}, {_published_source(table)}" for m in metrics]
    for run in runs:
        headers += [f"{run.name} {METRIC_LABELS[m]}" for m in metrics]
    rows: list[list[str | Cell]] = []
    for category in [*categories, OVERALL_GROUP]:
        line: list[str | Cell] = [category]
        for row in table.rows:
            line += [Cell(row.get(category, m), spec=f".{table.decimals}f") for m in metrics]
        for run in runs:
            line += [_our_cell(run, category, m, table.decimals) for m in metrics]
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
        for dataset, key in _TABLE_LAYOUT.items():
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
        value = _finite(scores[metric])
        interval = run.interval(group, metric)
        low, high = interval if interval is not None else (None, None)
        cells.append(Cell(None if value is None else 100 * value, low, high, ".1f"))
    balance, rate, words = (_finite(scores[k]) for k in ("balance_score", "format_rate", "mean_think_words"))
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


def build_tables(runs: Sequence[Run]) -> list[ReportTable]:
    """Every table of the report: runs, the papers' layouts, per category, paired comparisons."""
    tables = [_runs_table(runs), *_paper_tables(runs), *(_per_category_table(run) for run in runs)]
    paired, _ = _paired_table(runs)
    if paired is not None:
        tables.append(paired)
    return tables


# ----------------------------------------------------------------------------------------------------------- plots
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
    acc = _finite(run.overall["accuracy"])
    accuracy_text = "n/a" if acc is None else f"{acc:.1%}"
    axes.set_title(f"{run.name}\n{run.protocol}, n={run.overall['n']}, accuracy {accuracy_text}", fontsize=10)
    figure.colorbar(image, ax=axes, label="share of the true class")
    return _png(figure)


def _published_category_tables(protocol: str) -> list[PublishedTable]:
    keys = {
        "pair-binary": ["lad_reasoner_table1"],
        "single-ab": list(_TABLE_LAYOUT.values()),
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
            cell = _our_cell(run, group, "accuracy", 2)
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
                label = f"{row.model}, {_published_source(table)}"
                axes.scatter(xs, ys, marker=next(markers, "x"), color="black", zorder=3, s=22, label=label)
    crowded = len(positions) > 6 or max(len(group) for group in positions) > 10
    axes.set_xticks(x, positions, rotation=30 if crowded else 0, ha="right" if crowded else "center")
    axes.set_ylim(0, 100)
    axes.set_ylabel("accuracy (%)")
    axes.set_title(f"Per-category accuracy ({runs[0].protocol})", fontsize=10)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes.grid(axis="y", alpha=0.3)
    return _png(figure)


# ---------------------------------------------------------------------------------------------------------- output
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
    records_paths: list[Path] | None = None,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
) -> list[Path]:
    """Write ``report.md``, one CSV per table and the PNG plots into ``out_dir``; returns the written paths.

    ``records_paths``, when given, pairs one records JSONL with each metrics file, in the same order; the records
    add per-category bootstrap intervals (``n_resamples`` resamples, ``seed``) and McNemar's test between runs on
    the same test file.
    """
    if records_paths is not None and len(records_paths) != len(metrics_paths):
        raise ValueError(f"got {len(records_paths)} records files for {len(metrics_paths)} metrics files")
    metrics = [load_metrics(path) for path in metrics_paths]
    records = None if records_paths is None else [load_records(path) for path in records_paths]
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
