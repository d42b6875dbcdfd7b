"""MMAD's scores: the official table to the last digit, a strict variant, and the detection metrics beside them.

``official_table`` reimplements ``caculate_accuracy_mmad`` of MMAD's ``evaluation/examples/helper/summary.py``
bug for bug, so that a file of answers gives the published numbers exactly:

- rows are datasets (an image path's first component) and columns tasks (Object Structure and Object Details
  scored together as Object Analysis), both in the order they first appear in the file;
- an answer whose ``gpt_answer`` or ``correct_answer`` is not a letter A-E is dropped, not counted wrong; the script
  drops it with ``list.remove`` while iterating that same list, so the answer after each dropped one is skipped
  too (``Scores.skipped`` counts those);
- Anomaly Detection is the mean of the accuracy on images whose path contains ``good`` and on the others; a task
  with no questions in a dataset scores 0 and counts in the averages; a dataset's Average is the mean over its
  task columns, the last row the mean over the datasets; percentages, unrounded.

``strict_table`` is the same table with every answer counted (an unparsable answer is wrong), rows and columns in
the published order. ``detection_table`` gives each dataset's Anomaly Detection recall, precision, F1 (the anomalous
image is the positive), overkill and miss, as the published CSVs list them after the Average.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Final

import pandas as pd

from data_prep.mmad_facts import (
    ANOMALY_DETECTION,
    AVERAGE,
    LETTERS,
    NORMAL_FLAG,
    QUERY_DATASETS,
    TASK_COLUMNS,
    scored_task,
)
from data_prep.outputs import write_atomic
from rewards.parsing import parse_response

ANSWER_KEYS: Final = ("image", "question_type", "gpt_answer", "correct_answer")
DETECTION_COLUMNS: Final = ("Recall", "Precision", "F1", "Overkill", "Miss")
_LETTER: Final = re.compile(r"\b([A-E])\b")


class MMADScoreError(ValueError):
    """An answers file that is not in the official format; the message says what is wrong."""


@dataclass(frozen=True)
class Scores:
    """The official table and what it left out."""

    table: pd.DataFrame
    dropped: int  # answers whose letter (given or correct) is not A-E
    skipped: int  # valid answers the official loop never looked at (each right after a dropped one)


def parse_letter(response: str, options: Mapping[str, str] | None = None) -> str:
    """MMAD's answer parsing (``parse_answer`` of its example scripts): the last standalone capital A-E; without
    one, the letter of the option text closest to the response (difflib); without options, the response itself
    (which the scorer then drops)."""
    letters = _LETTER.findall(response)
    if letters:
        return letters[-1]
    if options:
        closest = get_close_matches(response, list(options.values()), n=1, cutoff=0.0)
        if closest:
            return next(key for key, value in options.items() if value == closest[0])
    return response


def mmad_answer(response: str, options: Sequence[tuple[str, str]]) -> str:
    """What MMAD's parser reads in ``response``: the answer block of a well-formed response (``--mmad-prompt r1``),
    else the whole response, as the official script reads a letter-only answer."""
    parsed = parse_response(response)
    text = parsed.answer if parsed.format_ok and parsed.answer else response
    return parse_letter(text, dict(options))


def answers_from_records(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Evaluation records of an mmad test file, in the official answers format."""
    return [
        {
            "image": record["image"],
            "question_type": record["task"],
            "gpt_answer": record["mmad_answer"],
            "correct_answer": record["truth"],
        }
        for record in records
    ]


def read_answers(path: Path) -> list[dict[str, Any]]:
    """An answers file in MMAD's format: a JSON list of objects with ``image``, ``question_type``, ``gpt_answer``
    and ``correct_answer`` (others, such as ``question``, are allowed and ignored)."""
    try:
        answers = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise MMADScoreError(f"cannot read {path} as JSON: {error}") from error
    if not isinstance(answers, list):
        raise MMADScoreError(f"{path}: expected a JSON list of answers (MMAD's answers_<k>_shot_<model>.json)")
    for position, answer in enumerate(answers):
        missing = [key for key in ANSWER_KEYS if not isinstance(answer, dict) or key not in answer]
        if missing:
            raise MMADScoreError(f"{path}: answer {position} lacks {', '.join(missing)}; each needs {ANSWER_KEYS}")
        if not isinstance(answer["image"], str) or "/" not in answer["image"]:
            raise MMADScoreError(f"{path}: answer {position}: image {answer['image']!r} is not an MMAD image path")
    return answers


def _accuracy(correct: int, total: int) -> float:
    return correct / total if total != 0 else 0


