"""MVTec LOCO AD scenes, each with the rules its logical anomalies break and the structural defects it shows."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import count
from types import MappingProxyType
from typing import Final

import numpy as np

from data_prep.catalog import LOCO_ANOMALY_KINDS
from synthetic.drawing.paint import Paint
from synthetic.drawing.scene import (
    RGB,
    Edit,
    Rng,
    Scene,
    SceneBuilder,
    Shape,
    add_in_free_slots,
    centre,
    crescent_points,
    ellipse,
    items_of,
    jitter,
    line,
    moved,
    oval_points,
    pick,
    polygon,
    recoloured,
    rect,
    remove_all,
    remove_some,
    replaced,
    scaled,
    without,
)

_TABLE: Final = (40, 44, 52)
_TANGERINE: Final = (236, 132, 28)
_NECTARINE: Final = (196, 62, 48)
_FRUIT_SLOTS: Final = tuple((x, y) for y in (0.28, 0.5, 0.72) for x in (0.19, 0.385))


def _fruit(cx: float, cy: float, colour: RGB, item: int) -> list[Shape]:
    style = {"group": "fruit", "item": item}
    return [
        ellipse(cx, cy, 0.085, fill=colour, outline=scaled(colour, 0.75), width=0.008, **style),
        ellipse(cx - 0.03, cy - 0.03, 0.022, fill=scaled(colour, 1.25), **style),
    ]


def _breakfast_box(rng: Rng) -> Scene:
    """Left: exactly two tangerines and one nectarine. Right: cereal, three banana chips, three almonds."""
    items = count(1)
    shapes = [
        rect(0.05, 0.1, 0.95, 0.9, fill=(232, 224, 204), outline=(176, 166, 146), width=0.012, group="box"),
        rect(0.09, 0.14, 0.48, 0.86, fill=(216, 206, 184), group="box"),
        rect(0.52, 0.14, 0.91, 0.86, fill=(216, 206, 184), group="box"),
    ]
    slots = sorted(int(s) for s in rng.choice(len(_FRUIT_SLOTS), size=3, replace=False))
    colours = [(_TANGERINE, _TANGERINE, _NECTARINE)[int(k)] for k in rng.permutation(3)]
    for slot, colour in zip(slots, colours, strict=True):
        x, y = _FRUIT_SLOTS[slot]
        shapes += _fruit(x + jitter(rng, 0.012), y + jitter(rng, 0.012), colour, next(items))
    cereal = next(items)
    shapes.append(rect(0.55, 0.18, 0.88, 0.5, fill=(178, 128, 70), group="cereal", item=cereal))
    for k in range(18):
        tone = (128, 86, 42) if k % 2 else (212, 166, 100)
        shapes.append(
            ellipse(rng.uniform(0.58, 0.85), rng.uniform(0.21, 0.47), 0.013, fill=tone, group="cereal", item=cereal)
        )
    for x in (0.615, 0.715, 0.815):
        shapes.append(
            ellipse(
                x + jitter(rng, 0.008),
                0.62,
                0.042,
                fill=(244, 224, 150),
                outline=(204, 178, 106),
                width=0.006,
                group="banana_chip",
                item=next(items),
            )
        )
    for x in (0.615, 0.715, 0.815):
        shapes.append(
            polygon(
                oval_points(x + jitter(rng, 0.008), 0.76, 0.044, 0.024, jitter(rng, 0.5)),
                fill=(150, 92, 50),
                outline=(108, 62, 32),
                width=0.004,
                group="almond",
                item=next(items),
            )
        )
    free = tuple(_FRUIT_SLOTS[s] for s in range(len(_FRUIT_SLOTS)) if s not in slots)
    return Scene(_TABLE, tuple(shapes), meta={"free_fruit_slots": free})


def _fruit_in_cereal(scene: Scene, rng: Rng, n: int) -> tuple[Scene, list[set[int]]]:
    item = pick(rng, items_of(scene, "fruit"), 1)[0]
    x, y = centre(scene, item)
    return moved(scene, item, rng.uniform(0.64, 0.79) - x, rng.uniform(0.29, 0.39) - y), [{item}]


_JUICES: Final = (  # (liquid, label icon): the icon names the juice the liquid must be
    ((242, 148, 34), (250, 136, 20)),
    ((148, 24, 44), (206, 30, 52)),
    ((236, 218, 138), (250, 222, 64)),
)


def _juice_icon(kind: int, cx: float, cy: float, item: int) -> list[Shape]:
    style = {"group": "label", "item": item}
    colour = _JUICES[kind][1]
    if kind == 0:  # orange
        return [ellipse(cx, cy, 0.055, fill=colour, outline=scaled(colour, 0.7), width=0.006, **style)]
    if kind == 1:  # cherries
        return [
            line([(cx - 0.03, cy + 0.02), (cx, cy - 0.05), (cx + 0.03, cy + 0.02)], (70, 120, 40), 0.008, **style),
            ellipse(cx - 0.03, cy + 0.025, 0.028, fill=colour, **style),
            ellipse(cx + 0.03, cy + 0.025, 0.028, fill=colour, **style),
        ]
    return [
        polygon(
            crescent_points(cx, cy - 0.03, 0.06, 0.03, math.pi / 2),
            fill=colour,
            outline=(170, 140, 30),
            width=0.004,
            **style,
        )
    ]


def _juice_bottle(rng: Rng) -> Scene:
    """The liquid's colour must match the fruit on the label, and the bottle is filled to the shoulder."""
    kind, dx, level = int(rng.integers(len(_JUICES))), jitter(rng, 0.02), 0.36 + jitter(rng, 0.01)
    glass, liquid = (186, 200, 206), _JUICES[kind][0]
    label = 3
    shapes = (
        rect(0.42 + dx, 0.07, 0.58 + dx, 0.26, fill=glass, outline=(140, 156, 162), width=0.008, group="glass"),
        rect(
            0.405 + dx, 0.035, 0.595 + dx, 0.1, fill=(232, 232, 228), outline=(180, 180, 176), width=0.006, group="cap"
        ),
        ellipse(0.5 + dx, 0.3, 0.2, 0.09, fill=glass, group="glass"),
        rect(0.3 + dx, 0.3, 0.7 + dx, 0.93, fill=glass, outline=(140, 156, 162), width=0.008, group="glass"),
        rect(0.32 + dx, level, 0.68 + dx, level + 0.12, fill=liquid, group="liquid", item=1),
        rect(0.32 + dx, level + 0.12, 0.68 + dx, 0.91, fill=liquid, group="liquid", item=2),
        line([(0.335 + dx, 0.33), (0.335 + dx, 0.88)], (232, 242, 246), 0.012, group="glass"),
        rect(
            0.34 + dx,
            0.56,
            0.66 + dx,
            0.8,
            fill=(246, 244, 236),
            outline=(196, 194, 186),
            width=0.006,
            group="label",
            item=label,
        ),
        *_juice_icon(kind, 0.5 + dx, 0.65, label),
        line([(0.4 + dx, 0.735), (0.6 + dx, 0.735)], (120, 120, 120), 0.012, group="label", item=label),
        line([(0.43 + dx, 0.765), (0.57 + dx, 0.765)], (120, 120, 120), 0.012, group="label", item=label),
    )
    return Scene((26, 26, 30), shapes, meta={"juice": kind})


