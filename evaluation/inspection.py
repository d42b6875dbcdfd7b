"""Evaluating ``--tools`` rows: the inspection agent's turns with vLLM in this process and the tools of training.

A sample is a conversation: the row's system and user turns, then the policy's turn; when that turn holds a tool
call (Qwen's hermes format, read by verl's own ``hermes`` parser) the tool answers in a turn of its own, with its
image, and the policy goes on, until a turn without a call or ``max_turns``. The tools are the training ones
(``agent_tools``), built from the data's ``tools.yaml`` by verl's tool registry and called as verl's tool agent loop
calls them (create, execute with the rollout's ``AgentData``, release); prompts are rendered with the model's chat
template, as the agent loop renders them; decoding is greedy. The answer is read in the final turn only, as the
``agentic`` reward reads it (``rewards.tool_use``).
"""

from __future__ import annotations

import asyncio
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewards.tool_use import LAST_ZOOM_KEY, TOOL_CALLS_KEY, TOOL_ERRORS_KEY, crop_iou

MAX_TURNS = 5  # four calls and the answer (the recipe's max_assistant_turns)


@dataclass
class Inspection:
    """One sample's trajectory: every policy turn, every call with the tool's text, and the last zoom."""

    turns: list[str] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)  # name, arguments, result (the tool's text)
    fields: dict[str, Any] = field(default_factory=dict)  # the AgentData.extra_fields the tools wrote

    @property
    def final_turn(self) -> str:
        return self.turns[-1] if self.turns else ""

    def record_fields(self, boxes: Sequence[Sequence[int]] | None, query_size: Sequence[int] | None) -> dict:
        """What a record keeps of the trajectory, and the last zoom's IoU with the defect (None for a normal image)."""
        zoom = self.fields.get(LAST_ZOOM_KEY) or ""
        iou = crop_iou(self.fields, boxes, query_size) if boxes and query_size else None
        return {
            "turns": self.turns,
            "tool_calls": self.calls,
            "n_calls": int(self.fields.get(TOOL_CALLS_KEY, 0)),
            "n_tool_errors": int(self.fields.get(TOOL_ERRORS_KEY, 0)),
            "zoom": json.loads(zoom) if zoom else None,
            "crop_iou": iou,
        }


