"""What an inspection with tools (``iad-data build --tools``) earns beyond its answer: the zoom's overlap with the
defect, and a penalty for calls past the budget.

The rollout's record comes from the tools themselves (``agent_tools``), through verl: a tool writes its counts into
the rollout's ``AgentData.extra_fields`` under the keys below, verl's agent loop returns them as the rollout's
``extra_fields`` and its reward managers merge those into ``extra_info``. The inspection agent loop adds the final
assistant turn (``FINAL_TURN_KEY``), decoded from the tokens the policy generated after the last tool response:
the answer is read there and nowhere else, so an answer written inside a tool call, or in a turn that called a
tool, never counts.

- ``crop_iou``: the IoU of the last successful zoom box with the defect (the best-matching ground-truth box, in
  the query's frame), 0 without a zoom or for a normal image. Paid only with the right answer, so zooming alone
  earns nothing, and a zoom on the whole image earns only the defect's share of it.
- ``tool_penalty``: ``weights.tool_penalty`` per call past ``tool_budget``. Calls within the budget earn nothing and
  cost nothing: the policy is free to look, not paid to.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from data_prep.boxes import scale_box
from data_prep.prompts import TOOL_CALL_OPEN
from rewards.localization import iou

# Keys in a rollout's extra_fields (AgentData.extra_fields), written by agent_tools and read here.
TOOL_CALLS_KEY: Final = "iad_tool_calls"  # calls made, refused ones included
TOOL_ERRORS_KEY: Final = "iad_tool_errors"  # calls answered with an error message (bad arguments, budget spent)
ZOOM_CALLS_KEY: Final = "iad_zoom_calls"  # successful zooms
REFERENCE_CALLS_KEY: Final = "iad_reference_calls"  # references shown
LAST_ZOOM_KEY: Final = "iad_last_zoom"  # JSON {"box": [x1, y1, x2, y2], "size": [w, h]} of the last zoom, "" if none
FINAL_TURN_KEY: Final = "iad_final_turn"  # the policy's last turn, as text
# Every rollout carries all of them (verl stacks extra_fields key by key), with these values before any call.
TOOL_FIELDS: Final = {
    TOOL_CALLS_KEY: 0,
    TOOL_ERRORS_KEY: 0,
    ZOOM_CALLS_KEY: 0,
    REFERENCE_CALLS_KEY: 0,
    LAST_ZOOM_KEY: "",
}


def answer_in_turn(turn: str) -> str:
    """A final turn as the text its answer is read from: nothing when the turn called a tool."""
    return "" if TOOL_CALL_OPEN in turn else turn


def final_answer_text(extra_info: Mapping[str, Any]) -> str:
    """The text the answer is read from: the final turn, or nothing when that turn called a tool."""
    if FINAL_TURN_KEY not in extra_info:
        raise ValueError(
            "a tool-use reward needs the rollout's final turn (extra_info['iad_final_turn']): run the rows with "
            "the inspection agent loop (iad-data build --tools writes agent_name for it)"
        )
    return answer_in_turn(str(extra_info[FINAL_TURN_KEY] or ""))


def scored_response(solution_str: str, extra_info: Mapping[str, Any]) -> str:
    """What the rules read: the final turn of a multi-turn rollout (``solution_str`` holds every turn and tool
    output), else the whole response."""
    return final_answer_text(extra_info) if FINAL_TURN_KEY in extra_info else solution_str


def last_zoom(extra_info: Mapping[str, Any]) -> tuple[list[float], tuple[int, int]] | None:
    """The last zoom's box and the frame it was given in, or None without a zoom."""
    text = extra_info.get(LAST_ZOOM_KEY) or ""
    if not text:
        return None
    record = json.loads(text)
    return record["box"], tuple(record["size"])


def crop_iou(extra_info: Mapping[str, Any], truth: Sequence[Sequence[int]], query_size: Sequence[int]) -> float:
    """IoU of the last zoom with the best-matching defect box, both in the stored query's frame; 0 without either."""
    zoom = last_zoom(extra_info)
    if zoom is None or not truth:
        return 0.0
    box, frame = zoom
    crop = scale_box(tuple(box), frame, (int(query_size[0]), int(query_size[1])))
    return max(iou(crop, defect) for defect in truth)


def tool_counts(extra_info: Mapping[str, Any]) -> dict[str, float]:
    """The rollout's tool calls (all, and those each tool answered) and errors, as sub-scores (0 without calls)."""
    return {
        "tool_calls": float(extra_info.get(TOOL_CALLS_KEY) or 0),
        "tool_errors": float(extra_info.get(TOOL_ERRORS_KEY) or 0),
        "zoom_calls": float(extra_info.get(ZOOM_CALLS_KEY) or 0),
        "reference_calls": float(extra_info.get(REFERENCE_CALLS_KEY) or 0),
    }


def calls_past_budget(extra_info: Mapping[str, Any], budget: int) -> int:
    return max(0, int(extra_info.get(TOOL_CALLS_KEY) or 0) - budget)
