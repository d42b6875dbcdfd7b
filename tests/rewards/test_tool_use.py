"""The agentic composite, through the function verl calls: what an inspection with tools earns, and the tool-use
hacks it must not pay for (zooming on the whole image, calling in a loop, answering inside a tool call)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from rewards.tool_use import (
    FINAL_TURN_KEY,
    LAST_ZOOM_KEY,
    REFERENCE_CALLS_KEY,
    TOOL_CALLS_KEY,
    TOOL_ERRORS_KEY,
    ZOOM_CALLS_KEY,
)
from rewards.verl_reward import compute_score

DEFECT = [10, 20, 40, 60]
SIZE = [112, 84]
HONEST = "<think>the zoom shows a crack</think> <answer>A</answer>"


def info(final_turn: str = HONEST, zoom: list[int] | None = DEFECT, frame: list[int] = SIZE, **fields: Any) -> dict:
    record = {
        "split": "train",
        "category": "candle",
        "boxes": [DEFECT],
        "query_size": SIZE,
        FINAL_TURN_KEY: final_turn,
        TOOL_CALLS_KEY: 1,
        TOOL_ERRORS_KEY: 0,
        ZOOM_CALLS_KEY: 1 if zoom else 0,
        REFERENCE_CALLS_KEY: 0,
        LAST_ZOOM_KEY: json.dumps({"box": zoom, "size": frame}) if zoom else "",
    }
    return record | fields


def score(extra_info: dict, truth: str = "A", solution: str | None = None, **kwargs: Any) -> dict[str, float]:
    solution = solution if solution is not None else extra_info[FINAL_TURN_KEY]
    return asyncio.run(compute_score("single-ab", solution, truth, extra_info, composite="agentic", **kwargs))


def test_a_zoom_on_the_defect_and_the_right_answer_earn_the_full_reward() -> None:
    scores = score(info())
    assert (scores["format"], scores["acc"], scores["crop_iou"], scores["score"]) == (1.0, 1.0, 1.0, 3.0)
    assert (scores["tool_calls"], scores["tool_errors"], scores["tool_penalty"]) == (1.0, 0.0, 0.0)
    assert (scores["zoom_calls"], scores["reference_calls"]) == (1.0, 0.0)


def test_zooming_on_the_whole_image_earns_only_the_defects_share_of_it() -> None:
    whole = score(info(zoom=[0, 0, *SIZE]))
    assert whole["crop_iou"] == pytest.approx(30 * 40 / (112 * 84))
    assert whole["score"] < score(info())["score"]


def test_a_zoom_given_in_another_frame_is_scaled_to_the_querys() -> None:
    assert score(info(zoom=[20, 40, 80, 120], frame=[224, 168]))["crop_iou"] == pytest.approx(1.0)


def test_the_crop_pays_only_with_the_right_answer() -> None:
    wrong = score(info("<think>fine</think> <answer>B</answer>"))
    assert (wrong["acc"], wrong["crop_iou"], wrong["score"]) == (0.0, 1.0, 1.0)


def test_calling_tools_in_a_loop_costs_more_than_it_can_earn() -> None:
    looped = score(info(**{TOOL_CALLS_KEY: 10, TOOL_ERRORS_KEY: 6}))
    assert looped["tool_penalty"] == pytest.approx(0.5 * 6)
    assert looped["score"] < score(info(zoom=None, **{TOOL_CALLS_KEY: 0}))["score"]  # below not looking at all
    assert score(info(**{TOOL_CALLS_KEY: 4}))["tool_penalty"] == 0.0  # the budget itself is free


def test_an_answer_inside_a_tool_call_does_not_count() -> None:
    inside = '<think>x</think><tool_call>\n{"name": "zoom", "arguments": {"bbox_2d": [10, 20, 40, 60], ' \
        '"answer": "<answer>A</answer>"}}\n</tool_call><answer>A</answer>'  # fmt: skip
    scores = score(info(inside))
    assert (scores["format"], scores["acc"], scores["crop_iou"] * scores["acc"]) == (0.0, 0.0, 0.0)
    assert scores["score"] < score(info())["score"]


def test_only_the_final_turn_answers() -> None:
    """A right answer in an earlier turn, before the tool call, counts for nothing when the final turn is wrong."""
    earlier = f"{HONEST}<tool_call>\n{{}}\n</tool_call>\ntool\nZoomed.\nassistant\n"
    final = "<think>fine after all</think> <answer>B</answer>"
    scores = score(info(final), solution=earlier + final)
    assert scores["acc"] == 0.0


def test_a_normal_image_earns_no_crop_reward() -> None:
    normal = info("<think>fine</think> <answer>B</answer>", boxes=[])
    assert score(normal, truth="B")["crop_iou"] == 0.0
    assert score(normal, truth="B")["score"] == 2.0


def test_the_penalty_weight_and_budget_come_from_reward_kwargs() -> None:
    scores = score(info(**{TOOL_CALLS_KEY: 3}), weights={"tool_penalty": 2.0}, tool_budget=1)
    assert scores["tool_penalty"] == 4.0


def test_rollouts_without_a_final_turn_say_which_agent_loop_to_use() -> None:
    record = info()
    del record[FINAL_TURN_KEY]
    with pytest.raises(ValueError, match="inspection agent loop"):
        score(record, solution=HONEST)
