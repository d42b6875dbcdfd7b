"""``zoom`` and ``reference``: verl ``BaseTool`` subclasses for the multi-turn tool agent loop.

They are named in the file ``actor_rollout_ref.rollout.multi_turn.tool_config_path`` points to. verl's tool agent
loop creates, executes and releases a tool for every call, passing the rollout's ``AgentData``; what lasts across
calls of one rollout (the calls made so far) lives in ``agent_data.extra_fields``. A row tells the tools
about itself through ``extra_info.tools_kwargs[<tool>]["create_kwargs"]``:

- ``zoom``: ``{"query_index": k}``, the position of the query among the row's images (references come first). Its
  argument ``bbox_2d`` is in the query's pixels as the model sees it (the frame of ``data_prep.boxes``); the crop
  comes back enlarged so that its longer side is the query's longer side.
- ``reference``: ``{"category": c}``; it answers with a normal image of that category from the pool the tool config
  names (``pool``: a parquet from ``write_reference_pool``, made of a training file's normal images only).

Bad arguments get a message the model can read (and a ``tool_errors`` metric), never an exception; each rollout
has a budget of ``max_calls`` calls over both tools (tool config, default ``MAX_CALLS``), after which every call
is refused with a message.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, Final

from PIL import Image
from verl.tools.base_tool import BaseTool
from verl.tools.schemas import OpenAIFunctionToolSchema, ToolResponse

MAX_CALLS: Final = 4
MIN_ZOOM_SIDE: Final = 28  # one merged Qwen2.5-VL patch: a smaller crop shows the model nothing new
CALLS_KEY: Final = "iad_tool_calls"  # in AgentData.extra_fields: calls this rollout has made

ZOOM_SCHEMA: Final = {
    "type": "function",
    "function": {
        "name": "zoom",
        "description": "Look closer: crop the query image to a box (pixels of the query image) and see it enlarged.",
        "parameters": {
            "type": "object",
            "properties": {
                "bbox_2d": {
                    "type": "array",
                    "items": {"type": "number"},
                    "description": "[x1, y1, x2, y2] in pixels of the query image",
                }
            },
            "required": ["bbox_2d"],
        },
    },
}
REFERENCE_SCHEMA: Final = {
    "type": "function",
    "function": {
        "name": "reference",
        "description": "See one more normal (defect-free) image of the same product, to compare with.",
        "parameters": {"type": "object", "properties": {}, "required": []},
    },
}


def _error(text: str) -> tuple[ToolResponse, float, dict[str, Any]]:
    return ToolResponse(text=text), 0.0, {"tool_errors": 1}


def _spend_call(agent_data: Any, max_calls: int) -> str | None:
    """Count one call against the rollout's budget; the refusal text once it is spent."""
    fields = agent_data.extra_fields
    fields[CALLS_KEY] = fields.get(CALLS_KEY, 0) + 1
    if fields[CALLS_KEY] > max_calls:
        return f"No more tool calls: this inspection allows {max_calls}. Give your answer now."
    return None


class _InspectionTool(BaseTool):
    """Per-call state: the row's create_kwargs, kept from ``create`` to ``execute``."""

    schema: dict[str, Any] = {}

    def __init__(self, config: dict, tool_schema: OpenAIFunctionToolSchema | None = None) -> None:
        super().__init__(config, tool_schema or OpenAIFunctionToolSchema.model_validate(self.schema))
        self.max_calls = int(config.get("max_calls", MAX_CALLS))
        self._instances: dict[str, dict[str, Any]] = {}

    async def create(self, instance_id: str | None = None, **kwargs: Any) -> tuple[str, ToolResponse]:
        instance_id, response = await super().create(instance_id)
        self._instances[instance_id] = dict(kwargs.get("create_kwargs") or {})
        return instance_id, response

    async def release(self, instance_id: str, **kwargs: Any) -> None:
        self._instances.pop(instance_id, None)

    async def execute(self, instance_id: str, parameters: dict[str, Any], **kwargs: Any):
        """Count the call against the rollout's budget, then run the tool (``_run``) unless it is spent."""
        agent_data = kwargs["agent_data"]
        refused = _spend_call(agent_data, self.max_calls)
        if refused:
            return _error(refused)
        return self._run(self._instances.get(instance_id, {}), parameters, agent_data)

    def _run(self, row: dict[str, Any], parameters: dict[str, Any], agent_data: Any):
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

    def _run(self, row: dict[str, Any], parameters: dict[str, Any], agent_data: Any):
        query_index = int(row.get("query_index", 0))
        images: Sequence[Image.Image] = agent_data.image_data or []
        if not 0 <= query_index < len(images):
            return _error("zoom: this sample has no query image to zoom into")
        query = images[query_index]
        box = parse_box(parameters.get("bbox_2d"), query.size)
        if isinstance(box, str):
            return _error(f"zoom: {box}")
        crop = query.crop(box)
        scale = max(query.size) / max(crop.size)
        crop = crop.resize((max(1, round(crop.width * scale)), max(1, round(crop.height * scale))))
        return ToolResponse(image=[crop], text=f"Zoomed into {list(box)}."), 0.0, {"zoom_calls": 1, "tool_errors": 0}


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
                f"the reference tool needs config.pool, a parquet of normal training images (write_reference_pool); "
                f"got {config.get('pool')!r}"
            )

    def _run(self, row: dict[str, Any], parameters: dict[str, Any], agent_data: Any):
        category = row.get("category")
        candidates = _pool(str(self.config["pool"])).get(category or "", [])
        if not candidates:
            return _error(f"reference: no normal image of {category!r} to show")
        rng = random.Random(f"{agent_data.request_id}:{agent_data.extra_fields[CALLS_KEY]}")
        image = Image.open(io.BytesIO(rng.choice(candidates))).convert("RGB")
        return ToolResponse(image=[image], text=f"A normal {category}."), 0.0, {"reference_calls": 1, "tool_errors": 0}


def write_reference_pool(train_parquet: Path, out: Path) -> Path:
    """The normal images of a training file (its references, and its normal queries), by category: the only
    images ``reference`` shows, so it can never show a test image."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from data_prep.outputs import atomic_path

    rows = pq.read_table(train_parquet, columns=["images", "extra_info"]).to_pylist()
    seen: set[bytes] = set()
    pool = []
    for row in rows:
        info, images = row["extra_info"], [image["bytes"] for image in row["images"]]
        normal = images[:-1] + (images[-1:] if info["label"] == "normal" else [])
        for data in normal:
            if data not in seen:
                seen.add(data)
                pool.append({"category": info["category"], "image": data})
    with atomic_path(out) as temporary:
        pq.write_table(pa.Table.from_pylist(pool), temporary)
    return out
