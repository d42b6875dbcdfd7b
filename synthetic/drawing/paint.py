"""Structural defects: ops painted on the rendered pixels, clipped to the surfaces they damage."""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import numpy as np
from PIL import Image, ImageDraw

from synthetic.drawing.scene import CONTRAST, RGB, Rng, farthest


@dataclass(frozen=True)
class Paint:
    """A structural defect: an ``op`` painted on the visible ``groups``; ``fill`` None picks a contrasting colour."""

    op: str
    groups: tuple[str, ...] = ("body", "part")
    fill: RGB | None = None


_OP_COLOURS: Final = MappingProxyType(
    {
        "line": ((30, 28, 26), (238, 238, 232)),
        "crack": ((20, 16, 14), (226, 226, 220)),
        "dot": ((12, 10, 8), (244, 244, 240)),
        "blob": CONTRAST[:5],
        "chunk": ((12, 12, 12), (240, 240, 240)),
    }
)


def _erode(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask, 1)
    return mask & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]


def _anchor(surface: np.ndarray, rng: Rng, on_edge: bool) -> tuple[int, int]:
    edge = surface & ~_erode(surface)
    ys, xs = np.nonzero(edge if on_edge and edge.any() else surface)
    index = int(rng.integers(len(xs)))
    return int(xs[index]), int(ys[index])


def _irregular(x: int, y: int, radius: float, rng: Rng) -> list[tuple[float, float]]:
    angles = np.sort(rng.uniform(0, 2 * math.pi, 9))
    radii = radius * rng.uniform(0.55, 1.15, 9)
    return [(x + r * math.cos(a), y + r * math.sin(a)) for a, r in zip(angles, radii, strict=True)]


def _stroke(op: str, x: int, y: int, rng: Rng, size: int) -> Image.Image:
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    if op == "line":
        angle, half = rng.uniform(0, math.pi), size * rng.uniform(0.08, 0.16)
        dx, dy = half * math.cos(angle), half * math.sin(angle)
        draw.line([(x - dx, y - dy), (x + dx, y + dy)], fill=255, width=max(1, round(size / 64)))
    elif op == "crack":
        angle, points = rng.uniform(0, 2 * math.pi), [(float(x), float(y))]
        for _ in range(7):
            angle += rng.uniform(-0.9, 0.9)
            step = size * rng.uniform(0.03, 0.05)
            points.append((points[-1][0] + step * math.cos(angle), points[-1][1] + step * math.sin(angle)))
        draw.line(points, fill=255, width=max(1, round(size / 56)), joint="curve")
    elif op == "dot":
        r = max(1.0, size * rng.uniform(0.025, 0.04))
        draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    else:  # "blob" (foreign material) and "chunk" (a piece broken out)
        radius = size * (rng.uniform(0.05, 0.08) if op == "blob" else rng.uniform(0.07, 0.1))
        draw.polygon(_irregular(x, y, radius, rng), fill=255)
    return canvas


def paint_defect(pixels: np.ndarray, paint: Paint, surface: np.ndarray, rng: Rng) -> np.ndarray:
    """Paint one defect in place and return its mask (never empty: it always covers its anchor pixel)."""
    x, y = _anchor(surface, rng, on_edge=paint.op == "chunk")
    mask = (np.asarray(_stroke(paint.op, x, y, rng, surface.shape[0])) > 0) & surface
    mask[y, x] = True
    colour = paint.fill or farthest(_OP_COLOURS[paint.op], pixels[mask].astype(np.float32).mean(axis=0))
    pixels[mask] = colour
    return mask


# ----------------------------------------------------------------------------------------------------------------