def _wrong_juice(scene: Scene, rng: Rng, n: int) -> tuple[Scene, list[set[int]]]:
    kind = int(scene.meta["juice"])
    other = (kind + 1 + int(rng.integers(len(_JUICES) - 1))) % len(_JUICES)
    items = set(items_of(scene, "liquid"))
    return recoloured(scene, items, _JUICES[kind][0], _JUICES[other][0]), [items]


def _fill_level_low(scene: Scene, rng: Rng, n: int) -> tuple[Scene, list[set[int]]]:
    top = items_of(scene, "liquid")[0]  # the band just under the shoulder
    return without(scene, {top}), [{top}]


def _label_misplaced(scene: Scene, rng: Rng, n: int) -> tuple[Scene, list[set[int]]]:
    label = items_of(scene, "label")[0]
    return moved(scene, label, 0.0, rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 0.13)), [{label}]


_PIN: Final = (236, 198, 40)
_PIN_BOX: Final = (62, 64, 70)


def _pin(cx: float, cy: float, angle: float, item: int) -> list[Shape]:
    style = {"group": "pin", "item": item}
    tip = (cx + 0.065 * math.cos(angle), cy + 0.065 * math.sin(angle))
    return [
        line([(cx, cy), tip], (208, 208, 214), 0.01, **style),
        ellipse(cx, cy, 0.034, fill=_PIN, outline=(176, 136, 20), width=0.006, **style),
        ellipse(cx - 0.01, cy - 0.01, 0.011, fill=(252, 238, 160), **style),
    ]


