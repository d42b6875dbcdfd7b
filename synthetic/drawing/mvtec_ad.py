"""MVTec AD objects and textures: one recognisable scene per category."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from types import MappingProxyType
from typing import Final

import numpy as np

from synthetic.drawing.scene import (
    RGB,
    Rng,
    Scene,
    SceneBuilder,
    Texture,
    box_points,
    ellipse,
    jitter,
    line,
    polygon,
    rect,
    scaled,
    shade,
)


def _bottle(rng: Rng) -> Scene:
    cx, cy, r = 0.5 + jitter(rng, 0.02), 0.5 + jitter(rng, 0.02), 0.38 + jitter(rng, 0.015)
    return Scene(
        (14, 14, 14),
        (
            ellipse(cx, cy, r, fill=shade((92, 62, 30), rng), outline=(60, 40, 20), width=0.015, group="body"),
            ellipse(cx, cy, r * 0.72, fill=(62, 40, 20), group="body"),
            ellipse(cx, cy, r * 0.42, fill=(30, 22, 14), group="body"),
            ellipse(cx - r * 0.3, cy - r * 0.35, r * 0.14, r * 0.07, fill=(156, 124, 84), group="body"),
        ),
    )


def _cable(rng: Rng) -> Scene:
    cx, cy, r, turn = 0.5 + jitter(rng, 0.02), 0.5 + jitter(rng, 0.02), 0.4, rng.uniform(0, 2 * math.pi)
    shapes = [
        ellipse(cx, cy, r, fill=(88, 90, 96), outline=(50, 50, 54), width=0.02, group="body"),
        ellipse(cx, cy, r * 0.86, fill=(206, 206, 198), group="body"),
    ]
    for k, colour in enumerate(((64, 150, 64), (52, 86, 196), (128, 74, 36))):
        angle = turn + k * 2 * math.pi / 3
        wx, wy = cx + r * 0.42 * math.cos(angle), cy + r * 0.42 * math.sin(angle)
        style = {"group": "part", "item": k + 1}
        shapes += [
            ellipse(wx, wy, r * 0.34, fill=colour, outline=(40, 40, 40), width=0.008, **style),
            ellipse(wx, wy, r * 0.12, fill=(198, 120, 58), **style),
        ]
    return Scene((30, 30, 32), tuple(shapes))


def _capsule(rng: Rng) -> Scene:
    cx, cy, half, h = 0.5 + jitter(rng, 0.02), 0.5 + jitter(rng, 0.03), 0.36, 0.14
    dark, orange = shade((36, 36, 40), rng, 6), shade((226, 120, 44), rng)
    imprint = [
        rect(
            cx + 0.06 + k * 0.07,
            cy - 0.05,
            cx + 0.11 + k * 0.07,
            cy + 0.05,
            outline=(60, 30, 10),
            width=0.012,
            group="body",
        )
        for k in range(3)
    ]
    return Scene(
        (218, 218, 214),
        (
            ellipse(cx - half + h, cy, h, fill=dark, group="body"),
            rect(cx - half + h, cy - h, cx, cy + h, fill=dark, group="body"),
            rect(cx, cy - h, cx + half - h, cy + h, fill=orange, group="body"),
            ellipse(cx + half - h, cy, h, fill=orange, group="body"),
            line([(cx - half + h, cy - h * 0.6), (cx + half - h, cy - h * 0.6)], (250, 250, 245), 0.012, group="body"),
            *imprint,
        ),
    )


def _hazelnut(rng: Rng) -> Scene:
    cx, cy = 0.5 + jitter(rng, 0.03), 0.52 + jitter(rng, 0.03)
    stripes = [
        line(
            [(cx + k * 0.07, cy - 0.27), (cx + k * 0.09, cy), (cx + k * 0.07, cy + 0.27)],
            (116, 70, 32),
            0.012,
            group="body",
        )
        for k in (-2, -1, 0, 1, 2)
    ]
    return Scene(
        (16, 16, 16),
        (
            ellipse(
                cx, cy, 0.3, 0.33, fill=shade((152, 96, 46), rng), outline=(108, 64, 30), width=0.012, group="body"
            ),
            *stripes,
            ellipse(cx, cy - 0.31, 0.06, 0.035, fill=(92, 58, 30), group="body"),
        ),
    )


def _metal_nut(rng: Rng) -> Scene:
    cx, cy, turn = 0.5 + jitter(rng, 0.02), 0.5 + jitter(rng, 0.02), rng.uniform(0, math.pi / 3)
    hexagon = [
        (cx + 0.32 * math.cos(turn + k * math.pi / 3), cy + 0.32 * math.sin(turn + k * math.pi / 3)) for k in range(6)
    ]
    lobes = [
        ellipse(
            cx + 0.34 * math.cos(turn + k * math.pi / 2),
            cy + 0.34 * math.sin(turn + k * math.pi / 2),
            0.085,
            fill=(172, 176, 184),
            outline=(110, 112, 120),
            width=0.01,
            group="part",
            item=k + 1,
        )
        for k in range(4)
    ]
    return Scene(
        (22, 22, 24),
        (
            polygon(hexagon, fill=shade((148, 152, 160), rng), outline=(96, 98, 106), width=0.012, group="body"),
            *lobes,
            ellipse(cx, cy, 0.13, fill=(22, 22, 24), outline=(90, 92, 98), width=0.012, group="hole"),
        ),
    )


def _pill(rng: Rng) -> Scene:
    cx, cy = 0.5 + jitter(rng, 0.02), 0.5 + jitter(rng, 0.03)
    angles, radii = rng.uniform(0, 2 * math.pi, 14), np.sqrt(rng.uniform(0, 1, 14)) * 0.8
    specks = [
        ellipse(cx + 0.36 * r * math.cos(a), cy + 0.2 * r * math.sin(a), 0.012, fill=(186, 64, 50), group="body")
        for a, r in zip(angles, radii, strict=True)
    ]
    imprint = line(
        [(cx - 0.05, cy + 0.06), (cx - 0.05, cy - 0.06), (cx + 0.02, cy - 0.06)],
        (146, 52, 40),
        0.016,
        group="part",
        item=1,
    )
    return Scene(
        (24, 24, 24),
        (
            ellipse(cx, cy, 0.36, 0.2, fill=(236, 232, 222), outline=(200, 196, 186), width=0.01, group="body"),
            *specks,
            imprint,
        ),
    )


def _screw(rng: Rng) -> Scene:
    cx, cy, angle = 0.5 + jitter(rng, 0.04), 0.5 + jitter(rng, 0.04), rng.uniform(0, math.pi)
    c, s = math.cos(angle), math.sin(angle)

    def at(u: float, v: float) -> tuple[float, float]:
        return cx + u * c - v * s, cy + u * s + v * c

    threads = [
        line([at(u, -0.045), at(u + 0.02, 0.045)], (82, 84, 90), 0.01, group="body")
        for u in np.arange(-0.16, 0.26, 0.04)
    ]
    return Scene(
        (232, 232, 230),
        (
            polygon(
                box_points(cx, cy, 0.56, 0.07, angle),
                fill=shade((128, 130, 136), rng, 6),
                outline=(80, 82, 88),
                width=0.008,
                group="body",
            ),
            *threads,
            polygon([at(0.28, -0.035), at(0.36, 0.0), at(0.28, 0.035)], fill=(120, 122, 128), group="body"),
            ellipse(*at(-0.3, 0.0), 0.08, fill=(146, 148, 154), outline=(90, 92, 98), width=0.01, group="part", item=1),
            line([at(-0.33, 0.0), at(-0.27, 0.0)], (60, 60, 66), 0.016, group="part", item=1),
        ),
    )


def _toothbrush(rng: Rng) -> Scene:
    cx = 0.5 + jitter(rng, 0.03)
    colour = shade((58, 118, 200), rng, 14)
    tufts = [
        ellipse(
            cx + (col - 1) * 0.07,
            0.14 + row * 0.065,
            0.03,
            fill=(246, 246, 250) if (row + col) % 2 else (90, 176, 224),
            group="part",
            item=1 + row * 3 + col,
        )
        for row in range(6)
        for col in range(3)
    ]
    return Scene(
        (214, 214, 210),
        (
            rect(cx - 0.06, 0.5, cx + 0.06, 0.97, fill=colour, outline=scaled(colour, 0.7), width=0.008, group="body"),
            rect(
                cx - 0.13,
                0.08,
                cx + 0.13,
                0.52,
                fill=scaled(colour, 1.15),
                outline=scaled(colour, 0.7),
                width=0.008,
                group="body",
            ),
            *tufts,
        ),
    )


def _transistor(rng: Rng) -> Scene:
    cx, board = 0.5 + jitter(rng, 0.02), (196, 190, 176)
    leads = [
        rect(
            cx + dx - 0.025,
            0.5,
            cx + dx + 0.025,
            0.92,
            fill=(198, 198, 206),
            outline=(140, 140, 150),
            width=0.006,
            group="part",
            item=k + 1,
        )
        for k, dx in enumerate((-0.12, 0.0, 0.12))
    ]
    return Scene(
        board,
        (
            *leads,
            rect(
                cx - 0.16,
                0.08,
                cx + 0.16,
                0.27,
                fill=(170, 172, 178),
                outline=(120, 122, 128),
                width=0.008,
                group="body",
            ),
            ellipse(cx, 0.16, 0.04, fill=board, group="hole"),
            rect(cx - 0.2, 0.24, cx + 0.2, 0.56, fill=(34, 34, 38), group="body"),
            line([(cx - 0.12, 0.36), (cx + 0.12, 0.36)], (124, 124, 130), 0.012, group="body"),
            line([(cx - 0.12, 0.42), (cx + 0.06, 0.42)], (124, 124, 130), 0.012, group="body"),
        ),
    )


def _textured(kind: str, colours: tuple[RGB, RGB], rng: Rng) -> Scene:
    return Scene(colours[0], (), Texture(kind, colours, int(rng.integers(2**32))))


def _zipper(rng: Rng) -> Scene:
    fabric = _textured("weave", ((28, 28, 32), (64, 64, 70)), rng)
    cx = 0.5 + jitter(rng, 0.02)
    teeth = [
        rect(
            cx - 0.09 if k % 2 else cx - 0.01,
            k * 0.05,
            cx + 0.01 if k % 2 else cx + 0.09,
            k * 0.05 + 0.032,
            fill=(188, 188, 194),
            outline=(120, 120, 128),
            width=0.006,
            group="part",
            item=k + 1,
        )
        for k in range(20)
    ]
    return replace(fabric, shapes=tuple(teeth))


SCENES: Final[Mapping[str, SceneBuilder]] = MappingProxyType(
    {
        "bottle": _bottle,
        "cable": _cable,
        "capsule": _capsule,
        "carpet": partial(_textured, "weave", ((116, 102, 90), (170, 156, 142))),
        "grid": partial(_textured, "mesh", ((22, 22, 22), (140, 140, 136))),
        "hazelnut": _hazelnut,
        "leather": partial(_textured, "grain", ((108, 62, 36), (158, 102, 60))),
        "metal_nut": _metal_nut,
        "pill": _pill,
        "screw": _screw,
        "tile": partial(_textured, "speckle", ((208, 208, 202), (70, 70, 78))),
        "toothbrush": _toothbrush,
        "transistor": _transistor,
        "wood": partial(_textured, "stripes", ((114, 72, 38), (182, 132, 78))),
        "zipper": _zipper,
    }
)
