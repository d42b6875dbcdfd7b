"""A run of the report: its metrics file, its records when given, and what the report derives from them."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from data_prep.catalog import DATASETS
from evaluation.metrics import (
    OVERALL,
    bootstrap_ci,
    finite,
    record_statistics,
)
from evaluation.published import OVERALL_GROUP
from evaluation.records import validate_metrics

CI_METRICS: Final = ("accuracy", "f1_positive", "macro_f1")  # the intervals a metrics file carries


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
            low, high = (None, None) if raw is None else (finite(raw[0]), finite(raw[1]))
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


def _category_intervals(run: Run, n_resamples: int, seed: int) -> dict[str, dict[str, tuple[float, float]]]:
    """Bootstrap intervals in percent per category from the records; for the whole set (under "overall") only
    those the metrics file lacks."""
    assert run.records is not None
    labels = list(run.overall["labels"])
    statistics = record_statistics(labels, run.overall["positive"])
    groups: dict[str, list[Mapping[str, Any]]] = {OVERALL: list(run.records)}
    for record in run.records:
        groups.setdefault(str(record["category"]), []).append(record)
    given = {
        name
        for name, raw in (run.metrics.get("ci") or {}).items()
        if raw is not None and finite(raw[0]) is not None and finite(raw[1]) is not None
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