def _pushpins(rng: Rng) -> Scene:
    """Fifteen compartments (5 x 3) separated by walls, each holding exactly one pin."""
    items = count(1)
    width, height = 0.9 / 5, 0.76 / 3
    shapes = [rect(0.03, 0.1, 0.97, 0.9, fill=_PIN_BOX, outline=(118, 120, 126), width=0.012, group="box")]
    for c in range(1, 5):
        x = 0.05 + c * width
        shapes.append(rect(x - 0.007, 0.12, x + 0.007, 0.88, fill=(142, 144, 150), group="wall", item=next(items)))
    for r in range(1, 3):
        y = 0.12 + r * height
        shapes.append(rect(0.05, y - 0.007, 0.95, y + 0.007, fill=(142, 144, 150), group="wall", item=next(items)))
    mirrored = []
    for r in range(3):
        for c in range(5):
            xc, yc = 0.05 + (c + 0.5) * width, 0.12 + (r + 0.5) * height
            x = xc + rng.choice([-1.0, 1.0]) * rng.uniform(0.03, 0.045)
            y = yc + rng.uniform(-0.05, 0.03)
            shapes += _pin(x, y, rng.uniform(0, 2 * math.pi), next(items))
            mirrored.append((2 * xc - x, y))
    return Scene((22, 22, 24), tuple(shapes), meta={"second_pin_spots": tuple(mirrored)})


def _extra_pin(x: float, y: float, item: int) -> list[Shape]:
    return _pin(x, y, math.pi / 3, item)


_BAG: Final = (212, 216, 222)
_BAG_SLOTS: Final = tuple((x, y) for y in (0.64, 0.82) for x in (0.24, 0.5, 0.76))


def _nut(cx: float, cy: float, item: int) -> list[Shape]:
    hexagon = [(cx + 0.07 * math.cos(k * math.pi / 3), cy + 0.07 * math.sin(k * math.pi / 3)) for k in range(6)]
    return [
        polygon(hexagon, fill=(160, 162, 168), outline=(104, 106, 112), width=0.008, group="nut", item=item),
        ellipse(cx, cy, 0.03, fill=_BAG, outline=(104, 106, 112), width=0.006, group="nut", item=item),
    ]


def _washer(cx: float, cy: float, item: int) -> list[Shape]:
    return [
        ellipse(cx, cy, 0.068, fill=(188, 190, 198), outline=(126, 128, 136), width=0.008, group="washer", item=item),
        ellipse(cx, cy, 0.032, fill=_BAG, outline=(126, 128, 136), width=0.006, group="washer", item=item),
    ]


