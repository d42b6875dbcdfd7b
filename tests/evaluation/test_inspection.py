"""Evaluation records of --tools rows: the answer read in the final turn, the trajectory kept, the tool metrics, and
the gallery's view of the inspection (the zoom box on the query and the crop the policy saw)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from data_prep.build import BuildConfig, build
from evaluation.__main__ import main
from evaluation.gallery import GALLERY
from evaluation.inspection import Inspection, tool_metrics
from evaluation.records import RECORDS, RUN_INFO
from evaluation.runner import Sample, load_samples, make_record
from rewards.tool_use import LAST_ZOOM_KEY, TOOL_CALLS_KEY, TOOL_ERRORS_KEY

ANSWER = "<think>the crop shows a crack</think> <answer>A</answer>"


@pytest.fixture(scope="module")
def tools_data(small_roots: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("eval-tools")
    build(BuildConfig(protocol="single-ab", roots=small_roots, out=data, datasets=("visa",), tools=True))
    return data


@pytest.fixture(scope="module")
def anomalous(tools_data: Path) -> Sample:
    return next(sample for sample in load_samples(tools_data / "test.parquet") if sample.defect_boxes)


def _zoomed_on(sample: Sample, box: list[int], turns: list[str]) -> Inspection:
    fields = {TOOL_CALLS_KEY: 1, TOOL_ERRORS_KEY: 0, LAST_ZOOM_KEY: json.dumps({"box": box, "size": sample.query_size})}
    call = {"name": "zoom", "arguments": {"bbox_2d": box}, "result": f"Zoomed into {box}."}
    return Inspection(turns=turns, calls=[call], fields=fields)


def test_tool_rows_load_with_their_system_turn_tools_and_images(anomalous: Sample) -> None:
    assert "# Tools" in anomalous.system and "<tool_call>" in anomalous.system
    assert anomalous.tools_kwargs["zoom"]["create_kwargs"]["query_index"] == len(anomalous.images) - 1
    assert anomalous.query_size and anomalous.prompt_text.count("<image>") == len(anomalous.images)


def test_the_record_reads_the_answer_in_the_final_turn_and_keeps_the_trajectory(anomalous: Sample) -> None:
    box = list(anomalous.defect_boxes[0])
    record = make_record(anomalous, "", _zoomed_on(anomalous, box, ['<tool_call>{"name": "zoom"}</tool_call>', ANSWER]))
    assert (record["predicted"], record["format_ok"], record["n_calls"], record["crop_iou"]) == ("A", True, 1, 1.0)
    assert record["tool_calls"][0]["name"] == "zoom" and len(record["turns"]) == 2


def test_a_final_turn_that_calls_a_tool_answers_nothing(anomalous: Sample) -> None:
    turn = '<tool_call>{"name": "zoom", "arguments": {"answer": "<answer>A</answer>"}}</tool_call>'
    record = make_record(anomalous, "", _zoomed_on(anomalous, [0, 0, 28, 28], [turn]))
    assert record["predicted"] is None


def test_tool_metrics_count_calls_and_the_zooms_iou() -> None:
    records = [
        {"tool_calls": [{"name": "zoom"}], "n_calls": 1, "n_tool_errors": 0, "zoom": {"box": [0] * 4}, "crop_iou": 0.5},
        {"tool_calls": [], "n_calls": 0, "n_tool_errors": 0, "zoom": None, "crop_iou": 0.0},
        {"tool_calls": [{"name": "reference"}] * 3, "n_calls": 3, "n_tool_errors": 1, "zoom": None, "crop_iou": None},
    ]
    metrics = tool_metrics(records)
    assert metrics["calls_per_sample"] == pytest.approx(4 / 3) and metrics["tool_errors_per_sample"] == 1 / 3
    assert metrics["calls_by_tool"] == {"reference": 3, "zoom": 1} and metrics["zoom_rate"] == pytest.approx(1 / 3)
    assert (metrics["crop_iou_zoomed"], metrics["crop_iou_anomalous"], metrics["n_anomalous"]) == (0.5, 0.25, 2)
    assert tool_metrics([{"response": "no tools"}]) is None
    assert math.isnan(tool_metrics(records[1:2])["crop_iou_zoomed"])


def test_the_gallery_shows_the_zoom_and_its_crop(tools_data: Path, anomalous: Sample, tmp_path: Path) -> None:
    box = list(anomalous.defect_boxes[0])
    record = make_record(anomalous, "", _zoomed_on(anomalous, [0, 0, *anomalous.query_size], ["call", ANSWER]))
    (tmp_path / RECORDS).write_text(json.dumps(record) + "\n")
    (tmp_path / RUN_INFO).write_text(json.dumps({"test_file": str(tools_data / "test.parquet")}))
    assert main(["gallery", str(tmp_path / RECORDS), "--out", str(tmp_path / "gallery")]) == 0
    page = (tmp_path / "gallery" / GALLERY).read_text()
    assert 'alt="zoom crop"' in page and "tool calls: zoom" in page and "[zoom] Zoomed into" in page
    assert record["crop_iou"] < 1.0 and box  # a whole-image zoom: the IoU is the defect's share


def test_tool_rows_without_their_tool_config_are_refused_before_anything_is_written(
    tools_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "eval"
    args = ["run", "--model", str(tmp_path), "--test-file", str(tools_data / "test.parquet"), "--out", str(out)]
    assert main([*args, "--tool-config", str(tmp_path / "missing.yaml")]) != 0
    assert "no tool config for these --tools rows" in capsys.readouterr().err
    assert not out.exists()
