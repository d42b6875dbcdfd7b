"""The optional judge pass over evaluated responses, against the real tiny judge served by vLLM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.judge_pass import judge_records
from launch.vllm_server import VLLMServer

pytestmark = pytest.mark.slow


def _record(index: int, response: str) -> dict:
    return {
        "index": index, "protocol": "pair3c", "dataset": "mvtec_loco", "category": "pushpins", "truth": "A",
        "response": response, "predicted": None, "format_ok": False, "think_words": 0, "response_chars": 0,
    }  # fmt: skip


def test_only_well_formed_reasoning_is_judged_and_summarised(judge_server: VLLMServer, tmp_path: Path) -> None:
    records = [
        _record(0, "<think>twelve pins, one per slot</think> <answer>A</answer>"),
        _record(1, "<think>a scratch on the lid</think> <answer>B</answer>"),
        _record(2, "no tags at all"),
    ]
    summary = judge_records(records, tmp_path / "judged.jsonl", judge_url=judge_server.base_url)
    assert summary["n"] == 3 and summary["judged"] == 2 and summary["not_judged_format"] == 1
    assert summary["judge_success_rate"] == 1.0
    assert 0.0 <= summary["tq"] <= 1.0
    judged = [json.loads(line) for line in (tmp_path / "judged.jsonl").read_text().splitlines()]
    assert [record["judge_called"] for record in judged] == [True, True, False]
    assert all(0.0 <= record["judge_tq"] <= 1.0 for record in judged[:2])
