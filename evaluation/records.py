"""An evaluation's files read one way: the per-sample records (``records.jsonl``) and the metrics (``metrics.json``).

The runner appends records batch by batch and resumes a killed run from them; the report and the learning check
read them back. One reader serves all: a torn last line (a run killed mid-write) is ignored, or cut off the file
when the runner resumes; any other line that is not a record is an error naming the line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from data_prep.prompts import PROMPTS

RECORDS: Final = "records.jsonl"
METRICS: Final = "metrics.json"
RUN_INFO: Final = "run.json"
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
RECORD_KEYS: Final = ("index", "truth", "predicted", "category")


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


def read_records(path: Path, *, cut_torn_tail: bool = False) -> list[dict[str, Any]]:
    """The records of ``path`` (none when it does not exist). A last line without its newline or not JSON is a torn
    write and is left out (with ``cut_torn_tail``, also cut off the file, so appending continues cleanly)."""
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    tail = lines.pop()  # after the last newline: b"" unless the last write was torn
    records, good_bytes = [], 0
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line) if line.strip() else None
        except json.JSONDecodeError as error:
            if number == len(lines) and not tail:
                tail = line  # the last complete-looking line is torn: a crash between write and newline
                break
            raise ValueError(f"{path}, line {number}: not valid JSON: {error}") from error
        good_bytes += len(line) + 1
        if record is None:
            continue
        missing = [key for key in RECORD_KEYS if not isinstance(record, Mapping) or key not in record]
        if missing:
            raise ValueError(f"{path}, line {number}: the record lacks {missing}")
        records.append(record)
    if tail and cut_torn_tail:
        with path.open("r+b") as handle:
            handle.truncate(good_bytes)
    return records
