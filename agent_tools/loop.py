"""The inspection agent loop: verl's own ``ToolAgentLoop``, registered as ``data_prep.schema.INSPECTION_AGENT`` (the
``agent_name`` of ``--tools`` rows), plus what each finished rollout must carry for the reward and the metrics.

verl's loop runs the turns, the tools and the response mask (tool outputs are masked out of the loss); this adds,
to the rollout's ``extra_fields`` (which verl hands the reward as ``extra_info``):

- the final turn, decoded from the tokens the policy generated after the last tool response: the answer is read
  there (``rewards.tool_use``), not in the whole response, where tool calls and tool outputs sit between turns;
- every tool field with its initial value (``TOOL_FIELDS``), for rollouts that called no tool: verl stacks
  ``extra_fields`` key by key across the batch, and a key that some rollouts lack would differ between chunks.

Imported where verl's tool agent loop is (``recipes.verl_plugin``), so it is registered in every agent-loop worker.
What it relies on in verl (``WATCHED``, digests in ``tests/cpu_support/test_verl_cpu_canary.py``): ``run`` returns
the response mask and ``extra_fields``; ``_call_tool`` hands tools ``create_kwargs`` and ``agent_data`` and drops
their metrics; the reward manager merges ``extra_fields`` into ``extra_info``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from verl.experimental.agent_loop.agent_loop import AgentLoopOutput, register
from verl.experimental.agent_loop.tool_agent_loop import ToolAgentLoop

from data_prep.schema import INSPECTION_AGENT
from rewards.tool_use import FINAL_TURN_KEY, TOOL_FIELDS

WATCHED = (
    "verl.experimental.agent_loop.tool_agent_loop.ToolAgentLoop.run",
    "verl.experimental.agent_loop.tool_agent_loop.ToolAgentLoop._call_tool",
    "verl.experimental.reward_loop.reward_manager.naive.NaiveRewardManager.run_single",
)


def final_turn_ids(response_ids: Sequence[int], response_mask: Sequence[int]) -> list[int]:
    """The tokens of the last stretch the policy generated (mask 1) in a response that interleaves tool outputs (0)."""
    end = len(response_mask)
    while end > 0 and not response_mask[end - 1]:
        end -= 1
    start = end
    while start > 0 and response_mask[start - 1]:
        start -= 1
    return list(response_ids[start:end])


@register(INSPECTION_AGENT)
class InspectionAgentLoop(ToolAgentLoop):
    """verl's tool agent loop; its output also carries the final turn and every tool field."""

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        output = await super().run(sampling_params, **kwargs)
        for key, initial in TOOL_FIELDS.items():
            output.extra_fields.setdefault(key, initial)
        ids = final_turn_ids(output.response_ids, output.response_mask)
        output.extra_fields[FINAL_TURN_KEY] = await self.loop.run_in_executor(
            None, lambda: self.tokenizer.decode(ids, skip_special_tokens=True)
        )
        return output
