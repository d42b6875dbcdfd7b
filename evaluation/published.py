"""The three papers' published results, loaded from ``published.yaml`` and checked: the one place they live.

``load_published()`` returns every table as a ``PublishedTable``; ``tables_for(protocol)`` those a protocol's
report compares against. A malformed file raises ``PublishedDataError`` naming the table, row and field.

Numbers are kept as the papers print them: percentages (0-100, ``PublishedTable.unit``), except
``accuracy_gain`` (percentage points, may be negative) and ``mean_reasoning_length`` (a length, unit unstated).
``None`` is a number the paper does not give; the row's ``note`` says why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import yaml

from data_prep.catalog import DATASETS
from data_prep.prompts import PROTOCOLS

PUBLISHED_YAML: Final = Path(__file__).with_name("published.yaml")
OVERALL_GROUP: Final = "overall"
UNITS: Final = ("percent",)
ROLES: Final = ("base", "method", "ablation", "baseline")
ORIENTATIONS: Final = ("models_as_rows", "categories_as_rows")

# Each metric a table may hold, the closed range of its values, and its name in ``evaluation.metrics.Metrics``
# (scaled by 100 for the percentages) where our runs report it.
METRIC_RANGES: Final = MappingProxyType(
    {
        "accuracy": (0.0, 100.0),
        "f1_positive": (0.0, 100.0),
        "macro_f1": (0.0, 100.0),
        "balance_score": (0.0, 100.0),
        "accuracy_gain": (-100.0, 100.0),
        "mean_reasoning_length": (0.0, math.inf),
    }
)
METRIC_LABELS: Final = MappingProxyType(
    {
        "accuracy": "Acc.",
        "f1_positive": "F1",
        "macro_f1": "F1-macro",
        "balance_score": "BS",
        "accuracy_gain": "Acc. gain",
        "mean_reasoning_length": "Avg. length",
    }
)

_TABLE_KEYS: Final = frozenset(
    {
        "key",
        "paper",
        "citation",
        "table",
        "caption",
        "description",
        "protocol",
        "datasets",
        "unit",
        "decimals",
        "paper_orientation",
        "setting",
        "notes",
        "columns",
        "rows",
    }
)
_REQUIRED_TABLE_KEYS: Final = _TABLE_KEYS - {"caption", "setting", "notes"}
_COLUMN_KEYS: Final = frozenset({"group", "label", "metrics"})
_ROW_KEYS: Final = frozenset({"model", "role", "values", "extra", "note"})
_REQUIRED_ROW_KEYS: Final = frozenset({"model", "role", "values"})


class PublishedDataError(ValueError):
    """``published.yaml`` is malformed; the message names the table, row and field."""


@dataclass(frozen=True)
class Column:
    """One column group of a table: ``group`` is ``"overall"``, a category or a dataset key."""

    group: str
    label: str
    metrics: tuple[str, ...]


@dataclass(frozen=True)
class PublishedRow:
    """One model's numbers: ``values[group][metric]``, None where the paper gives none."""

    model: str
    role: str
    values: Mapping[str, Mapping[str, float | None]]
    extra: Mapping[str, str] = field(default_factory=dict)
    note: str | None = None

    def get(self, group: str, metric: str) -> float | None:
        """The number in column ``group`` for ``metric``; None when the paper gives none or has no such column."""
        return self.values.get(group, {}).get(metric)


@dataclass(frozen=True)
class PublishedTable:
    """One published table with its source; ``columns`` and ``rows`` in the paper's order."""

    key: str
    paper: str
    citation: str
    table: str
    caption: str | None
    description: str
    protocol: str
    datasets: tuple[str, ...]
    unit: str
    decimals: int
    paper_orientation: str
    setting: str | None
    notes: tuple[str, ...]
    columns: tuple[Column, ...]
    rows: tuple[PublishedRow, ...]

    @property
    def source(self) -> str:
        """Paper and table, e.g. ``"LAD-Reasoner, Table 1"``."""
        return f"{self.paper}, {self.table}"

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(column.group for column in self.columns)

    def column(self, group: str) -> Column:
        for column in self.columns:
            if column.group == group:
                return column
        raise KeyError(f"{self.source} has no column group {group!r}; it has {list(self.groups)}")

    def row(self, model: str) -> PublishedRow:
        for row in self.rows:
            if row.model == model:
                return row
        raise KeyError(f"{self.source} has no row {model!r}; it has {[row.model for row in self.rows]}")

    def rows_with_role(self, role: str) -> tuple[PublishedRow, ...]:
        return tuple(row for row in self.rows if row.role == role)


