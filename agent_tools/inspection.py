"""``zoom`` and ``reference``: verl ``BaseTool`` subclasses for the multi-turn tool agent loop.

They are listed in the ``tools.yaml`` an ``iad-data build --tools`` writes (``data_prep.tools``), the file
``actor_rollout_ref.rollout.multi_turn.tool_config_path`` names; their schemas, the budget and the system prompt that
offers them are in ``data_prep.prompts``. verl's tool agent loop creates, executes and releases a tool for every call,
passing the rollout's ``AgentData``; what lasts across calls of one rollout lives in ``agent_data.extra_fields``,
under the keys of ``rewards.tool_use``, which is also how the reward and the metrics learn what the tools did. A row
tells the tools about itself through ``extra_info.tools_kwargs[<tool>]["create_kwargs"]``:

- ``zoom``: ``{"query_index": k}``, the position of the query among the row's images (references come first). Its
  argument ``bbox_2d`` is in the query's pixels as the model sees it (the frame of ``data_prep.boxes``); the crop
  comes back enlarged so that its longer side is the query's longer side.
- ``reference``: ``{"category": c}``; it answers with a normal image of that category from the pool the tool config
  names (``pool``: ``data_prep.tools.write_reference_pool``, a training file's normal images only).

Bad arguments get a message the model can read (counted in ``iad_tool_errors``), never an exception; each rollout
has a budget of ``max_calls`` calls over both tools (tool config, default ``TOOL_CALL_BUDGET``), after which every
call is refused with a message.
"""

from __future__ import annotations

import io
import json
import math
import random
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Final

from PIL import Image
from verl.tools.base_tool import BaseTool
from verl.tools.schemas import OpenAIFunctionToolSchema, ToolResponse

from data_prep.prompts import REFERENCE_SCHEMA, TOOL_CALL_BUDGET, ZOOM_SCHEMA, object_name, plain
from rewards.tool_use import (
    LAST_ZOOM_KEY,
    REFERENCE_CALLS_KEY,
    TOOL_CALLS_KEY,
    TOOL_ERRORS_KEY,
    TOOL_FIELDS,
    ZOOM_CALLS_KEY,
)

MIN_ZOOM_SIDE: Final = 28  # one merged Qwen2.5-VL patch: a smaller crop shows the model nothing new


def _count(agent_data: Any, key: str) -> int:
    fields = agent_data.extra_fields
    for name, initial in TOOL_FIELDS.items():
        fields.setdefault(name, initial)
    fields[key] += 1
    return fields[key]


class _InspectionTool(BaseTool):
    """Per-call state: the row's create_kwargs, kept from ``create`` to ``execute``."""

    schema: Mapping[str, Any] = {}

    def __init__(self, config: dict, tool_schema: OpenAIFunctionToolSchema | None = None) -> None:
        super().__init__(config, tool_schema or OpenAIFunctionToolSchema.model_validate(plain(self.schema)))
        self.max_calls = int(config.get("max_calls", TOOL_CALL_BUDGET))
        self._instances: dict[str, dict[str, Any]] = {}

    async def create(self, instance_id: str | None = None, **kwargs: Any) -> tuple[str, ToolResponse]:
        instance_id, response = await super().create(instance_id)
        self._instances[instance_id] = dict(kwargs.get("create_kwargs") or {})
        return instance_id, response

    async def release(self, instance_id: str, **kwargs: Any) -> None:
        self._instances.pop(instance_id, None)

    async def execute(
        self, instance_id: str, parameters: dict[str, Any], **kwargs: Any
    ) -> tuple[ToolResponse, float, dict[str, Any]]:
        """Count the call against the rollout's budget, then run the tool (``_run``) unless it is spent; an error
        is a text answer (and a count), never an exception."""
        agent_data = kwargs["agent_data"]
        if _count(agent_data, TOOL_CALLS_KEY) > self.max_calls:
            result: ToolResponse | str = (
                f"No more tool calls: this inspection allows {self.max_calls}. Give your answer now."
            )
        else:
            result = self._run(self._instances.get(instance_id, {}), parameters, agent_data)
        if isinstance(result, str):
            _count(agent_data, TOOL_ERRORS_KEY)
            return ToolResponse(text=result), 0.0, {"tool_errors": 1}
        return result, 0.0, {"tool_errors": 0}

    def _run(self, row: dict[str, Any], parameters: dict[str, Any], agent_data: Any) -> ToolResponse | str:
        """The tool's answer, or the error message for the model."""
        raise NotImplementedError


