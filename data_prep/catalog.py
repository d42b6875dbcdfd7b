"""The three datasets as distributed: categories, defect types and split sizes.

This is the single source of truth for category lists. Readers (``data_prep``), the synthetic
generators (``synthetic``) and the evaluator import from here; nothing else spells a category name.
Layouts are the official downloads', read as anomalib's parsers read them (``data_prep/readers.py``).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

IMG_EXTENSIONS: Final = (".png", ".PNG", ".jpg", ".JPG", ".jpeg", ".JPEG", ".bmp", ".tif", ".tiff")

# MVTec AD: <cat>/train/good, <cat>/test/{good,<defect>}, <cat>/ground_truth/<defect>/NNN_mask.png
MVTEC_AD_DEFECTS: Final = MappingProxyType(
    {
        "bottle": ("broken_large", "broken_small", "contamination"),
        "cable": (
            "bent_wire",
            "cable_swap",
            "combined",
            "cut_inner_insulation",
            "cut_outer_insulation",
            "missing_cable",
            "missing_wire",
            "poke_insulation",
        ),
        "capsule": ("crack", "faulty_imprint", "poke", "scratch", "squeeze"),
        "carpet": ("color", "cut", "hole", "metal_contamination", "thread"),
        "grid": ("bent", "broken", "glue", "metal_contamination", "thread"),
        "hazelnut": ("crack", "cut", "hole", "print"),
        "leather": ("color", "cut", "fold", "glue", "poke"),
        "metal_nut": ("bent", "color", "flip", "scratch"),
        "pill": ("color", "combined", "contamination", "crack", "faulty_imprint", "pill_type", "scratch"),
        "screw": ("manipulated_front", "scratch_head", "scratch_neck", "thread_side", "thread_top"),
        "tile": ("crack", "glue_strip", "gray_stroke", "oil", "rough"),
        "toothbrush": ("defective",),
        "transistor": ("bent_lead", "cut_lead", "damaged_case", "misplaced"),
        "wood": ("color", "combined", "hole", "liquid", "scratch"),
        "zipper": (
            "broken_teeth",
            "combined",
            "fabric_border",
            "fabric_interior",
            "rough",
            "split_teeth",
            "squeezed_teeth",
        ),
    }
)
MVTEC_AD_CATEGORIES: Final = tuple(MVTEC_AD_DEFECTS)

# VisA: <cat>/Data/Images/{Normal,Anomaly}/*.JPG, <cat>/Data/Masks/Anomaly/*.png (pixel = defect class id),
# split_csv/{1cls,2cls_fewshot,2cls_highshot}.csv with header object,split,label,image,mask.
VISA_CATEGORIES: Final = (
    "candle",
    "capsules",
    "cashew",
    "chewinggum",
    "fryum",
    "macaroni1",
    "macaroni2",
    "pcb1",
    "pcb2",
    "pcb3",
    "pcb4",
    "pipe_fryum",
)
VISA_SPLIT_FILES: Final = ("1cls.csv", "2cls_fewshot.csv", "2cls_highshot.csv")
VISA_SPLIT_HEADER: Final = ("object", "split", "label", "image", "mask")
VISA_LABELS: Final = ("normal", "anomaly")

# MVTec LOCO AD: <cat>/{train,validation}/good, <cat>/test/{good,logical_anomalies,structural_anomalies},
# <cat>/ground_truth/<type>/<image_stem>/{000,001,...}.png, <cat>/defects_config.json.
LOCO_CATEGORIES: Final = ("breakfast_box", "juice_bottle", "pushpins", "screw_bag", "splicing_connectors")
LOCO_ANOMALY_KINDS: Final = ("logical_anomalies", "structural_anomalies")
LOCO_TEST_CLASSES: Final = ("good", *LOCO_ANOMALY_KINDS)

# Official split sizes (MVTec LOCO AD paper, Table 1; FAD-TQ paper, Table 1).
LOCO_COUNT_KEYS: Final = ("train", "validation", "good", "structural_anomalies", "logical_anomalies")
_LOCO_COUNT_ROWS = {
    "breakfast_box": (351, 62, 102, 90, 83),
    "juice_bottle": (335, 54, 94, 94, 142),
    "pushpins": (372, 69, 138, 81, 91),
    "screw_bag": (360, 60, 122, 82, 137),
    "splicing_connectors": (354, 59, 119, 85, 108),
}
LOCO_SPLIT_COUNTS: Final = MappingProxyType(
    {category: dict(zip(LOCO_COUNT_KEYS, row, strict=True)) for category, row in _LOCO_COUNT_ROWS.items()}
)

DATASETS: Final = MappingProxyType(
    {"mvtec_ad": MVTEC_AD_CATEGORIES, "visa": VISA_CATEGORIES, "mvtec_loco": LOCO_CATEGORIES}
)


def validate_categories(dataset: str, requested: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Return the requested categories in catalog order, or all of them; unknown names list the valid ones."""
    if dataset not in DATASETS:
        raise ValueError(f"Unknown dataset {dataset!r}; valid datasets: {', '.join(DATASETS)}")
    valid = DATASETS[dataset]
    if not requested:
        return valid
    unknown = [name for name in requested if name not in valid]
    if unknown:
        raise ValueError(f"Unknown {dataset} categories {unknown}; valid categories: {', '.join(valid)}")
    return tuple(name for name in valid if name in set(requested))