class _Tally:
    """Answers counted per (dataset, task), and Anomaly Detection's per (dataset, normal | abnormal)."""

    def __init__(self, datasets: Sequence[str], tasks: Sequence[str]) -> None:
        self.datasets, self.tasks = list(datasets), list(tasks)
        self.counts = {(dataset, task): [0, 0] for dataset in datasets for task in tasks}
        self.detection = {(dataset, kind): [0, 0] for dataset in datasets for kind in ("normal", "abnormal")}

    def add(self, answer: Mapping[str, Any], right: bool) -> None:
        dataset, task = answer["image"].split("/")[0], scored_task(answer["question_type"])
        self.counts[dataset, task][0] += 1
        self.counts[dataset, task][1] += right
        if task == ANOMALY_DETECTION:
            kind = "normal" if NORMAL_FLAG in answer["image"] else "abnormal"
            self.detection[dataset, kind][0] += 1
            self.detection[dataset, kind][1] += right

    def normal_anomaly(self, dataset: str) -> tuple[float, float]:
        """Anomaly Detection's accuracy on the dataset's normal and on its anomalous images."""
        return tuple(_accuracy(*reversed(self.detection[dataset, kind])) for kind in ("normal", "abnormal"))

    def table(self) -> pd.DataFrame:
        """summary.py's arithmetic, cell by cell (the same operations, so the same floats), and the Average column."""
        table = pd.DataFrame(index=self.datasets)
        for dataset in self.datasets:
            for task in self.tasks:
                total, correct = self.counts[dataset, task]
                table.at[dataset, task] = _accuracy(correct, total) * 100
                if task == ANOMALY_DETECTION:
                    normal_acc, anomaly_acc = self.normal_anomaly(dataset)
                    table.at[dataset, ANOMALY_DETECTION] = (normal_acc + anomaly_acc) / 2 * 100
        table[AVERAGE] = table.mean(axis=1)
        return table


def official_table(answers: Sequence[Mapping[str, Any]], *, overkill_miss: bool = False) -> Scores:
    """``caculate_accuracy_mmad(answers, show_overkill_miss=overkill_miss)``'s table (see the module doc)."""
    answers = [dict(answer) for answer in answers]  # the loop below removes from the list it iterates, as the script
    original = len(answers)
    tally = _Tally(
        list(dict.fromkeys(answer["image"].split("/")[0] for answer in answers)),
        list(dict.fromkeys(scored_task(answer["question_type"]) for answer in answers)),
    )
    seen = 0
    for answer in answers:
        seen += 1
        if answer["correct_answer"] not in LETTERS or answer["gpt_answer"] not in LETTERS:
            answers.remove(answer)
            continue
        tally.add(answer, answer["correct_answer"] == answer["gpt_answer"])
    table = tally.table()
    if overkill_miss:
        for dataset in tally.datasets:
            normal_acc, anomaly_acc = tally.normal_anomaly(dataset)
            table.at[dataset, "Overkill"] = (1 - normal_acc) * 100
            table.at[dataset, "Miss"] = (1 - anomaly_acc) * 100
    table.loc[AVERAGE] = table.mean()
    dropped = original - len(answers)
    return Scores(table=table, dropped=dropped, skipped=original - seen)


def _ordered(names: Iterable[str], canonical: Sequence[str]) -> list[str]:
    names = list(dict.fromkeys(names))
    return [name for name in canonical if name in names] + [name for name in names if name not in canonical]