class InspectionBackend:
    """vLLM in this process, running each sample's turns and the tools between them, a batch at a time."""

    def __init__(
        self,
        model: Path | str,
        tool_config: Path,
        *,
        max_tokens: int = 512,
        max_turns: int = MAX_TURNS,
        max_images: int = 2,
        **engine: Any,
    ) -> None:
        """``max_images``: the most images a row has; each turn's call may add one more."""
        from transformers import AutoProcessor
        from verl.experimental.agent_loop.tool_parser import ToolParser
        from verl.tools.tool_registry import initialize_tools_from_config
        from vllm import LLM, SamplingParams

        self.name = f"vllm:{model} (tools)"
        self.processor = AutoProcessor.from_pretrained(str(model))
        self.parser = ToolParser.get_tool_parser("hermes", self.processor.tokenizer)
        self.tools = {tool.name: tool for tool in initialize_tools_from_config(str(tool_config))}
        self.max_turns = max_turns
        engine = {"limit_mm_per_prompt": {"image": max_images + max_turns, "video": 0}, **engine}
        self.llm = LLM(model=str(model), **engine)
        self.sampling = SamplingParams(temperature=0.0, max_tokens=max_tokens)

    def inspect(self, batch: Sequence[Any]) -> list[Inspection]:
        """Every sample of ``batch`` (``evaluation.runner.Sample`` with ``tools_kwargs``) to its final turn."""
        return asyncio.run(self._inspect(batch))

    async def _inspect(self, batch: Sequence[Any]) -> list[Inspection]:
        from PIL import Image
        from verl.experimental.agent_loop.tool_agent_loop import AgentData

        states = []
        for sample in batch:
            images = [Image.open(io.BytesIO(data)).convert("RGB") for data in sample.images]
            messages = [{"role": "system", "content": sample.system}, _user_turn(sample.prompt_text)]
            agent = AgentData(messages, images, None, None, None, {}, f"eval-{sample.index}", sample.tools_kwargs)
            states.append((Inspection(), agent))
        active = list(range(len(states)))
        for _ in range(self.max_turns):
            if not active:
                break
            prompts = [self._prompt(states[i][1]) for i in active]
            outputs = self.llm.generate(prompts, self.sampling, use_tqdm=False)
            still = []
            for i, output in zip(active, outputs, strict=True):
                inspection, agent = states[i]
                text, ids = output.outputs[0].text, list(output.outputs[0].token_ids)
                inspection.turns.append(text)
                agent.messages.append({"role": "assistant", "content": text})
                _, calls = await self.parser.extract_tool_calls(ids, None)
                if calls:
                    await self._call(calls[0], inspection, agent)  # one call a turn: verl's max_parallel_calls
                    still.append(i)
            active = still
        for inspection, agent in states:
            inspection.fields = dict(agent.extra_fields)
        return [inspection for inspection, _ in states]

    def _prompt(self, agent: Any) -> dict[str, Any]:
        text = self.processor.apply_chat_template(agent.messages, tokenize=False, add_generation_prompt=True)
        return {"prompt": text, "multi_modal_data": {"image": list(agent.image_data)}}

    async def _call(self, call: Any, inspection: Inspection, agent: Any) -> None:
        """Run one call as verl's tool agent loop does; its answer becomes the tool's turn."""
        tool = self.tools.get(call.name)
        try:
            arguments = json.loads(call.arguments)
        except (json.JSONDecodeError, TypeError) as error:
            arguments, text, images = call.arguments, f"Invalid JSON in arguments for '{call.name}': {error}", []
        else:
            if tool is None:
                text, images = f"Unknown function '{call.name}'. Available tools: {list(self.tools)}", []
            else:
                instance, _ = await tool.create(
                    create_kwargs=(agent.tools_kwargs.get(call.name) or {}).get("create_kwargs", {})
                )
                try:
                    response, _, _ = await tool.execute(instance, arguments, agent_data=agent)
                finally:
                    await tool.release(instance)
                text, images = response.text or "", list(response.image or [])
        inspection.calls.append({"name": call.name, "arguments": arguments, "result": text})
        content = [{"type": "image"} for _ in images] + [{"type": "text", "text": text}]
        agent.messages.append({"role": "tool", "content": content})
        agent.image_data.extend(images)


def _user_turn(prompt_text: str) -> dict[str, Any]:
    """The row's user turn with an image part per ``<image>``, in the order of the row's images."""
    from data_prep.prompts import IMAGE_PLACEHOLDER

    content: list[dict[str, Any]] = []
    pieces = prompt_text.split(IMAGE_PLACEHOLDER)
    for position, piece in enumerate(pieces):
        if piece:
            content.append({"type": "text", "text": piece})
        if position < len(pieces) - 1:
            content.append({"type": "image"})
    return {"role": "user", "content": content}


def tool_metrics(records: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Calls and errors per sample, how often the policy zoomed, and the zoom's IoU with the defect (anomalous
    samples: mean over those it zoomed on, and over all, a sample without a zoom counting 0); None without tools."""
    used = [record for record in records if "tool_calls" in record]
    if not used:
        return None
    anomalous = [record for record in used if record.get("crop_iou") is not None]
    zoomed = [record["crop_iou"] for record in anomalous if record.get("zoom")]
    names = [call["name"] for record in used for call in record["tool_calls"]]
    return {
        "n": len(used),
        "calls_per_sample": sum(record["n_calls"] for record in used) / len(used),
        "tool_errors_per_sample": sum(record["n_tool_errors"] for record in used) / len(used),
        "calls_by_tool": {name: names.count(name) for name in sorted(set(names))},
        "zoom_rate": sum(1 for record in used if record.get("zoom")) / len(used),
        "crop_iou_zoomed": sum(zoomed) / len(zoomed) if zoomed else math.nan,
        "crop_iou_anomalous": sum(record["crop_iou"] for record in anomalous) / len(anomalous)
        if anomalous
        else math.nan,
        "n_anomalous": len(anomalous),
    }