def _screw_item(y: float, length: float, head_left: bool, item: int) -> list[Shape]:
    x0, x1 = (0.2, 0.2 + length) if head_left else (0.8 - length, 0.8)
    head_x, tip_x, sign = (x0, x1, 1.0) if head_left else (x1, x0, -1.0)
    style = {"group": "screw", "item": item}
    threads = [
        line([(u, y - 0.028), (u + 0.012, y + 0.028)], (92, 94, 100), 0.007, **style)
        for u in np.arange(min(x0, x1) + 0.06, max(x0, x1) - 0.04, 0.03)
    ]
    return [
        rect(
            min(x0, x1),
            y - 0.025,
            max(x0, x1),
            y + 0.025,
            fill=(136, 140, 146),
            outline=(96, 98, 104),
            width=0.006,
            **style,
        ),
        *threads,
        polygon([(tip_x, y - 0.025), (tip_x + sign * 0.05, y), (tip_x, y + 0.025)], fill=(120, 124, 130), **style),
        rect(
            head_x - 0.035,
            y - 0.055,
            head_x + 0.01,
            y + 0.055,
            fill=(150, 154, 160),
            outline=(98, 100, 108),
            width=0.008,
            **style,
        ),
    ]


def _screw_bag(rng: Rng) -> Scene:
    """A bag with exactly two screws (one long, one short), two nuts and two washers."""
    items = count(1)
    shapes = [
        rect(0.06, 0.06, 0.94, 0.94, fill=_BAG, outline=(166, 170, 178), width=0.01, group="bag"),
        rect(0.06, 0.06, 0.94, 0.13, fill=(190, 195, 204), group="bag"),
    ]
    long_first = bool(rng.integers(2))
    for y, length in zip((0.27, 0.43), (0.56, 0.4) if long_first else (0.4, 0.56), strict=True):
        shapes += _screw_item(y + jitter(rng, 0.015), length, bool(rng.integers(2)), next(items))
    slots = [int(s) for s in rng.permutation(len(_BAG_SLOTS))]
    for slot, make in zip(slots[:4], (_nut, _nut, _washer, _washer), strict=True):
        x, y = _BAG_SLOTS[slot]
        shapes += make(x + jitter(rng, 0.02), y + jitter(rng, 0.015), next(items))
    free = tuple(_BAG_SLOTS[s] for s in sorted(slots[4:]))
    return Scene((236, 236, 234), tuple(shapes), meta={"free_slots": free})


_CABLE_BY_POLES: Final = MappingProxyType({2: (232, 196, 30), 3: (40, 92, 200), 5: (198, 40, 40)})
_POLE_PITCH: Final = 0.085


def _pole_y(cy: float, poles: int, k: int) -> float:
    return cy - poles * _POLE_PITCH / 2 + (k + 0.5) * _POLE_PITCH


def _connector(x0: float, cy: float, poles: int, mirrored: bool, item: int) -> list[Shape]:
    style = {"group": "connector", "item": item}
    half = poles * _POLE_PITCH / 2 + 0.02
    shapes = [
        rect(x0, cy - half, x0 + 0.2, cy + half, fill=(234, 234, 228), outline=(150, 150, 146), width=0.008, **style)
    ]
    lever_x, hole_x = (x0 + 0.1, x0 + 0.04) if mirrored else (x0 + 0.02, x0 + 0.16)
    for k in range(poles):
        y = _pole_y(cy, poles, k)
        shapes += [
            rect(
                lever_x,
                y - 0.028,
                lever_x + 0.08,
                y + 0.028,
                fill=(238, 128, 32),
                outline=(170, 86, 20),
                width=0.004,
                **style,
            ),
            ellipse(hole_x, y, 0.022, fill=(86, 86, 90), **style),
        ]
    return shapes


def _splicing_connectors(rng: Rng) -> Scene:
    """Two connectors of the same size joined by one cable whose colour encodes that size (2, 3 or 5 poles)."""
    poles = int(rng.choice(list(_CABLE_BY_POLES)))
    cy, k, sag = 0.5 + jitter(rng, 0.04), int(rng.integers(poles)), jitter(rng, 0.25)
    y = _pole_y(cy, poles, k)
    bend = [(0.22, y), (0.36, y + sag * 0.7), (0.5, y + sag), (0.64, y + sag * 0.7), (0.78, y)]
    shapes = (
        *_connector(0.06, cy, poles, False, 1),
        *_connector(0.74, cy, poles, True, 2),
        line([(x, min(0.92, max(0.08, v))) for x, v in bend], _CABLE_BY_POLES[poles], 0.035, group="cable", item=3),
    )
    return Scene((208, 208, 204), shapes, meta={"poles": poles, "cy": cy})


