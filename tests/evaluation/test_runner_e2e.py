"""The evaluator end to end on CPU: the tiny VL model with real vLLM (CPU build) on synthetic test files.

Each run is the CLI in a child process (vLLM's engine then never shares a process with other tests).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data_prep.build import BuildConfig, build
from data_prep.prompts import PROMPTS
from evaluation.records import METRICS, RECORDS, read_records
from synthetic.tiny_models import TinyModels

pytestmark = pytest.mark.slow

LIMIT = 24


def _command(model: Path, test_file: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "evaluation", "run", "--model", str(model), "--test-file", str(test_file),
        "--out", str(out), "--cpu-settings", "--max-tokens", "48", "--limit", str(LIMIT), *extra,
    ]  # fmt: skip


def _evaluate(model: Path, test_file: Path, out: Path, *extra: str) -> dict:
    result = subprocess.run(_command(model, test_file, out, *extra), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads((out / METRICS).read_text())


@pytest.fixture(scope="module")
def pair3c_test(loco_real_counts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval-data") / "pair3c"
    build(BuildConfig(protocol="pair3c", roots={"mvtec_loco": loco_real_counts}, out=out))
    return out / "test.parquet"


@pytest.fixture(scope="module")
def pair3c_run(tiny_models: TinyModels, pair3c_test: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval-pair3c")
    _evaluate(tiny_models.policy, pair3c_test, out, "--batch-size", "4")
    return out


def test_pair3c_records_hold_parsed_answers(pair3c_run: Path) -> None:
    records = read_records(pair3c_run / RECORDS)
    assert sorted(record["index"] for record in records) == list(range(LIMIT))
    keys = set(PROMPTS["pair3c"].answer_keys)
    for record in records:
        assert record["truth"] in keys
        assert record["predicted"] is None or record["predicted"] in keys
        if record["predicted"] is not None:
            assert record["format_ok"]  # answers count only in the rewarded format
        assert record["think_words"] >= 0 and record["response"] is not None
    assert any(record["format_ok"] for record in records)  # the primed policy writes the format


def test_pair3c_metrics_are_consistent_with_the_records(pair3c_run: Path) -> None:
    metrics = json.loads((pair3c_run / METRICS).read_text())
    records = read_records(pair3c_run / RECORDS)
    correct = sum(record["predicted"] == record["truth"] for record in records)
    assert metrics["protocol"] == "pair3c" and metrics["n"] == LIMIT
    assert metrics["overall"]["accuracy"] == pytest.approx(correct / LIMIT)
    low, high = metrics["ci"]["accuracy"]
    assert low <= metrics["overall"]["accuracy"] <= high
    assert 0.0 <= metrics["overall"]["balance_score"] <= 1.0
    assert set(metrics["by_category"]) == {record["category"] for record in records}


def _report(metrics: list[Path], out: Path) -> str:
    command = [sys.executable, "-m", "evaluation", "report", *map(str, metrics), "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert list(out.glob("confusion_*.png")) and (out / "category_accuracy.png").stat().st_size > 5000
    return (out / "report.md").read_text()


def test_pair3c_report_has_the_papers_tables_and_plots(pair3c_run: Path, tmp_path: Path) -> None:
    report = _report([pair3c_run / METRICS], tmp_path / "report")
    assert "FAD-TQ, Table 2" in report and "published (FAD-TQ, Table 2)" in report
    accuracy = json.loads((pair3c_run / METRICS).read_text())["overall"]["accuracy"]
    assert f"{100 * accuracy:.2f}" in report or f"{100 * accuracy:.1f}" in report


def test_single_ab_on_cpu_has_f1_for_the_defect_class(
    tiny_models: TinyModels, small_roots: dict[str, Path], tmp_path: Path
) -> None:
    build(BuildConfig(protocol="single-ab", roots=small_roots, out=tmp_path / "data", datasets=("visa",)))
    metrics = _evaluate(tiny_models.policy, tmp_path / "data" / "test.parquet", tmp_path / "eval")
    assert metrics["protocol"] == "single-ab"
    assert metrics["overall"]["f1_positive"] is not None and metrics["overall"]["macro_f1"] is not None
    assert "f1_positive" in metrics["ci"]
    report = _report([tmp_path / "eval" / METRICS], tmp_path / "report")
    assert "LR-IAD" in report  # the published rows next to ours


def test_a_killed_run_resumes_to_the_same_metrics(
    tiny_models: TinyModels, pair3c_test: Path, pair3c_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "resumed"
    process = subprocess.Popen(
        _command(tiny_models.policy, pair3c_test, out, "--batch-size", "4"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if (out / RECORDS).exists() and len(read_records(out / RECORDS)) >= 8:
            break
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    partial = len(read_records(out / RECORDS))
    assert 0 < partial < LIMIT, "the run should have been killed part-way"
    assert not (out / METRICS).exists()

    resumed = _evaluate(tiny_models.policy, pair3c_test, out, "--batch-size", "4")
    uninterrupted = json.loads((pair3c_run / METRICS).read_text())
    assert resumed["overall"] == uninterrupted["overall"]
    assert resumed["ci"] == uninterrupted["ci"]


def test_an_output_folder_of_another_model_is_refused(pair3c_run: Path, pair3c_test: Path, tmp_path: Path) -> None:
    """Resuming must never mix two models' answers: another --model on the same --out is an error."""
    other = tmp_path / "other_model"
    other.mkdir()
    (other / "config.json").write_text("{}")
    result = subprocess.run(_command(other, pair3c_test, pair3c_run), capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "another run" in result.stderr and "--overwrite" in result.stderr


def test_an_openai_compatible_endpoint_is_scored_the_same_way(
    tiny_models: TinyModels, pair3c_test: Path, tmp_path: Path
) -> None:
    """A model served elsewhere (here: the tiny policy behind vLLM's OpenAI server) through --base-url."""
    from cpu_support import vllm_settings
    from launch.vllm_server import VLLMServer

    args = (*vllm_settings.SERVER_ARGS, "--limit-mm-per-prompt", '{"image": 2, "video": 0}')
    with VLLMServer(
        tiny_models.policy, served_model_name="policy", extra_args=args, env=vllm_settings.ENV,
        log_path=tmp_path / "policy-server.log",
    ) as server:  # fmt: skip
        command = [
            sys.executable, "-m", "evaluation", "run", "--base-url", server.base_url, "--served-model", "policy",
            "--test-file", str(pair3c_test), "--out", str(tmp_path / "eval"), "--max-tokens", "48", "--limit", "8",
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    records = read_records(tmp_path / "eval" / RECORDS)
    assert len(records) == 8 and any(record["format_ok"] for record in records)
    metrics = json.loads((tmp_path / "eval" / METRICS).read_text())
    assert metrics["model"] == "policy" and metrics["n"] == 8


def test_tool_rows_run_the_tools_between_the_policys_turns(
    tool_policy: Path, small_roots: dict[str, Path], tmp_path: Path
) -> None:
    """--tools rows: the primed policy zooms (greedy), the zoom tool answers with the crop, the policy answers after
    it, and the metrics count the calls and the zoom's IoU with the defect."""
    data = tmp_path / "data"
    build(BuildConfig(protocol="single-ab", roots=small_roots, out=data, datasets=("visa",), tools=True))
    metrics = _evaluate(tool_policy, data / "test.parquet", tmp_path / "eval", "--max-tokens", "96")
    records = read_records(tmp_path / "eval" / RECORDS)
    zoomed = [record for record in records if record["tool_calls"] and record["tool_calls"][0]["name"] == "zoom"]
    assert zoomed and all(record["tool_calls"][0]["result"].startswith("Zoomed into [") for record in zoomed)
    assert all(len(record["turns"]) == len(record["tool_calls"]) + 1 for record in zoomed)  # answered after the call
    assert metrics["tools"]["calls_per_sample"] > 0 and metrics["tools"]["n_anomalous"] > 0
    anomalous_zoomed = [record["crop_iou"] for record in zoomed if record["crop_iou"] is not None]
    assert metrics["tools"]["crop_iou_zoomed"] == pytest.approx(sum(anomalous_zoomed) / len(anomalous_zoomed))
    assert metrics["overall"]["format_rate"] > 0  # final turns read as answers
