"""MMAD's fixed vocabulary (jam-cc/MMAD): its dataset folders, task names, answer letters and scoring conventions.

The one place these facts live: the MMAD protocol (``data_prep.mmad``), its reward and ``evaluation.mmad`` (the
official scorer, reimplemented) import them from here.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

# The datasets whose images MMAD asks about, in the published tables' row order; the first component of an MMAD
# image path. MVTec-AD is a folder too, but only for DS-MVTec's templates (its train/good images).
QUERY_DATASETS: Final = ("DS-MVTec", "MVTec-LOCO", "VisA", "GoodsAD")
TEMPLATE_ONLY_DATASETS: Final = ("MVTec-AD",)
FOLDERS: Final = (*QUERY_DATASETS, *TEMPLATE_ONLY_DATASETS)

# ``type`` of a question in mmad.json, in the order of the published tables' columns.
TASKS: Final = (
    "Anomaly Detection",
    "Defect Classification",
    "Defect Localization",
    "Defect Description",
    "Defect Analysis",
    "Object Classification",
    "Object Structure",
    "Object Details",
)
OBJECT_ANALYSIS: Final = "Object Analysis"
ANOMALY_DETECTION: Final = TASKS[0]
# The official scorer reports Object Structure and Object Details together as Object Analysis.
SCORED_AS: Final = MappingProxyType({"Object Structure": OBJECT_ANALYSIS, "Object Details": OBJECT_ANALYSIS})
TASK_COLUMNS: Final = tuple(dict.fromkeys(SCORED_AS.get(task, task) for task in TASKS))
AVERAGE: Final = "Average"

# Answers the official scorer counts; anything else is dropped (``evaluation.mmad``).
LETTERS: Final = ("A", "B", "C", "D", "E")
# An Anomaly Detection answer is about a normal image when its path contains this (summary.py's normal_flag).
NORMAL_FLAG: Final = "good"
# domain_knowledge.json has no DS-MVTec entry: the official scripts look DS-MVTec objects up under MVTec.
DOMAIN_KNOWLEDGE_KEY: Final = MappingProxyType({"DS-MVTec": "MVTec"})
TEMPLATE_KINDS: Final = ("random", "similar")
# GoodsAD (Zhang et al., PKU-GoodsAD; MVTec AD's layout): its categories and defect folders, as MMAD's
# domain_knowledge.json names them.
GOODSAD_DEFECTS: Final = MappingProxyType(
    {
        "cigarette_box": ("opened",),
        "drink_bottle": ("surface_damage", "cap_open", "cap_half_open"),
        "drink_can": ("straw_missing", "surface_damage", "deformation"),
        "food_bottle": ("surface_damage", "deformation", "opened"),
        "food_box": ("surface_damage", "deformation", "opened"),
        "food_package": ("surface_anomaly", "broken"),
    }
)  # mmad.json's random_templates (the official default), similar_templates


def scored_task(task: str) -> str:
    """The column a question of ``task`` is scored in."""
    return SCORED_AS.get(task, task)
