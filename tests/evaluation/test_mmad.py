"""MMAD's scores: the official table (summary.py's conventions, bug for bug), the strict one, detection metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from evaluation.__main__ import main
from evaluation.mmad import (
    OFFICIAL_CSV,
    detection_table,
    official_table,
    parse_letter,
    published_rows,
    strict_table,
)


def _answer(image: str, task: str, correct: str, given: str) -> dict[str, object]:
    return {
        "image": image,
        "question": {"text": "q"},
        "question_type": task,
        "correct_answer": correct,
        "gpt_answer": given,
    }


GOOD, BAD = "VisA/candle/test/good/0001.JPG", "VisA/candle/test/bad/0002.JPG"
DS_BAD = "DS-MVTec/bottle/image/broken_large/000.png"
ANSWERS = [
    _answer(GOOD, "Anomaly Detection", "B", "B"),
    _answer(GOOD, "Object Details", "C", "D"),
    _answer(BAD, "Anomaly Detection", "A", "A"),
    _answer(BAD, "Defect Classification", "A", "xx"),  # not a letter: dropped
    _answer(BAD, "Defect Localization", "A", "A"),  # right after a dropped one: the official loop skips it
    _answer(BAD, "Object Structure", "A", "A"),
    _answer(DS_BAD, "Anomaly Detection", "A", "B"),
    _answer(DS_BAD, "Defect Analysis", "A", "A"),
]


def test_the_official_table_follows_summary_py_by_hand() -> None:
    """Rows and columns in order of appearance; the answer after a dropped one skipped; empty cells 0."""
    scores = official_table(ANSWERS)
    expected = pd.DataFrame(
        {
            "Anomaly Detection": [100.0, 0.0, 50.0],  # VisA: (1/1 + 1/1) / 2; DS-MVTec: (0 + 0/1) / 2
            "Object Analysis": [50.0, 0.0, 25.0],  # Object Details wrong, Object Structure right
            "Defect Classification": [0.0, 0.0, 0.0],  # its only answer was dropped
            "Defect Localization": [0.0, 0.0, 0.0],  # its only answer was skipped
            "Defect Analysis": [0.0, 100.0, 50.0],
            "Average": [30.0, 20.0, 25.0],
        },
        index=["VisA", "DS-MVTec", "Average"],
    )
    pd.testing.assert_frame_equal(scores.table, expected)
    assert (scores.dropped, scores.skipped) == (1, 1)


def test_overkill_and_miss_come_after_the_average() -> None:
    table = official_table(ANSWERS, overkill_miss=True).table
    assert list(table.columns[-3:]) == ["Average", "Overkill", "Miss"]
    assert table.loc["DS-MVTec", ["Overkill", "Miss"]].tolist() == [100.0, 100.0]  # no normal image: 1 - 0


def test_the_strict_table_counts_every_answer_in_the_published_order() -> None:
    table = strict_table(ANSWERS)
    assert list(table.index) == ["DS-MVTec", "VisA", "Average"]
    assert list(table.columns) == [
        "Anomaly Detection", "Defect Classification", "Defect Localization", "Defect Analysis", "Object Analysis",
        "Average",
    ]  # fmt: skip
    assert table.loc["VisA"].tolist() == [100.0, 0.0, 100.0, 0.0, 50.0, 50.0]  # "xx" wrong, the skipped one right
    assert table.loc["Average", "Average"] == pytest.approx(35.0)


def test_detection_metrics_treat_the_anomalous_image_as_positive() -> None:
    table = detection_table(ANSWERS)
    assert table.loc["VisA"].tolist() == [100.0, 100.0, 100.0, 0.0, 0.0]
    assert table.loc["DS-MVTec"].tolist() == [0.0, 0.0, 0.0, 0.0, 100.0]  # recall, precision, F1, overkill, miss


@pytest.mark.parametrize(
    ("response", "letter"),
    [
        ("B", "B"),
        ("B. No, unlike image A", "A"),  # the last standalone capital, as the official parser takes it
        ("The answer is (C).", "C"),
        ("BA", "Yes."),  # no standalone letter: the closest option text
        ("yes", "Yes."),
    ],
)
def test_answers_are_parsed_as_mmad_parses_them(response: str, letter: str) -> None:
    options = {"A": "Yes.", "B": "No."}
    assert parse_letter(response, options) == {"Yes.": "A", "No.": "B"}.get(letter, letter)


def test_without_options_an_unparsable_answer_stays_as_it_is() -> None:
    assert parse_letter("no idea") == "no idea"


def test_the_published_rows_hold_the_headline_averages() -> None:
    averages = {name: round(table.at["Average", "Average"], 2) for name, table in published_rows().items()}
    assert averages["1_shot_Qwen2.5-VL-7B-Instruct"] == 72.19
    assert averages["1_shot_Qwen2.5-VL-72B-Instruct-AWQ"] == 76.96
    assert averages["1_shot_gpt-4o"] == 74.31


def test_mmad_score_writes_the_official_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answers = tmp_path / "answers_1_shot_model.json"
    answers.write_text(json.dumps(ANSWERS))
    assert main(["mmad-score", str(answers), "--out", str(tmp_path / "out")]) == 0
    csv = (tmp_path / "out" / OFFICIAL_CSV).read_text()
    assert csv.splitlines()[0] == (
        ",Anomaly Detection,Object Analysis,Defect Classification,Defect Localization,Defect Analysis,Average"
    )
    assert csv.splitlines()[1] == "VisA,100.0,50.0,0.0,0.0,0.0,30.0"
    assert "1 answers dropped" in capsys.readouterr().out
    assert (tmp_path / "out" / "mmad_heatmap.png").read_bytes()[:4] == b"\x89PNG"


def test_an_answers_file_without_the_official_keys_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps([{"image": GOOD, "question_type": "Anomaly Detection", "gpt_answer": "A"}]))
    assert main(["mmad-score", str(answers), "--out", str(tmp_path / "out")]) == 2
    assert "answer 0 lacks correct_answer" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
