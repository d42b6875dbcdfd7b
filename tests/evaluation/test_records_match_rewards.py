"""An evaluation record reads a response exactly as the reward verl calls does: format, answer, reasoning length."""

from __future__ import annotations

import asyncio

import pytest

from evaluation.runner import Sample, make_record
from rewards.verl_reward import compute_score

RESPONSES = [
    "<think>The query box holds one orange fewer than the reference.</think><answer>C</answer>",
    "<think>  spaced\n\tout   words </think>\n<answer>(B) structural anomaly</answer>",
    "<think>x</think><answer>A or C</answer>",
    "<think>x</think><answer></answer>",
    "<think>two blocks</think><answer>B</answer><answer>C</answer>",
    "C",
    "",
    "<think>ünïcödé\u00a0words\u2003here</think><answer>c)</answer>",
]


@pytest.mark.parametrize("response", RESPONSES)
def test_record_and_reward_agree(response: str) -> None:
    sample = Sample(index=0, protocol="pair3c", dataset="mvtec_loco", category="breakfast_box", truth="C", messages=[])
    record = make_record(sample, response)
    reward = asyncio.run(compute_score("pair3c", response, "C", {"split": "test"}, composite="fad_tq_no_judge"))
    assert record["format_ok"] == (reward["format"] == 1.0)
    assert (record["predicted"] is not None) == (reward["answer_parsed"] == 1.0)
    assert (record["predicted"] == record["truth"]) == (reward["acc"] == 1.0)
    assert (record["think_words"], record["response_chars"]) == (reward["think_words"], reward["response_chars"])