def _fail(where: str, message: str) -> PublishedDataError:
    return PublishedDataError(f"published.yaml, {where}: {message}")


def _text(value: Any, where: str, name: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, f"{name} must be a non-empty string, got {value!r}")
    return value.strip()


def _check_keys(mapping: Any, allowed: frozenset[str], required: frozenset[str], where: str) -> Mapping[str, Any]:
    if not isinstance(mapping, Mapping):
        raise _fail(where, f"expected a mapping, got {type(mapping).__name__}")
    unknown = sorted(set(mapping) - allowed)
    missing = sorted(required - set(mapping))
    if unknown or missing:
        raise _fail(where, f"unknown fields {unknown}, missing fields {missing}")
    return mapping


def _number(value: Any, metric: str, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(where, f"{metric} must be a number or null, got {value!r}")
    number = float(value)
    low, high = METRIC_RANGES[metric]
    if not math.isfinite(number) or not low <= number <= high:
        raise _fail(where, f"{metric} = {value!r} lies outside [{low}, {high}]")
    return number


def _parse_column(raw: Any, datasets: tuple[str, ...], where: str) -> Column:
    raw = _check_keys(raw, _COLUMN_KEYS, _COLUMN_KEYS, where)
    group = _text(raw["group"], where, "group")
    valid = {OVERALL_GROUP, *datasets, *(category for dataset in datasets for category in DATASETS[dataset])}
    if group not in valid:
        raise _fail(where, f"group {group!r} is not 'overall', a dataset of {list(datasets)} or one of its categories")
    metrics = raw["metrics"]
    if not isinstance(metrics, list) or not metrics:
        raise _fail(where, f"metrics must be a non-empty list, got {metrics!r}")
    unknown = [metric for metric in metrics if metric not in METRIC_RANGES]
    if unknown or len(set(metrics)) != len(metrics):
        raise _fail(where, f"metrics {metrics} repeat or are not among {list(METRIC_RANGES)}")
    return Column(group=group, label=_text(raw["label"], where, "label"), metrics=tuple(metrics))


def _parse_row(raw: Any, columns: tuple[Column, ...], where: str) -> PublishedRow:
    raw = _check_keys(raw, _ROW_KEYS, _REQUIRED_ROW_KEYS, where)
    model = _text(raw["model"], where, "model")
    where = f"{where} ({model})"
    role = raw["role"]
    if role not in ROLES:
        raise _fail(where, f"role {role!r} is not one of {list(ROLES)}")
    note = _text(raw.get("note"), where, "note", optional=True)
    extra = raw.get("extra") or {}
    if not isinstance(extra, Mapping) or not all(isinstance(v, str) for v in extra.values()):
        raise _fail(where, f"extra must map names to strings, got {extra!r}")
    values = raw["values"]
    if not isinstance(values, Mapping):
        raise _fail(where, f"values must be a mapping of column groups, got {values!r}")
    expected = [column.group for column in columns]
    if sorted(values) != sorted(expected):
        raise _fail(where, f"values have groups {sorted(values)}, the columns are {sorted(expected)}")
    parsed: dict[str, Mapping[str, float | None]] = {}
    for column in columns:
        cells = values[column.group]
        if not isinstance(cells, list) or len(cells) != len(column.metrics):
            raise _fail(where, f"group {column.group!r} needs {len(column.metrics)} values {column.metrics}: {cells!r}")
        numbers = {
            metric: _number(cell, metric, f"{where}, {column.group}")
            for metric, cell in zip(column.metrics, cells, strict=True)
        }
        parsed[column.group] = MappingProxyType(numbers)
    if note is None and any(value is None for cells in parsed.values() for value in cells.values()):
        raise _fail(where, "a null number needs a note saying why the paper gives none")
    if all(value is None for cells in parsed.values() for value in cells.values()):
        raise _fail(where, "every number is null")
    return PublishedRow(
        model=model, role=role, values=MappingProxyType(parsed), extra=MappingProxyType(dict(extra)), note=note
    )


def _parse_table(raw: Any, position: int) -> PublishedTable:
    where = f"table #{position}"
    if isinstance(raw, Mapping) and isinstance(raw.get("key"), str):
        where = f"table {raw['key']!r}"
    raw = _check_keys(raw, _TABLE_KEYS, _REQUIRED_TABLE_KEYS, where)
    key = _text(raw["key"], where, "key")
    protocol = raw["protocol"]
    if protocol not in PROTOCOLS:
        raise _fail(where, f"protocol {protocol!r} is not one of {list(PROTOCOLS)}")
    datasets = raw["datasets"]
    if not isinstance(datasets, list) or not datasets or any(d not in DATASETS for d in datasets):
        raise _fail(where, f"datasets must be a non-empty list of {list(DATASETS)}, got {datasets!r}")
    if raw["unit"] not in UNITS:
        raise _fail(where, f"unit {raw['unit']!r} is not one of {list(UNITS)}")
    decimals = raw["decimals"]
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 4:
        raise _fail(where, f"decimals must be an integer in [0, 4], got {decimals!r}")
    if raw["paper_orientation"] not in ORIENTATIONS:
        raise _fail(where, f"paper_orientation {raw['paper_orientation']!r} is not one of {list(ORIENTATIONS)}")
    notes = raw.get("notes") or []
    if not isinstance(notes, list):
        raise _fail(where, f"notes must be a list, got {notes!r}")
    raw_columns = raw["columns"]
    if not isinstance(raw_columns, list) or not raw_columns:
        raise _fail(where, "columns must be a non-empty list")
    columns = tuple(
        _parse_column(column, tuple(datasets), f"{where}, column #{i}") for i, column in enumerate(raw_columns)
    )
    groups = [column.group for column in columns]
    if len(set(groups)) != len(groups):
        raise _fail(where, f"column groups repeat: {groups}")
    raw_rows = raw["rows"]
    if not isinstance(raw_rows, list) or not raw_rows:
        raise _fail(where, "rows must be a non-empty list")
    rows = tuple(_parse_row(row, columns, f"{where}, row #{i}") for i, row in enumerate(raw_rows))
    models = [row.model for row in rows]
    duplicated = sorted({model for model in models if models.count(model) > 1})
    if duplicated:
        raise _fail(where, f"rows repeat: {duplicated}")
    return PublishedTable(
        key=key,
        paper=_text(raw["paper"], where, "paper"),
        citation=" ".join(_text(raw["citation"], where, "citation").split()),
        table=_text(raw["table"], where, "table"),
        caption=_text(raw.get("caption"), where, "caption", optional=True),
        description=" ".join(_text(raw["description"], where, "description").split()),
        protocol=protocol,
        datasets=tuple(datasets),
        unit=raw["unit"],
        decimals=decimals,
        paper_orientation=raw["paper_orientation"],
        setting=_text(raw.get("setting"), where, "setting", optional=True),
        notes=tuple(" ".join(_text(note, where, "note").split()) for note in notes),
        columns=columns,
        rows=rows,
    )


def parse_published(document: Any) -> dict[str, PublishedTable]:
    """Validate a parsed ``published.yaml`` document and return its tables by key, in file order."""
    if not isinstance(document, Mapping) or set(document) != {"tables"} or not isinstance(document["tables"], list):
        raise PublishedDataError("published.yaml must be a mapping with one key, 'tables', holding a list")
    tables: dict[str, PublishedTable] = {}
    for position, raw in enumerate(document["tables"]):
        table = _parse_table(raw, position)
        if table.key in tables:
            raise _fail(f"table {table.key!r}", "the key repeats")
        sources = {other.source for other in tables.values()}
        if table.source in sources:
            raise _fail(f"table {table.key!r}", f"{table.source} is already transcribed")
        tables[table.key] = table
    return tables


@cache
def _load(path: Path) -> MappingProxyType[str, PublishedTable]:
    with path.open(encoding="utf-8") as handle:
        try:
            document = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise PublishedDataError(f"{path} is not valid YAML: {error}") from error
    return MappingProxyType(parse_published(document))


def load_published(path: Path | None = None) -> Mapping[str, PublishedTable]:
    """Every published table by key (``lad_reasoner_table1``, ``lr_iad_table3`` ...), read once and cached."""
    return _load(Path(path or PUBLISHED_YAML).resolve())


def tables_for(protocol: str, path: Path | None = None) -> tuple[PublishedTable, ...]:
    """The tables reported under ``protocol``, in file order."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; valid: {list(PROTOCOLS)}")
    return tuple(table for table in load_published(path).values() if table.protocol == protocol)
