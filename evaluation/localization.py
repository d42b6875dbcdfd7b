"""Localization metrics of a grounded evaluation (rows built with ``iad-data build --grounding``).

Per anomalous image, its IoU is the recall-IoU of ``rewards.localization``: each true box's best IoU with a
predicted box, averaged over the true boxes (0 without a well-formed box). Reported per category and overall:

- ``mean_iou``: the mean of that IoU over the anomalous images;
- ``acc@0.1``, ``acc@0.3``, ``acc@0.5``: the share of anomalous images whose IoU reaches 0.1 / 0.3 / 0.5
  (AD-Copilot's MMAD-BBox thresholds);
- ``normal_boxed``: the share of normal images given a box (a false alarm with a place);

each with a 95% percentile bootstrap interval over the images of its group.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from evaluation.metrics import OVERALL, bootstrap_ci
from rewards.localization import iou

THRESHOLDS: Final = (0.1, 0.3, 0.5)


def image_iou(predicted: Sequence[Sequence[float]], truth: Sequence[Sequence[int]]) -> float:
    """Each true box's best IoU with a predicted box, averaged over the true boxes; 0 without predictions."""
    if not predicted or not truth:
        return 0.0
    return sum(max(iou(box, true) for box in predicted) for true in truth) / len(truth)


def _anomalous(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [record for record in records if record["true_boxes"]]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


# metric -> (the images it is over, its value on a list of them): intervals resample those images only
_ANOMALOUS, _NORMAL = True, False
_STATISTICS: Final[dict[str, tuple[bool, Callable[[Sequence[Mapping[str, Any]]], float]]]] = {
    "mean_iou": (_ANOMALOUS, lambda records: _mean([record["iou"] for record in records])),
    **{
        f"acc@{t}": (_ANOMALOUS, lambda records, t=t: _mean([float(record["iou"] >= t) for record in records]))
        for t in THRESHOLDS
    },
    "normal_boxed": (_NORMAL, lambda records: _mean([float(bool(record["pred_boxes"])) for record in records])),
}


def localization_metrics(records: Sequence[Mapping[str, Any]], seed: int = 0) -> dict[str, dict[str, Any]]:
    """``{category | "overall": {metric: value, metric + "_ci": [low, high], "n_anomalous", "n_normal"}}`` for
    the records that carry boxes; {} when none does (a run on rows built without --grounding). Intervals resample
    the anomalous images (IoU metrics) or the normal ones (boxes on normal images)."""
    grounded = [record for record in records if "true_boxes" in record]
    if not grounded:
        return {}
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for record in grounded:
        groups.setdefault(str(record["category"]), []).append(record)
    groups[OVERALL] = grounded
    result = {}
    for name in sorted(groups, key=lambda group: (group == OVERALL, group)):
        anomalous = _anomalous(groups[name])
        normal = [record for record in groups[name] if not record["true_boxes"]]
        row: dict[str, Any] = {"n_anomalous": len(anomalous), "n_normal": len(normal)}
        for metric, (over_anomalous, statistic) in _STATISTICS.items():
            members = anomalous if over_anomalous else normal
            row[metric] = statistic(members)
            interval = bootstrap_ci(members, statistic, seed=seed) if members else (float("nan"), float("nan"))
            row[f"{metric}_ci"] = list(interval)
        result[name] = row
    return result