def _wrong_cable_colour(scene: Scene, rng: Rng, n: int) -> tuple[Scene, list[set[int]]]:
    poles = int(scene.meta["poles"])
    other = int(rng.choice([p for p in _CABLE_BY_POLES if p != poles]))
    return recoloured(scene, {3}, _CABLE_BY_POLES[poles], _CABLE_BY_POLES[other]), [{3}]


def _mismatched_connector(scene: Scene, rng: Rng, n: int) -> tuple[Scene, list[set[int]]]:
    poles = int(scene.meta["poles"])
    other = int(rng.choice([p for p in _CABLE_BY_POLES if p != poles]))
    return replaced(scene, 2, _connector(0.74, float(scene.meta["cy"]), other, True, 2)), [{2}]


@dataclass(frozen=True)
class LocoCategory:
    build: SceneBuilder
    logical: Mapping[str, Edit]
    structural: Mapping[str, Paint]


CATEGORIES: Final[Mapping[str, LocoCategory]] = MappingProxyType(
    {
        "breakfast_box": LocoCategory(
            _breakfast_box,
            {
                "extra_fruit": add_in_free_slots("free_fruit_slots", lambda x, y, item: _fruit(x, y, _TANGERINE, item)),
                "missing_fruit": remove_some("fruit", keep=1),
                "missing_almonds": remove_all("almond"),
                "fruit_in_cereal": _fruit_in_cereal,
            },
            {
                "box_damaged": Paint("chunk", ("box",), _TABLE),
                "contamination": Paint("blob", ("box", "cereal")),
                "fruit_damaged": Paint("dot", ("fruit",)),
            },
        ),
        "juice_bottle": LocoCategory(
            _juice_bottle,
            {"wrong_juice": _wrong_juice, "fill_level_low": _fill_level_low, "label_misplaced": _label_misplaced},
            {
                "contamination": Paint("blob", ("liquid",)),
                "broken_glass": Paint("crack", ("glass", "cap")),
                "scratched_label": Paint("line", ("label",)),
            },
        ),
        "pushpins": LocoCategory(
            _pushpins,
            {
                "missing_pin": remove_some("pin", keep=13),
                "extra_pin": add_in_free_slots("second_pin_spots", _extra_pin),
                "missing_separator": remove_some("wall", keep=5),
            },
            {
                "broken_pin": Paint("chunk", ("pin",), _PIN_BOX),
                "contamination": Paint("blob", ("box",)),
                "box_crack": Paint("crack", ("box", "wall")),
            },
        ),
        "screw_bag": LocoCategory(
            _screw_bag,
            {
                "missing_screw": remove_some("screw", keep=1),
                "extra_nut": add_in_free_slots("free_slots", _nut),
                "missing_washer": remove_some("washer", keep=0),
            },
            {
                "bag_torn": Paint("crack", ("bag",)),
                "contamination": Paint("blob", ("bag",)),
                "damaged_nut": Paint("chunk", ("nut",), _BAG),
            },
        ),
        "splicing_connectors": LocoCategory(
            _splicing_connectors,
            {
                "wrong_cable_colour": _wrong_cable_colour,
                "mismatched_connector": _mismatched_connector,
                "missing_cable": remove_all("cable"),
            },
            {
                "cut_cable": Paint("chunk", ("cable",), (208, 208, 204)),
                "contamination": Paint("blob", ("connector",)),
                "connector_crack": Paint("crack", ("connector",)),
            },
        ),
    }
)

LOCO_DEFECTS: Final[Mapping[str, Mapping[str, tuple[str, ...]]]] = MappingProxyType(
    {
        category: MappingProxyType(
            dict(zip(LOCO_ANOMALY_KINDS, (tuple(spec.logical), tuple(spec.structural)), strict=True))
        )
        for category, spec in CATEGORIES.items()
    }
)
