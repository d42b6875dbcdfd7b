"""Procedural drawings of every catalog category, good or defective, with an exact mask per defect region.

A scene is a list of shapes in unit coordinates (fractions of the image side), so one description renders at any
size. Shapes that form one countable thing (a fruit, a pin, a cable) share an ``item`` id. A logical anomaly is an
edit of the description (an extra, missing, recoloured or moved item) and its mask is where the changed items show
before or after the edit. A structural anomaly is painted on the rendered pixels (scratch, crack, hole, colour blob,
cut-out chunk), clipped to the object it damages, and its mask is exactly the painted region. Drawings are a pure
function of the random generator passed in, which is what makes the written datasets reproducible.

The package: ``scene`` (shapes, rendering, scene edits), ``paint`` (structural defects on pixels), one module per
dataset with its categories' scenes (``mvtec_ad``, ``visa``, ``mvtec_loco`` with its logical rules), and here the
entry points that draw any catalog category by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import numpy as np
from PIL import Image

from data_prep.catalog import LOCO_ANOMALY_KINDS, MVTEC_AD_DEFECTS, validate_categories
from synthetic.drawing import mvtec_ad, mvtec_loco, visa
from synthetic.drawing.mvtec_loco import LOCO_DEFECTS
from synthetic.drawing.paint import Paint, paint_defect
from synthetic.drawing.scene import (
    Drawing,
    Edit,
    Region,
    Rng,
    Scene,
    SceneBuilder,
    items_of,
    items_visible,
    part_edit,
    render,
    surface_of,
)
from synthetic.drawing.visa import VISA_DEFECTS

__all__ = [
    "LOCO_DEFECTS",
    "VISA_DEFECTS",
    "Drawing",
    "Region",
    "Scene",
    "build_scene",
    "defect_types",
    "draw_defective",
    "draw_good",
    "op_for_defect",
    "render",
]

_OBJECT_SCENES: Final[Mapping[str, SceneBuilder]] = MappingProxyType({**mvtec_ad.SCENES, **visa.SCENES})

_KEYWORD_OPS: Final = (
    (("scratch", "cut", "thread"), "line"),
    (("crack", "broken"), "crack"),
    (("hole", "poke"), "dot"),
    (("color", "contamination", "glue", "oil", "liquid", "print"), "blob"),
    (("missing",), "remove"),
    (("misplaced", "bent"), "move"),
    (("flip", "swap", "type"), "recolour"),
)


def op_for_defect(defect: str) -> str:
    """The drawing op for an MVTec AD / VisA defect-type name, by keyword; unknown names get a scratch."""
    return next((op for keywords, op in _KEYWORD_OPS if any(k in defect for k in keywords)), "line")


# ----------------------------------------------------------------------------------------------------------------
# Public entry points


def _check(dataset: str, category: str) -> None:
    validate_categories(dataset, [category])


def defect_types(dataset: str, category: str) -> tuple[str, ...]:
    """The defect names a synthetic ``dataset``/``category`` draws (LOCO: logical ones first, then structural)."""
    _check(dataset, category)
    if dataset == "mvtec_ad":
        return MVTEC_AD_DEFECTS[category]
    if dataset == "visa":
        return VISA_DEFECTS
    return tuple(name for kind in LOCO_ANOMALY_KINDS for name in LOCO_DEFECTS[category][kind])


def build_scene(dataset: str, category: str, rng: Rng) -> Scene:
    """A fresh, defect-free scene of ``category`` (positions and shades vary with ``rng``)."""
    _check(dataset, category)
    builder = mvtec_loco.CATEGORIES[category].build if dataset == "mvtec_loco" else _OBJECT_SCENES[category]
    return builder(rng)


def draw_good(dataset: str, category: str, rng: Rng, size: int) -> Image.Image:
    """A defect-free image of ``category``."""
    return render(build_scene(dataset, category, rng), size)


def _plan(dataset: str, category: str, defect: str, scene: Scene) -> Edit | Paint:
    if defect not in defect_types(dataset, category):
        raise ValueError(
            f"Unknown {dataset}/{category} defect {defect!r}; valid: {', '.join(defect_types(dataset, category))}"
        )
    if dataset == "mvtec_loco":
        spec = mvtec_loco.CATEGORIES[category]
        return spec.logical.get(defect) or spec.structural[defect]
    op = op_for_defect(defect)
    if op in ("remove", "move", "recolour"):
        if items_of(scene, "part"):
            return part_edit(op)
        return Paint("chunk", fill=None if scene.texture else scene.background)
    return Paint(op)


def draw_defective(dataset: str, category: str, defect: str, rng: Rng, size: int, *, instances: int = 1) -> Drawing:
    """An image of ``category`` with ``defect``; ``instances`` > 1 asks for that many regions where it makes sense.

    The scene is drawn from ``rng`` first, so ``good`` equals ``draw_good`` for a generator in the same state."""
    scene = build_scene(dataset, category, rng)
    good = render(scene, size)
    plan = _plan(dataset, category, defect, scene)
    if isinstance(plan, Paint):
        pixels = np.array(good)
        surface = surface_of(scene, plan.groups, size)
        masks = [paint_defect(pixels, plan, surface, rng) for _ in range(instances)]
        return Drawing(Image.fromarray(pixels), good, tuple(Region(defect, mask) for mask in masks))
    edited, changes = plan(scene, rng, instances)
    masks = [items_visible(scene, items, size) | items_visible(edited, items, size) for items in changes]
    return Drawing(render(edited, size), good, tuple(Region(defect, mask) for mask in masks))
