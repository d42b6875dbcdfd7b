"""Where the defect is: the boxes an answer gives, scored against the row's ground-truth boxes (``extra_info.boxes``,
``data_prep.boxes``), both ``[x1, y1, x2, y2]`` in pixels of the query image as the model sees it.

A box counts only inside the ``<answer>`` block, as ``{"bbox_2d": [x1, y1, x2, y2]}`` (Qwen2.5-VL's grounding
form). The score, in [0, 1]:

- 0 on a normal image, box or not (the accuracy term pays for calling it normal), and 0 without a box on an
  anomalous one;
- 0 when any box is malformed (not four finite numbers), empty or inverted (x1 >= x2 or y1 >= y2), outside the
  image (negative, or beyond its width or height), or when there are more than ``MAX_BOXES``;
- else the mean of a precision term (each predicted box's best IoU with a true box, averaged over predicted boxes)
  and a recall term (each true box's best IoU with a predicted box, averaged over true boxes): extra boxes lower
  the first, missed defects the second, and a box over the whole image has the IoU of its area ratio.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Final

MAX_BOXES: Final = 4
_BBOX: Final = re.compile(r'"bbox_2d"\s*:\s*\[([^\[\]]*)\]')
_MENTION: Final = re.compile(r"bbox_2d")

Box = tuple[float, float, float, float]


def parse_boxes(answer: str) -> list[Box] | None:
    """The boxes ``answer`` gives; None when one of them is not four finite numbers."""
    boxes = []
    for match in _BBOX.finditer(answer):
        parts = [part.strip() for part in match[1].split(",")]
        try:
            values = [float(part) for part in parts]
        except ValueError:
            return None
        if len(values) != 4 or not all(math.isfinite(value) for value in values):
            return None
        boxes.append((values[0], values[1], values[2], values[3]))
    if len(boxes) != len(_MENTION.findall(answer)):  # a bbox_2d that is not a list of numbers
        return None
    return boxes


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes in pixel-edge coordinates."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, width) * max(0.0, height)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _valid(box: Box, size: Sequence[int]) -> bool:
    x1, y1, x2, y2 = box
    return 0 <= x1 < x2 <= size[0] and 0 <= y1 < y2 <= size[1]


def localization_score(answer: str | None, truth: Sequence[Sequence[int]], size: Sequence[int]) -> float:
    """The localization term of ``answer`` (the answer block's text, None without one); see the module doc."""
    if not truth or not answer:
        return 0.0
    boxes = parse_boxes(answer)
    if not boxes or len(boxes) > MAX_BOXES or not all(_valid(box, size) for box in boxes):
        return 0.0
    precision = sum(max(iou(box, true) for true in truth) for box in boxes) / len(boxes)
    recall = sum(max(iou(box, true) for box in boxes) for true in truth) / len(truth)
    return (precision + recall) / 2


def predicted_boxes(answer: str | None) -> list[Box]:
    """The well-formed boxes of an answer, for metrics and pictures ([] when there are none or any is malformed)."""
    return (parse_boxes(answer) or []) if answer else []
