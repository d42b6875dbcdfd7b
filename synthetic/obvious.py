"""Anomalies a tiny random-weight vision tower can see: one large, saturated disc per defective image.

The realistic defects of ``synthetic.drawing`` (a scratch, a missing pushpin) cover a few pixels, which the tiny
policy's vision tower, seeing an image as at most 4x4 merged tokens, cannot tell from noise: RL on them cannot show
learning. With ``anomalies="obvious"`` the writers draw the same good scene and then one disc of 0.36 to 0.44 of the
image side in radius: cyan for structural defects (and every MVTec AD / VisA defect), magenta for MVTec LOCO's
logical ones (saturated colours that no synthetic scene uses; a black disc vanished on the dark scenes). This is a
check that images reach the policy and that rewards move it (``synthetic.learning_task``), not a model of defects.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from PIL import Image

from synthetic.drawing import LOCO_DEFECTS, Drawing, Region, build_scene, defect_types, render

ANOMALY_STYLES: Final = ("realistic", "obvious")
STRUCTURAL_INK: Final = (20, 220, 230)
LOGICAL_INK: Final = (236, 24, 200)
RADIUS_RANGE: Final = (0.36, 0.44)  # of the image side


def obvious_ink(dataset: str, category: str, defect: str) -> tuple[int, int, int]:
    """Magenta for an MVTec LOCO logical defect, near-black for any other."""
    if defect not in defect_types(dataset, category):
        raise ValueError(f"Unknown {dataset}/{category} defect {defect!r}")
    if dataset == "mvtec_loco" and defect in LOCO_DEFECTS[category]["logical_anomalies"]:
        return LOGICAL_INK
    return STRUCTURAL_INK


def paint_disc(
    image: Image.Image,
    rng: np.random.Generator,
    colour: tuple[int, int, int],
    radius_range: tuple[float, float] = RADIUS_RANGE,
) -> tuple[Image.Image, np.ndarray]:
    """``image`` with one filled disc (radius a fraction of the shorter side, drawn from ``radius_range``) inside
    it, and the disc's boolean mask."""
    width, height = image.size
    radius = rng.uniform(*radius_range) * min(width, height)
    cx = rng.uniform(radius, width - radius)
    cy = rng.uniform(radius, height - radius)
    ys, xs = np.mgrid[0:height, 0:width]
    mask = (xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2 <= radius**2
    pixels = np.array(image.convert("RGB"))
    pixels[mask] = colour
    return Image.fromarray(pixels), mask


def draw_obvious(dataset: str, category: str, defect: str, rng: np.random.Generator, size: int) -> Drawing:
    """``category``'s good scene (drawn from ``rng`` first, as ``draw_good`` would) with one large disc on it."""
    good = render(build_scene(dataset, category, rng), size)
    image, mask = paint_disc(good, rng, obvious_ink(dataset, category, defect))
    return Drawing(image, good, (Region(defect, mask),))