def strict_table(answers: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The official table's arithmetic with every answer counted: one that is not a letter A-E is wrong."""
    tally = _Tally(
        _ordered((answer["image"].split("/")[0] for answer in answers), QUERY_DATASETS),
        _ordered((scored_task(answer["question_type"]) for answer in answers), TASK_COLUMNS),
    )
    for answer in answers:
        tally.add(answer, answer["gpt_answer"] in LETTERS and answer["gpt_answer"] == answer["correct_answer"])
    table = tally.table()
    table.loc[AVERAGE] = table.mean()
    return table


def detection_table(answers: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Per dataset, Anomaly Detection as a binary decision (anomalous = positive), in percent: recall (the
    accuracy on anomalous images), precision, F1, overkill (normal images called anomalous) and miss; every
    answer counted, an unparsable one wrong. The last row averages the datasets, as the published CSVs do."""
    counts: dict[str, dict[str, int]] = {}
    for answer in answers:
        if scored_task(answer["question_type"]) != ANOMALY_DETECTION:
            continue
        dataset = answer["image"].split("/")[0]
        tally = counts.setdefault(dataset, {"tp": 0, "fn": 0, "tn": 0, "fp": 0})
        right = answer["gpt_answer"] in LETTERS and answer["gpt_answer"] == answer["correct_answer"]
        if NORMAL_FLAG in answer["image"]:
            tally["tn" if right else "fp"] += 1
        else:
            tally["tp" if right else "fn"] += 1
    rows = {}
    for dataset in _ordered(counts, QUERY_DATASETS):
        tp, fn, tn, fp = (counts[dataset][key] for key in ("tp", "fn", "tn", "fp"))
        recall, precision = _accuracy(tp, tp + fn), _accuracy(tp, tp + fp)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows[dataset] = [recall * 100, precision * 100, f1 * 100, _accuracy(fp, fp + tn) * 100, (1 - recall) * 100]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(DETECTION_COLUMNS), dtype=float)
    if len(table):
        table.loc[AVERAGE] = table.mean()
    return table


PUBLISHED_DIR: Final = Path(__file__).with_name("mmad_published")


def published_rows() -> dict[str, pd.DataFrame]:
    """The published MMAD tables (``evaluation/mmad_published``), by ``<k>_shot_<model>``."""
    tables = {}
    for path in sorted(PUBLISHED_DIR.glob("*.csv")):
        table = pd.read_csv(path, index_col=0)
        missing = [column for column in (*TASK_COLUMNS, AVERAGE) if column not in table.columns]
        if missing or list(table.index) != [*QUERY_DATASETS, AVERAGE]:
            raise MMADScoreError(f"{path}: not a published MMAD table (missing {missing} or rows {list(table.index)})")
        tables[path.stem] = table
    return tables


def overall_rows(ours: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per model (``ours`` first, then the published ones): each dataset's Average and the overall one."""
    rows = dict(ours) | {f"{name} (published)": table for name, table in published_rows().items()}
    columns = [*QUERY_DATASETS, AVERAGE]

    def cell(table: pd.DataFrame, row: str) -> float:
        return float(table.at[row, AVERAGE]) if row in table.index else float("nan")

    return pd.DataFrame({name: [cell(table, row) for row in columns] for name, table in rows.items()}, index=columns).T


def plot_heatmap(table: pd.DataFrame, title: str) -> bytes:
    """The table as a heatmap PNG, cells annotated (summary.py's plot, without seaborn)."""
    import io

    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    values = table.to_numpy(dtype=float)
    figure = Figure(figsize=(1.3 * len(table.columns) + 2, 0.6 * len(table.index) + 2))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(values, cmap="coolwarm", vmin=25, vmax=100, aspect="auto")
    axes.set_xticks(range(len(table.columns)), table.columns, rotation=30, ha="right")
    axes.set_yticks(range(len(table.index)), table.index)
    for (row, column), value in np.ndenumerate(values):
        axes.text(column, row, "–" if np.isnan(value) else f"{value:.1f}", ha="center", va="center", fontsize=9)
    figure.colorbar(image, ax=axes)
    axes.set_title(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return buffer.getvalue()


OFFICIAL_CSV: Final = "mmad_accuracy.csv"
MMAD_ANSWERS: Final = "mmad_answers.json"  # an mmad evaluation's answers in the official format


def _markdown(table: pd.DataFrame) -> str:
    header = "| | " + " | ".join(table.columns) + " |"
    rule = "| --- |" + " --- |" * len(table.columns)
    body = [
        f"| {index} | " + " | ".join("–" if pd.isna(value) else f"{value:.2f}" for value in row) + " |"
        for index, row in table.iterrows()
    ]
    return "\n".join([header, rule, *body])


def write_mmad_scores(
    answers: Sequence[Mapping[str, Any]], out: Path, *, overkill_miss: bool = False, title: str = "MMAD"
) -> list[Path]:
    """Score ``answers`` both ways and write: ``mmad_accuracy.csv`` (the official table, as summary.py writes it),
    ``mmad_strict.csv``, ``mmad_detection.csv``, ``mmad_overall.csv`` (ours beside the published rows),
    ``mmad_heatmap.png`` and ``mmad.md`` (all of it, rounded, with the dropped and skipped counts)."""
    if not answers:
        raise MMADScoreError("no answers to score")
    scores = official_table(answers, overkill_miss=overkill_miss)
    strict = strict_table(answers)
    detection = detection_table(answers)
    overall = overall_rows({f"{title} (official)": scores.table, f"{title} (strict)": strict})
    out = Path(out)
    summary = "\n\n".join(
        [
            f"# {title}: {len(answers)} answers",
            f"Official convention (summary.py): {scores.dropped} answers dropped (letter not A-E), {scores.skipped} "
            "valid answers skipped with them (each right after a dropped one).",
            _markdown(scores.table),
            "Strict convention: every answer counted, one that is not a letter A-E is wrong.",
            _markdown(strict),
            "Anomaly Detection as a binary decision (anomalous = positive), every answer counted.",
            _markdown(detection),
            "Averages beside the published rows (1-shot, random templates, no domain knowledge).",
            _markdown(overall),
        ]
    )
    return [
        write_atomic(out / OFFICIAL_CSV, scores.table.to_csv()),  # as summary.py writes it
        write_atomic(out / "mmad_strict.csv", strict.to_csv()),
        write_atomic(out / "mmad_detection.csv", detection.to_csv()),
        write_atomic(out / "mmad_overall.csv", overall.to_csv()),
        write_atomic(out / "mmad_heatmap.png", plot_heatmap(scores.table, f"{title}: accuracy (official)")),
        write_atomic(out / "mmad.md", summary + "\n"),
    ]
