"""The inspection agent loop's own part: which tokens make the final turn, and that verl can find the loop."""

from __future__ import annotations

import pytest

from agent_tools.loop import InspectionAgentLoop, final_turn_ids
from data_prep.schema import INSPECTION_AGENT


@pytest.mark.parametrize(
    ("ids", "mask", "final"),
    [
        ([1, 2, 3], [1, 1, 1], [1, 2, 3]),  # one turn, no tool
        ([1, 2, 8, 9, 3, 4], [1, 1, 0, 0, 1, 1], [3, 4]),  # call, tool output, answer
        ([1, 8, 2, 9, 3], [1, 0, 1, 0, 1], [3]),
        ([1, 2, 8, 9], [1, 1, 0, 0], [1, 2]),  # ended after a tool output: the call turn is the last one
        ([], [], []),
    ],
)
def test_the_final_turn_is_the_last_stretch_the_policy_generated(ids: list, mask: list, final: list) -> None:
    assert final_turn_ids(ids, mask) == final


def test_verl_finds_the_loop_under_the_rows_agent_name() -> None:
    from verl.experimental.agent_loop.agent_loop import _agent_loop_registry

    assert _agent_loop_registry[INSPECTION_AGENT]["_target_"].endswith(InspectionAgentLoop.__qualname__)