def parse_box(value: Any, size: tuple[int, int]) -> tuple[int, int, int, int] | str:
    """``value`` as a box inside an image of ``size`` (width, height), or the reason it is not one."""
    if not isinstance(value, list | tuple) or len(value) != 4:
        return "bbox_2d must be a list of four numbers [x1, y1, x2, y2]"
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        return "bbox_2d must hold four finite numbers"
    x1, y1, x2, y2 = (round(v) for v in value)
    if x1 >= x2 or y1 >= y2:
        return "bbox_2d must have x1 < x2 and y1 < y2"
    if x2 <= 0 or y2 <= 0 or x1 >= size[0] or y1 >= size[1]:
        return f"bbox_2d {list(value)} lies outside the query image ({size[0]} x {size[1]} pixels)"
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(size[0], x2), min(size[1], y2)
    if min(x2 - x1, y2 - y1) < MIN_ZOOM_SIDE:
        return f"the box is smaller than {MIN_ZOOM_SIDE} pixels on a side inside the image: zoom on a larger area"
    return x1, y1, x2, y2


class ZoomTool(_InspectionTool):
    """Crop the query image to ``bbox_2d`` and return it enlarged."""

    schema = ZOOM_SCHEMA

    def _run(self, row: dict[str, Any], parameters: dict[str, Any], agent_data: Any) -> ToolResponse | str:
        query_index = int(row.get("query_index", 0))
        images: Sequence[Image.Image] = agent_data.image_data or []
        if not 0 <= query_index < len(images):
            return "zoom: this sample has no query image to zoom into"
        query = images[query_index]
        box = parse_box(parameters.get("bbox_2d"), query.size)
        if isinstance(box, str):
            return f"zoom: {box}"
        crop = query.crop(box)
        scale = max(query.size) / max(crop.size)
        crop = crop.resize((max(1, round(crop.width * scale)), max(1, round(crop.height * scale))))
        _count(agent_data, ZOOM_CALLS_KEY)
        agent_data.extra_fields[LAST_ZOOM_KEY] = json.dumps({"box": list(box), "size": list(query.size)})
        return ToolResponse(image=[crop], text=f"Zoomed into {list(box)}.")


@cache
def _pool(path: str) -> dict[str, list[bytes]]:
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["category", "image"]).to_pylist()
    pool: dict[str, list[bytes]] = {}
    for row in table:
        pool.setdefault(row["category"], []).append(row["image"])
    return pool


class ReferenceTool(_InspectionTool):
    """A normal image of the sample's category from the training pool, drawn per rollout."""

    schema = REFERENCE_SCHEMA

    def __init__(self, config: dict, tool_schema: OpenAIFunctionToolSchema | None = None) -> None:
        super().__init__(config, tool_schema)
        if not config.get("pool") or not Path(config["pool"]).is_file():
            raise ValueError(
                "the reference tool needs config.pool, a parquet of normal training images (iad-data build --tools "
                f"writes one, and tools.yaml naming it); "
                f"got {config.get('pool')!r}"
            )

    def _run(self, row: dict[str, Any], parameters: dict[str, Any], agent_data: Any) -> ToolResponse | str:
        category = row.get("category")
        candidates = _pool(str(self.config["pool"])).get(category or "", [])
        if not candidates:
            return f"reference: no normal image of {category!r} to show"
        rng = random.Random(f"{agent_data.request_id}:{agent_data.extra_fields[TOOL_CALLS_KEY]}")
        image = Image.open(io.BytesIO(rng.choice(candidates))).convert("RGB")
        _count(agent_data, REFERENCE_CALLS_KEY)
        return ToolResponse(image=[image], text=f"A normal {object_name(category)}.")
