"""What a ``--tools`` build writes beside its parquet files: the reference tool's image pool and verl's tool config.

The pool holds the normal images of the training file only (its references and its normal queries), by category:
the ``reference`` tool draws from nothing else, so it can never show a test image. ``tools.yaml`` is the file
``actor_rollout_ref.rollout.multi_turn.tool_config_path`` names: verl's tool registry instantiates the classes it
lists (``agent_tools.inspection``) with their ``config``, the pool's absolute path among them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.parquet as pq

from data_prep.prompts import REFERENCE_SCHEMA, TOOL_CALL_BUDGET, ZOOM_SCHEMA, plain

POOL_NAME: Final = "reference_pool.parquet"
TOOL_CONFIG_NAME: Final = "tools.yaml"
POOL_SCHEMA: Final = pa.schema([("category", pa.string()), ("image", pa.binary())])
TOOL_CLASSES: Final = (
    ("agent_tools.inspection.ZoomTool", ZOOM_SCHEMA),
    ("agent_tools.inspection.ReferenceTool", REFERENCE_SCHEMA),
)


def write_reference_pool(train_parquet: Path, out: Path) -> int:
    """Write the normal images of ``train_parquet`` (each once, in row order) to ``out``; how many there are."""
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
    pq.write_table(pa.Table.from_pylist(pool, schema=POOL_SCHEMA), out)
    return len(pool)


def tool_config_text(pool: Path, max_calls: int = TOOL_CALL_BUDGET) -> str:
    """verl's tool config for the two inspection tools (YAML; JSON values are YAML)."""
    lines = ["# Written by iad-data build --tools: verl's multi_turn.tool_config_path (data_prep/tools.py)", "tools:"]
    for class_name, schema in TOOL_CLASSES:
        config = {"type": "native", "max_calls": max_calls}
        if schema is REFERENCE_SCHEMA:
            config["pool"] = str(Path(pool).resolve())
        lines += [
            f"  - class_name: {class_name}",
            f"    config: {json.dumps(config)}",
            f"    tool_schema: {json.dumps(plain(schema))}",
        ]
    return "\n".join(lines) + "\n"
