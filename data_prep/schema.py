"""The parquet row format: exactly verl's multimodal RLHF schema, with our metadata in ``extra_info``.

verl's ``RLHFDataset`` reads ``prompt`` (a chat list whose user content holds one ``<image>`` per image, in
order) and ``images`` (a list of ``{"bytes": ...}``); its reward managers pass ``data_source``,
``reward_model.ground_truth`` and ``extra_info`` to the reward function. An explicit Arrow schema keeps every
file's types identical, whatever rows it holds (a column that is all null would otherwise change type).
"""

from __future__ import annotations

from typing import Any, Final

import pyarrow as pa

ABILITY: Final = "industrial_anomaly_detection"
REWARD_STYLE: Final = "rule"

EXTRA_INFO_TYPE: Final = pa.struct(
    [
        ("split", pa.string()),
        ("index", pa.int64()),
        ("protocol", pa.string()),
        ("dataset", pa.string()),
        ("category", pa.string()),
        ("label", pa.string()),  # normal | anomalous
        ("sample_class", pa.string()),  # normal | anomalous, or normal | structural | logical for pair3c
        ("defect_type", pa.string()),  # read by nothing yet; kept for per-defect metrics (MMAD, issue 15)
        ("anomaly_kind", pa.string()),  # logical | structural on LOCO, null elsewhere; kept for per-kind metrics
        ("answer_text", pa.string()),  # the right option's words, e.g. "defect": for people reading rows, galleries
        ("options", pa.list_(pa.struct([("key", pa.string()), ("text", pa.string())]))),
        ("query_image", pa.string()),  # relative to the dataset root
        ("reference_images", pa.list_(pa.string())),
        ("mask_images", pa.list_(pa.string())),  # the ground-truth masks: boxes and IoU rewards (issue 16)
        ("task", pa.string()),  # MMAD's question type; null for the papers' protocols
        ("question_id", pa.string()),  # MMAD: <image path>#<position in its conversation>; null elsewhere
        # the query's defect boxes [x1, y1, x2, y2] in pixels of the stored query image (data_prep.boxes), [] for a
        # normal image, and that image's (width, height): with --grounding, the model's own frame
        ("boxes", pa.list_(pa.list_(pa.int64()))),
        ("query_size", pa.list_(pa.int64())),
        # --tools: what verl's tool agent loop hands each tool's ``create`` (``agent_tools``); null without --tools
        (
            "tools_kwargs",
            pa.struct(
                [
                    ("zoom", pa.struct([("create_kwargs", pa.struct([("query_index", pa.int64())]))])),
                    ("reference", pa.struct([("create_kwargs", pa.struct([("category", pa.string())]))])),
                ]
            ),
        ),
    ]
)

ROW_SCHEMA: Final = pa.schema(
    [
        ("data_source", pa.string()),
        ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("images", pa.list_(pa.struct([("bytes", pa.binary())]))),
        ("ability", pa.string()),
        ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
        ("extra_info", EXTRA_INFO_TYPE),
    ]
)
COLUMNS: Final = tuple(ROW_SCHEMA.names)
# --tools rows name the verl agent loop that runs them (verl reads ``agent_name`` per row; agent_tools registers it)
INSPECTION_AGENT: Final = "iad_inspection_agent"
TOOLS_ROW_SCHEMA: Final = ROW_SCHEMA.append(pa.field("agent_name", pa.string()))


def make_row(
    *,
    protocol: str,
    prompt_text: str,
    images: list[bytes],
    ground_truth: str,
    extra_info: dict[str, Any],
    system_text: str | None = None,
) -> dict[str, Any]:
    """One parquet row; ``data_source`` is the protocol, which is what the reward function dispatches on."""
    system = [{"role": "system", "content": system_text}] if system_text else []
    return {
        "data_source": protocol,
        "prompt": [*system, {"role": "user", "content": prompt_text}],
        "images": [{"bytes": data} for data in images],
        "ability": ABILITY,
        "reward_model": {"style": REWARD_STYLE, "ground_truth": ground_truth},
        "extra_info": extra_info,
    }
