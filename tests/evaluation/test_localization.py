"""Localization metrics of a grounded evaluation: per-image IoU, Acc@t, boxes on normal images, in the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_prep.prompts import GROUNDING_INSTRUCTION
from evaluation.localization import image_iou, localization_metrics
from evaluation.records import METRICS
from evaluation.report import write_report
from evaluation.runner import Sample, compute_metrics, make_record, write_json

TRUE = [[10, 20, 40, 60]]


def _sample(index: int, truth: str, boxes: list[list[int]], category: str = "bottle") -> Sample:
    messages = [{"role": "user", "content": [{"type": "text", "text": "q" + GROUNDING_INSTRUCTION}]}]
    return Sample(index, "single-ab", "mvtec_ad", category, truth, messages, true_boxes=tuple(map(tuple, boxes)))


def _response(answer: str) -> str:
    return f"<think>a disc</think><answer>{answer}</answer>"


def test_image_iou_is_each_true_boxs_best_match() -> None:
    assert image_iou([[10, 20, 40, 60]], TRUE) == 1.0
    assert image_iou([[15, 20, 45, 60], [0, 0, 5, 5]], TRUE) == pytest.approx(1000 / 1400)
    assert image_iou([], TRUE) == 0.0
    assert image_iou([[10, 20, 40, 60]], [[10, 20, 40, 60], [50, 50, 60, 60]]) == 0.5


def test_records_of_grounded_rows_carry_their_boxes_and_iou() -> None:
    record = make_record(_sample(0, "A", TRUE), _response('A {"bbox_2d": [15, 20, 45, 60]}'))
    assert record["true_boxes"] == TRUE and record["pred_boxes"] == [[15.0, 20.0, 45.0, 60.0]]
    assert record["iou"] == pytest.approx(1000 / 1400) and record["predicted"] == "A"


def _records() -> list[dict]:
    return [
        make_record(_sample(0, "A", TRUE), _response('A {"bbox_2d": [10, 20, 40, 60]}')),  # IoU 1
        make_record(_sample(1, "A", TRUE), _response('A {"bbox_2d": [15, 20, 45, 60]}')),  # IoU 0.71
        make_record(_sample(2, "A", TRUE), _response("A")),  # no box: IoU 0
        make_record(_sample(3, "B", []), _response('B {"bbox_2d": [0, 0, 5, 5]}')),  # a box on a normal image
        make_record(_sample(4, "B", []), _response("B")),
    ]


def test_localization_metrics_by_hand() -> None:
    overall = localization_metrics(_records())["overall"]
    assert (overall["n_anomalous"], overall["n_normal"]) == (3, 2)
    assert overall["mean_iou"] == pytest.approx((1 + 1000 / 1400) / 3)
    assert (overall["acc@0.1"], overall["acc@0.5"]) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert overall["normal_boxed"] == 0.5
    low, high = overall["mean_iou_ci"]
    assert low <= overall["mean_iou"] <= high


def test_rows_without_the_grounding_prompt_have_no_localization() -> None:
    plain = Sample(0, "single-ab", "mvtec_ad", "bottle", "A", [{"role": "user", "content": []}])
    assert "true_boxes" not in make_record(plain, _response("A"))
    assert localization_metrics([make_record(plain, _response("A"))]) == {}


def test_the_report_shows_the_localization_table(tmp_path: Path) -> None:
    records = _records()
    metrics = compute_metrics(records, model="grounded", test_file="test.parquet")
    assert metrics["localization"]["bottle"]["n_anomalous"] == 3
    write_json(tmp_path / METRICS, metrics)
    write_report([tmp_path / METRICS], tmp_path / "report")
    report = (tmp_path / "report" / "report.md").read_text()
    assert "## Localization: grounded" in report and "Acc@0.5" in report
