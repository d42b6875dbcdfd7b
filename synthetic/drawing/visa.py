"""VisA objects: one recognisable scene per category, several small items where VisA has them."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import partial
from types import MappingProxyType
from typing import Final

import numpy as np

from synthetic.drawing.scene import (
    RGB,
    Rng,
    Scene,
    SceneBuilder,
    Shape,
    Texture,
    box_points,
    crescent_points,
    ellipse,
    jitter,
    line,
    oval_points,
    polygon,
    rect,
    scaled,
    shade,
)


def _multi(
    item_shapes: Callable[[float, float, float, Rng, int], list[Shape]],
    grid: int,
    n_items: int,
    background: RGB | Texture,
    rng: Rng,
) -> Scene:
    """Several small objects on a jittered grid, each one an item (candles, capsules, macaroni)."""
    cell = 0.84 / grid
    shapes: list[Shape] = []
    for item, slot in enumerate(sorted(rng.choice(grid * grid, size=n_items, replace=False)), start=1):
        cx = 0.08 + cell * (slot % grid + 0.5) + jitter(rng, cell * 0.08)
        cy = 0.08 + cell * (slot // grid + 0.5) + jitter(rng, cell * 0.08)
        shapes += item_shapes(cx, cy, cell, rng, item)
    if isinstance(background, Texture):
        return Scene(background.colours[0], tuple(shapes), background)
    return Scene(background, tuple(shapes))


def _candle(cx: float, cy: float, cell: float, rng: Rng, item: int) -> list[Shape]:
    r = cell * 0.4
    return [
        ellipse(
            cx,
            cy,
            r,
            fill=shade((244, 240, 230), rng, 4),
            outline=(206, 198, 182),
            width=0.01,
            group="part",
            item=item,
        ),
        ellipse(cx, cy, r * 0.22, fill=(206, 194, 170), group="part", item=item),
        ellipse(cx, cy, r * 0.08, fill=(40, 36, 30), group="part", item=item),
    ]


def _green_capsule(cx: float, cy: float, cell: float, rng: Rng, item: int) -> list[Shape]:
    angle = rng.uniform(0, math.pi)
    return [
        polygon(
            oval_points(cx, cy, cell * 0.42, cell * 0.2, angle),
            fill=shade((112, 190, 140), rng, 8),
            outline=(60, 120, 80),
            width=0.006,
            group="part",
            item=item,
        ),
        polygon(
            oval_points(cx, cy - cell * 0.04, cell * 0.25, cell * 0.05, angle),
            fill=(196, 236, 206),
            group="part",
            item=item,
        ),
    ]


def _macaroni(cx: float, cy: float, cell: float, rng: Rng, item: int) -> list[Shape]:
    angle = rng.uniform(0, math.pi)
    return [
        polygon(
            oval_points(cx, cy, cell * 0.36, cell * 0.22, angle),
            fill=shade((238, 214, 160), rng, 6),
            outline=(196, 164, 112),
            width=0.008,
            group="part",
            item=item,
        ),
        polygon(oval_points(cx, cy, cell * 0.16, cell * 0.09, angle), fill=(184, 150, 100), group="part", item=item),
    ]


def _cashew(rng: Rng) -> Scene:
    cx, cy, angle = 0.52 + jitter(rng, 0.03), 0.5 + jitter(rng, 0.03), rng.uniform(0, 2 * math.pi)
    along = angle + rng.uniform(-0.6 * math.pi, 0.6 * math.pi, 5)
    spots = [
        ellipse(cx + 0.25 * math.cos(a), cy + 0.25 * math.sin(a), 0.014, fill=(176, 132, 84), group="body")
        for a in along
    ]
    body = polygon(
        crescent_points(cx, cy, 0.33, 0.2, angle),
        fill=shade((230, 206, 158), rng, 6),
        outline=(192, 164, 116),
        width=0.01,
        group="body",
    )
    return Scene((38, 58, 46), (body, *spots))


def _chewinggum(rng: Rng) -> Scene:
    cx, cy = 0.5 + jitter(rng, 0.03), 0.5 + jitter(rng, 0.03)
    specks = [
        ellipse(cx + jitter(rng, 0.24), cy + jitter(rng, 0.14), 0.01, fill=(196, 196, 190), group="body")
        for _ in range(12)
    ]
    return Scene(
        (30, 34, 40),
        (
            polygon(
                oval_points(cx, cy, 0.34, 0.22, 0.0, 40),
                fill=(242, 240, 232),
                outline=(206, 204, 196),
                width=0.01,
                group="body",
            ),
            *specks,
        ),
    )


def _fryum(rng: Rng) -> Scene:
    cx, cy, turn = 0.5 + jitter(rng, 0.02), 0.5 + jitter(rng, 0.02), rng.uniform(0, math.pi / 4)
    colour = shade((228, 186, 92), rng, 8)
    spokes = [
        line(
            [(cx + 0.08 * math.cos(a), cy + 0.08 * math.sin(a)), (cx + 0.3 * math.cos(a), cy + 0.3 * math.sin(a))],
            colour,
            0.045,
            group="part",
            item=k + 1,
        )
        for k, a in enumerate(turn + np.arange(8) * math.pi / 4)
    ]
    return Scene(
        (66, 126, 84),
        (
            ellipse(cx, cy, 0.34, outline=colour, width=0.07, group="body"),
            *spokes,
            ellipse(cx, cy, 0.1, fill=colour, outline=scaled(colour, 0.8), width=0.01, group="body"),
        ),
    )


def _pipe_fryum(rng: Rng) -> Scene:
    cx, cy, angle = 0.5 + jitter(rng, 0.02), 0.5 + jitter(rng, 0.02), jitter(rng, 0.3)
    c, s = math.cos(angle), math.sin(angle)
    ridges = [
        line(
            [(cx + u * c + 0.1 * s, cy + u * s - 0.1 * c), (cx + u * c - 0.1 * s, cy + u * s + 0.1 * c)],
            (198, 116, 46),
            0.014,
            group="body",
        )
        for u in np.arange(-0.3, 0.31, 0.075)
    ]
    return Scene(
        (38, 34, 30),
        (
            polygon(
                box_points(cx, cy, 0.72, 0.24, angle),
                fill=shade((234, 152, 62), rng, 6),
                outline=(188, 108, 40),
                width=0.01,
                group="body",
            ),
            *ridges,
        ),
    )


def _pcb_part(kind: int, x: float, y: float, item: int) -> Shape:
    style = {"group": "part", "item": item}
    if kind == 0:  # chip
        return rect(
            x - 0.09, y - 0.06, x + 0.09, y + 0.06, fill=(26, 26, 28), outline=(190, 190, 196), width=0.01, **style
        )
    if kind == 1:  # LED
        return ellipse(x, y, 0.045, fill=(222, 40, 40), outline=(120, 20, 20), width=0.008, **style)
    return rect(
        x - 0.07, y - 0.035, x + 0.07, y + 0.035, fill=(232, 230, 222), outline=(150, 150, 146), width=0.008, **style
    )


def _pcb(board: RGB, layout_seed: int, rng: Rng) -> Scene:
    """A board whose layout is fixed per category (``layout_seed``) and jittered per image, as real boards are.

    Components sit in separate cells of a 3 x 2 grid so that none hides another."""
    layout = np.random.default_rng(layout_seed)
    dx, dy = jitter(rng, 0.015), jitter(rng, 0.015)
    traces = []
    for _ in range(7):
        x0, y0, x1, y1 = layout.uniform(0.12, 0.88, 4)
        traces.append(
            line([(x0 + dx, y0 + dy), (x1 + dx, y0 + dy), (x1 + dx, y1 + dy)], (200, 170, 84), 0.012, group="body")
        )
    cells = sorted(int(c) for c in layout.choice(6, size=5, replace=False))
    parts = [
        _pcb_part(
            k % 3,
            0.22 + (cell % 3) * 0.28 + dx + layout.uniform(-0.03, 0.03),
            0.3 + (cell // 3) * 0.4 + dy + layout.uniform(-0.05, 0.05),
            k + 1,
        )
        for k, cell in enumerate(cells)
    ]
    return Scene(
        (24, 24, 26),
        (
            rect(
                0.06 + dx,
                0.1 + dy,
                0.94 + dx,
                0.9 + dy,
                fill=board,
                outline=scaled(board, 0.6),
                width=0.012,
                group="body",
            ),
            *traces,
            *parts,
        ),
    )


SCENES: Final[Mapping[str, SceneBuilder]] = MappingProxyType(
    {
        "candle": partial(_multi, _candle, 2, 4, (22, 22, 26)),
        "capsules": partial(_multi, _green_capsule, 3, 6, (36, 40, 44)),
        "cashew": _cashew,
        "chewinggum": _chewinggum,
        "fryum": _fryum,
        "macaroni1": partial(_multi, _macaroni, 2, 4, (222, 220, 212)),
        "macaroni2": partial(_multi, _macaroni, 2, 4, Texture("grain", ((56, 94, 60), (90, 134, 86)), 7)),
        "pcb1": partial(_pcb, (28, 112, 62), 1),
        "pcb2": partial(_pcb, (22, 96, 98), 2),
        "pcb3": partial(_pcb, (34, 64, 134), 3),
        "pcb4": partial(_pcb, (44, 44, 50), 4),
        "pipe_fryum": _pipe_fryum,
    }
)


# VisA's per-category defect names are not in the catalog; synthetic VisA uses these for every category, and a
# mask's pixel value is the 1-based index of its defect here.
VISA_DEFECTS: Final = ("scratch", "crack", "hole", "contamination", "missing_part")
