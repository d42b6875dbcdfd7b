"""Procedural drawings of every catalog category, good or defective, with an exact mask per defect region.

A scene is a list of shapes in unit coordinates (fractions of the image side), so one description renders at any
size. Shapes that form one countable thing (a fruit, a pin, a cable) share an ``item`` id. A logical anomaly is an
edit of the description (an extra, missing, recoloured or moved item) and its mask is where the changed items show
before or after the edit. A structural anomaly is painted on the rendered pixels (scratch, crack, hole, colour blob,
cut-out chunk), clipped to the object it damages, and its mask is exactly the painted region. Drawings are a pure
function of the random generator passed in, which is what makes the written datasets reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import count
from types import MappingProxyType
from typing import Final

import numpy as np
from PIL import Image, ImageDraw

from data_prep.catalog import LOCO_ANOMALY_KINDS, MVTEC_AD_DEFECTS, validate_categories

RGB = tuple[int, int, int]
Rng = np.random.Generator

# ----------------------------------------------------------------------------------------------------------------
# Shapes, scenes and rendering


@dataclass(frozen=True)
class Shape:
    """One primitive: ``xy`` is a bounding box for ellipse/rect and a flat point list for polygon/line."""

    kind: str
    xy: tuple[float, ...]
    fill: RGB | None = None
    outline: RGB | None = None
    width: float = 0.0
    group: str = ""
    item: int = 0


@dataclass(frozen=True)
class Texture:
    """A procedural surface (fabric, wood, ...) blending two colours, drawn per pixel from its own seed."""

    kind: str
    colours: tuple[RGB, RGB]
    seed: int


@dataclass(frozen=True, eq=False)
class Scene:
    """Everything needed to render one image; ``meta`` keeps layout facts that edits need (free slots, ...)."""

    background: RGB
    shapes: tuple[Shape, ...]
    texture: Texture | None = None
    meta: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Region:
    """One annotated defect region: a boolean mask of the image size."""

    defect: str
    mask: np.ndarray


@dataclass(frozen=True, eq=False)
class Drawing:
    """A defective image, the same scene without its defects (for comparisons), and one region per defect."""

    image: Image.Image
    good: Image.Image
    regions: tuple[Region, ...]


def _ellipse(cx: float, cy: float, rx: float, ry: float | None = None, **style: object) -> Shape:
    ry = rx if ry is None else ry
    return Shape("ellipse", (cx - rx, cy - ry, cx + rx, cy + ry), **style)


def _rect(x0: float, y0: float, x1: float, y1: float, **style: object) -> Shape:
    return Shape("rect", (x0, y0, x1, y1), **style)


def _polygon(points: Iterable[tuple[float, float]], **style: object) -> Shape:
    return Shape("polygon", tuple(v for point in points for v in point), **style)


def _line(points: Iterable[tuple[float, float]], colour: RGB, width: float, **style: object) -> Shape:
    return Shape("line", tuple(v for point in points for v in point), fill=colour, width=width, **style)


def _oval_points(
    cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, n: int = 28
) -> list[tuple[float, float]]:
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    x = cx + rx * np.cos(t) * math.cos(angle) - ry * np.sin(t) * math.sin(angle)
    y = cy + rx * np.cos(t) * math.sin(angle) + ry * np.sin(t) * math.cos(angle)
    return list(zip(x.tolist(), y.tolist(), strict=True))


def _box_points(cx: float, cy: float, w: float, h: float, angle: float) -> list[tuple[float, float]]:
    c, s = math.cos(angle), math.sin(angle)
    corners = ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2))
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in corners]


def _crescent_points(cx: float, cy: float, r: float, thickness: float, angle: float) -> list[tuple[float, float]]:
    arc = np.linspace(-0.75 * math.pi, 0.75 * math.pi, 16) + angle
    outer = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in arc]
    inner_r = r - thickness
    inner = [
        (
            cx + r * 0.35 * math.cos(angle) + inner_r * math.cos(a),
            cy + r * 0.35 * math.sin(angle) + inner_r * math.sin(a),
        )
        for a in arc[::-1]
    ]
    return outer + inner


def _shade(colour: RGB, rng: Rng, amount: int = 10) -> RGB:
    jitter = rng.integers(-amount, amount + 1, size=3)
    return tuple(int(v) for v in np.clip(np.array(colour) + jitter, 0, 255))


def _scaled(colour: RGB, factor: float) -> RGB:
    return tuple(int(min(255, v * factor)) for v in colour)


def _draw_shape(draw: ImageDraw.ImageDraw, shape: Shape, size: int, ink: int | None = None) -> None:
    """Draw in the shape's colours, or with one ``ink`` value wherever it has colour (footprints).

    Fill and outline are separate calls because Pillow skips an outline whose colour equals the fill, which would
    make a one-ink footprint miss the outline's pixels."""
    fill = shape.fill if ink is None or shape.fill is None else ink
    outline = shape.outline if ink is None or shape.outline is None else ink
    xy = [v * size for v in shape.xy]
    width = max(1, round(shape.width * size))
    if shape.kind == "line":
        draw.line(xy, fill=fill, width=width, joint="curve")
        return
    paint = {"ellipse": draw.ellipse, "rect": draw.rectangle, "polygon": draw.polygon}[shape.kind]
    if fill is not None:
        paint(xy, fill=fill)
    if outline is not None:
        paint(xy, outline=outline, width=width)


def _smooth_noise(rng: Rng, cells: int, size: int) -> np.ndarray:
    small = Image.fromarray((rng.random((cells, cells)) * 255).astype(np.uint8))
    return np.asarray(small.resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32) / 255.0


def _texture_pixels(texture: Texture, size: int) -> np.ndarray:
    rng = np.random.default_rng(texture.seed)
    coarse = _smooth_noise(rng, 6, size)
    medium = _smooth_noise(rng, 18, size)
    fine = rng.random((size, size), dtype=np.float32)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if texture.kind == "weave":
        value = 0.5 + 0.3 * np.sin(2 * np.pi * 16 * x) * np.sin(2 * np.pi * 16 * y) + 0.3 * (fine - 0.5)
    elif texture.kind == "mesh":
        wire = ((x * 8 + 0.1 * coarse) % 1 < 0.22) | ((y * 8 + 0.1 * coarse) % 1 < 0.22)
        value = wire * (0.75 + 0.25 * fine)
    elif texture.kind == "grain":
        value = 0.65 * medium + 0.35 * fine
    elif texture.kind == "speckle":
        value = 0.25 * coarse + (medium > 0.68) * 0.5 + 0.15 * fine
    else:  # "stripes": wood grain
        value = 0.5 + 0.5 * np.sin(2 * np.pi * (7 * y + 1.2 * coarse)) * (0.8 + 0.2 * fine)
    value = np.clip(value, 0.0, 1.0)[..., None]
    low, high = (np.array(c, dtype=np.float32) for c in texture.colours)
    return (low * (1 - value) + high * value).astype(np.uint8)


def render(scene: Scene, size: int) -> Image.Image:
    """Paint ``scene`` as a ``size`` x ``size`` RGB image."""
    if scene.texture is None:
        image = Image.new("RGB", (size, size), scene.background)
    else:
        image = Image.fromarray(_texture_pixels(scene.texture, size))
    draw = ImageDraw.Draw(image)
    for shape in scene.shapes:
        _draw_shape(draw, shape, size)
    return image


def _coverage(scene: Scene, selected: Callable[[Shape], bool], size: int) -> np.ndarray:
    """Pixels where the selected shapes are visible, later shapes hiding earlier ones."""
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    for shape in scene.shapes:
        _draw_shape(draw, shape, size, ink=255 if selected(shape) else 0)
    return np.asarray(canvas) > 0


def _items_visible(scene: Scene, items: set[int], size: int) -> np.ndarray:
    return _coverage(scene, lambda shape: shape.item in items, size)


def _surface(scene: Scene, groups: Sequence[str], size: int) -> np.ndarray:
    """Where a structural defect may land: the visible shapes of ``groups``, the whole image for textures."""
    if scene.texture is None:
        surface = _coverage(scene, lambda shape: shape.group in groups, size)
        if surface.any():
            return surface
    return np.ones((size, size), dtype=bool)


# ----------------------------------------------------------------------------------------------------------------
# Scene edits (logical anomalies and changed parts)

Edit = Callable[[Scene, Rng, int], tuple[Scene, list[set[int]]]]


def _items(scene: Scene, group: str) -> list[int]:
    return sorted({shape.item for shape in scene.shapes if shape.group == group and shape.item})


def _next_item(scene: Scene) -> int:
    return max((shape.item for shape in scene.shapes), default=0) + 1


def _with(scene: Scene, shapes: Iterable[Shape]) -> Scene:
    return replace(scene, shapes=scene.shapes + tuple(shapes))


def _without(scene: Scene, items: set[int]) -> Scene:
    return replace(scene, shapes=tuple(shape for shape in scene.shapes if shape.item not in items))


def _replaced(scene: Scene, item: int, new_shapes: Sequence[Shape]) -> Scene:
    """Swap an item's shapes for new ones at the same depth, so what was drawn over it still is."""
    index = next(i for i, shape in enumerate(scene.shapes) if shape.item == item)
    rest = [shape for shape in scene.shapes if shape.item != item]
    return replace(scene, shapes=tuple(rest[:index]) + tuple(new_shapes) + tuple(rest[index:]))


def _recoloured(scene: Scene, items: set[int], old: RGB, new: RGB) -> Scene:
    shapes = (replace(s, fill=new) if s.item in items and s.fill == old else s for s in scene.shapes)
    return replace(scene, shapes=tuple(shapes))


def _moved(scene: Scene, item: int, dx: float, dy: float) -> Scene:
    def shift(shape: Shape) -> Shape:
        xy = tuple(v + (dx if i % 2 == 0 else dy) for i, v in enumerate(shape.xy))
        return replace(shape, xy=xy) if shape.item == item else shape

    return replace(scene, shapes=tuple(shift(shape) for shape in scene.shapes))


def _centre(scene: Scene, item: int) -> tuple[float, float]:
    xy = next(shape.xy for shape in scene.shapes if shape.item == item)
    return (sum(xy[0::2]) / len(xy[0::2]), sum(xy[1::2]) / len(xy[1::2]))


def _main_fill(scene: Scene, item: int) -> RGB:
    return next(shape.fill for shape in scene.shapes if shape.item == item and shape.fill is not None)


def _pick(rng: Rng, items: Sequence[int], k: int) -> list[int]:
    return sorted(int(i) for i in rng.choice(items, size=k, replace=False))


def _remove_some(group: str, keep: int) -> Edit:
    """Remove up to ``n`` items of ``group`` (one region each), always leaving ``keep`` of them."""

    def edit(scene: Scene, rng: Rng, n: int) -> tuple[Scene, list[set[int]]]:
        items = _items(scene, group)
        picked = _pick(rng, items, max(1, min(n, len(items) - keep)))
        return _without(scene, set(picked)), [{item} for item in picked]

    return edit


def _remove_all(group: str) -> Edit:
    """Remove every item of ``group``: one region, as an annotator marks the empty spot."""

    def edit(scene: Scene, rng: Rng, n: int) -> tuple[Scene, list[set[int]]]:
        items = set(_items(scene, group))
        return _without(scene, items), [items]

    return edit


def _add_in_free_slots(slot_key: str, make: Callable[[float, float, int], list[Shape]]) -> Edit:
    """Put up to ``n`` extra items into the layout's free slots, one region each."""

    def edit(scene: Scene, rng: Rng, n: int) -> tuple[Scene, list[set[int]]]:
        free: Sequence[tuple[float, float]] = scene.meta[slot_key]
        changes = []
        for slot in _pick(rng, range(len(free)), min(n, len(free))):
            item = _next_item(scene)
            scene = _with(scene, make(*free[slot], item))
            changes.append({item})
        return scene, changes

    return edit


_CONTRAST: Final = ((206, 42, 168), (36, 188, 206), (124, 204, 40), (92, 56, 26), (40, 62, 206), (240, 240, 236))


def _farthest(colours: Sequence[RGB], reference: np.ndarray) -> RGB:
    distances = [float(np.linalg.norm(np.array(c, dtype=np.float32) - reference)) for c in colours]
    return colours[int(np.argmax(distances))]


def _part_edit(mode: str) -> Edit:
    """MVTec AD / VisA changed parts: an absent, displaced or differently coloured component."""

    def edit(scene: Scene, rng: Rng, n: int) -> tuple[Scene, list[set[int]]]:
        changes = []
        for item in _pick(rng, _items(scene, "part"), min(n, len(_items(scene, "part")))):
            if mode == "remove":
                scene = _without(scene, {item})
            elif mode == "move":
                angle = rng.uniform(0, 2 * math.pi)
                scene = _moved(scene, item, 0.08 * math.cos(angle), 0.08 * math.sin(angle))
            else:
                old = _main_fill(scene, item)
                scene = _recoloured(scene, {item}, old, _farthest(_CONTRAST, np.array(old, dtype=np.float32)))
            changes.append({item})
        return scene, changes

    return edit


# ----------------------------------------------------------------------------------------------------------------
# Structural defects painted on pixels


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
        "blob": _CONTRAST[:5],
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


def _paint(pixels: np.ndarray, paint: Paint, surface: np.ndarray, rng: Rng) -> np.ndarray:
    """Paint one defect in place and return its mask (never empty: it always covers its anchor pixel)."""
    x, y = _anchor(surface, rng, on_edge=paint.op == "chunk")
    mask = (np.asarray(_stroke(paint.op, x, y, rng, surface.shape[0])) > 0) & surface
    mask[y, x] = True
    colour = paint.fill or _farthest(_OP_COLOURS[paint.op], pixels[mask].astype(np.float32).mean(axis=0))
    pixels[mask] = colour
    return mask


# ----------------------------------------------------------------------------------------------------------------
# MVTec AD and VisA objects: one recognisable scene per category

SceneBuilder = Callable[[Rng], Scene]


def _jitter(rng: Rng, spread: float) -> float:
    return float(rng.uniform(-spread, spread))


def _bottle(rng: Rng) -> Scene:
    cx, cy, r = 0.5 + _jitter(rng, 0.02), 0.5 + _jitter(rng, 0.02), 0.38 + _jitter(rng, 0.015)
    return Scene(
        (14, 14, 14),
        (
            _ellipse(cx, cy, r, fill=_shade((92, 62, 30), rng), outline=(60, 40, 20), width=0.015, group="body"),
            _ellipse(cx, cy, r * 0.72, fill=(62, 40, 20), group="body"),
            _ellipse(cx, cy, r * 0.42, fill=(30, 22, 14), group="body"),
            _ellipse(cx - r * 0.3, cy - r * 0.35, r * 0.14, r * 0.07, fill=(156, 124, 84), group="body"),
        ),
    )


def _cable(rng: Rng) -> Scene:
    cx, cy, r, turn = 0.5 + _jitter(rng, 0.02), 0.5 + _jitter(rng, 0.02), 0.4, rng.uniform(0, 2 * math.pi)
    shapes = [
        _ellipse(cx, cy, r, fill=(88, 90, 96), outline=(50, 50, 54), width=0.02, group="body"),
        _ellipse(cx, cy, r * 0.86, fill=(206, 206, 198), group="body"),
    ]
    for k, colour in enumerate(((64, 150, 64), (52, 86, 196), (128, 74, 36))):
        angle = turn + k * 2 * math.pi / 3
        wx, wy = cx + r * 0.42 * math.cos(angle), cy + r * 0.42 * math.sin(angle)
        style = {"group": "part", "item": k + 1}
        shapes += [
            _ellipse(wx, wy, r * 0.34, fill=colour, outline=(40, 40, 40), width=0.008, **style),
            _ellipse(wx, wy, r * 0.12, fill=(198, 120, 58), **style),
        ]
    return Scene((30, 30, 32), tuple(shapes))


def _capsule(rng: Rng) -> Scene:
    cx, cy, half, h = 0.5 + _jitter(rng, 0.02), 0.5 + _jitter(rng, 0.03), 0.36, 0.14
    dark, orange = _shade((36, 36, 40), rng, 6), _shade((226, 120, 44), rng)
    imprint = [
        _rect(
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
            _ellipse(cx - half + h, cy, h, fill=dark, group="body"),
            _rect(cx - half + h, cy - h, cx, cy + h, fill=dark, group="body"),
            _rect(cx, cy - h, cx + half - h, cy + h, fill=orange, group="body"),
            _ellipse(cx + half - h, cy, h, fill=orange, group="body"),
            _line([(cx - half + h, cy - h * 0.6), (cx + half - h, cy - h * 0.6)], (250, 250, 245), 0.012, group="body"),
            *imprint,
        ),
    )


def _hazelnut(rng: Rng) -> Scene:
    cx, cy = 0.5 + _jitter(rng, 0.03), 0.52 + _jitter(rng, 0.03)
    stripes = [
        _line(
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
            _ellipse(
                cx, cy, 0.3, 0.33, fill=_shade((152, 96, 46), rng), outline=(108, 64, 30), width=0.012, group="body"
            ),
            *stripes,
            _ellipse(cx, cy - 0.31, 0.06, 0.035, fill=(92, 58, 30), group="body"),
        ),
    )


def _metal_nut(rng: Rng) -> Scene:
    cx, cy, turn = 0.5 + _jitter(rng, 0.02), 0.5 + _jitter(rng, 0.02), rng.uniform(0, math.pi / 3)
    hexagon = [
        (cx + 0.32 * math.cos(turn + k * math.pi / 3), cy + 0.32 * math.sin(turn + k * math.pi / 3)) for k in range(6)
    ]
    lobes = [
        _ellipse(
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
            _polygon(hexagon, fill=_shade((148, 152, 160), rng), outline=(96, 98, 106), width=0.012, group="body"),
            *lobes,
            _ellipse(cx, cy, 0.13, fill=(22, 22, 24), outline=(90, 92, 98), width=0.012, group="hole"),
        ),
    )


def _pill(rng: Rng) -> Scene:
    cx, cy = 0.5 + _jitter(rng, 0.02), 0.5 + _jitter(rng, 0.03)
    angles, radii = rng.uniform(0, 2 * math.pi, 14), np.sqrt(rng.uniform(0, 1, 14)) * 0.8
    specks = [
        _ellipse(cx + 0.36 * r * math.cos(a), cy + 0.2 * r * math.sin(a), 0.012, fill=(186, 64, 50), group="body")
        for a, r in zip(angles, radii, strict=True)
    ]
    imprint = _line(
        [(cx - 0.05, cy + 0.06), (cx - 0.05, cy - 0.06), (cx + 0.02, cy - 0.06)],
        (146, 52, 40),
        0.016,
        group="part",
        item=1,
    )
    return Scene(
        (24, 24, 24),
        (
            _ellipse(cx, cy, 0.36, 0.2, fill=(236, 232, 222), outline=(200, 196, 186), width=0.01, group="body"),
            *specks,
            imprint,
        ),
    )


def _screw(rng: Rng) -> Scene:
    cx, cy, angle = 0.5 + _jitter(rng, 0.04), 0.5 + _jitter(rng, 0.04), rng.uniform(0, math.pi)
    c, s = math.cos(angle), math.sin(angle)

    def at(u: float, v: float) -> tuple[float, float]:
        return cx + u * c - v * s, cy + u * s + v * c

    threads = [
        _line([at(u, -0.045), at(u + 0.02, 0.045)], (82, 84, 90), 0.01, group="body")
        for u in np.arange(-0.16, 0.26, 0.04)
    ]
    return Scene(
        (232, 232, 230),
        (
            _polygon(
                _box_points(cx, cy, 0.56, 0.07, angle),
                fill=_shade((128, 130, 136), rng, 6),
                outline=(80, 82, 88),
                width=0.008,
                group="body",
            ),
            *threads,
            _polygon([at(0.28, -0.035), at(0.36, 0.0), at(0.28, 0.035)], fill=(120, 122, 128), group="body"),
            _ellipse(
                *at(-0.3, 0.0), 0.08, fill=(146, 148, 154), outline=(90, 92, 98), width=0.01, group="part", item=1
            ),
            _line([at(-0.33, 0.0), at(-0.27, 0.0)], (60, 60, 66), 0.016, group="part", item=1),
        ),
    )


def _toothbrush(rng: Rng) -> Scene:
    cx = 0.5 + _jitter(rng, 0.03)
    colour = _shade((58, 118, 200), rng, 14)
    tufts = [
        _ellipse(
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
            _rect(
                cx - 0.06, 0.5, cx + 0.06, 0.97, fill=colour, outline=_scaled(colour, 0.7), width=0.008, group="body"
            ),
            _rect(
                cx - 0.13,
                0.08,
                cx + 0.13,
                0.52,
                fill=_scaled(colour, 1.15),
                outline=_scaled(colour, 0.7),
                width=0.008,
                group="body",
            ),
            *tufts,
        ),
    )


def _transistor(rng: Rng) -> Scene:
    cx, board = 0.5 + _jitter(rng, 0.02), (196, 190, 176)
    leads = [
        _rect(
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
            _rect(
                cx - 0.16,
                0.08,
                cx + 0.16,
                0.27,
                fill=(170, 172, 178),
                outline=(120, 122, 128),
                width=0.008,
                group="body",
            ),
            _ellipse(cx, 0.16, 0.04, fill=board, group="hole"),
            _rect(cx - 0.2, 0.24, cx + 0.2, 0.56, fill=(34, 34, 38), group="body"),
            _line([(cx - 0.12, 0.36), (cx + 0.12, 0.36)], (124, 124, 130), 0.012, group="body"),
            _line([(cx - 0.12, 0.42), (cx + 0.06, 0.42)], (124, 124, 130), 0.012, group="body"),
        ),
    )


def _textured(kind: str, colours: tuple[RGB, RGB], rng: Rng) -> Scene:
    return Scene(colours[0], (), Texture(kind, colours, int(rng.integers(2**32))))


def _zipper(rng: Rng) -> Scene:
    fabric = _textured("weave", ((28, 28, 32), (64, 64, 70)), rng)
    cx = 0.5 + _jitter(rng, 0.02)
    teeth = [
        _rect(
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
        cx = 0.08 + cell * (slot % grid + 0.5) + _jitter(rng, cell * 0.08)
        cy = 0.08 + cell * (slot // grid + 0.5) + _jitter(rng, cell * 0.08)
        shapes += item_shapes(cx, cy, cell, rng, item)
    if isinstance(background, Texture):
        return Scene(background.colours[0], tuple(shapes), background)
    return Scene(background, tuple(shapes))


def _candle(cx: float, cy: float, cell: float, rng: Rng, item: int) -> list[Shape]:
    r = cell * 0.4
    return [
        _ellipse(
            cx,
            cy,
            r,
            fill=_shade((244, 240, 230), rng, 4),
            outline=(206, 198, 182),
            width=0.01,
            group="part",
            item=item,
        ),
        _ellipse(cx, cy, r * 0.22, fill=(206, 194, 170), group="part", item=item),
        _ellipse(cx, cy, r * 0.08, fill=(40, 36, 30), group="part", item=item),
    ]


def _green_capsule(cx: float, cy: float, cell: float, rng: Rng, item: int) -> list[Shape]:
    angle = rng.uniform(0, math.pi)
    return [
        _polygon(
            _oval_points(cx, cy, cell * 0.42, cell * 0.2, angle),
            fill=_shade((112, 190, 140), rng, 8),
            outline=(60, 120, 80),
            width=0.006,
            group="part",
            item=item,
        ),
        _polygon(
            _oval_points(cx, cy - cell * 0.04, cell * 0.25, cell * 0.05, angle),
            fill=(196, 236, 206),
            group="part",
            item=item,
        ),
    ]


def _macaroni(cx: float, cy: float, cell: float, rng: Rng, item: int) -> list[Shape]:
    angle = rng.uniform(0, math.pi)
    return [
        _polygon(
            _oval_points(cx, cy, cell * 0.36, cell * 0.22, angle),
            fill=_shade((238, 214, 160), rng, 6),
            outline=(196, 164, 112),
            width=0.008,
            group="part",
            item=item,
        ),
        _polygon(_oval_points(cx, cy, cell * 0.16, cell * 0.09, angle), fill=(184, 150, 100), group="part", item=item),
    ]


def _cashew(rng: Rng) -> Scene:
    cx, cy, angle = 0.52 + _jitter(rng, 0.03), 0.5 + _jitter(rng, 0.03), rng.uniform(0, 2 * math.pi)
    along = angle + rng.uniform(-0.6 * math.pi, 0.6 * math.pi, 5)
    spots = [
        _ellipse(cx + 0.25 * math.cos(a), cy + 0.25 * math.sin(a), 0.014, fill=(176, 132, 84), group="body")
        for a in along
    ]
    body = _polygon(
        _crescent_points(cx, cy, 0.33, 0.2, angle),
        fill=_shade((230, 206, 158), rng, 6),
        outline=(192, 164, 116),
        width=0.01,
        group="body",
    )
    return Scene((38, 58, 46), (body, *spots))


def _chewinggum(rng: Rng) -> Scene:
    cx, cy = 0.5 + _jitter(rng, 0.03), 0.5 + _jitter(rng, 0.03)
    specks = [
        _ellipse(cx + _jitter(rng, 0.24), cy + _jitter(rng, 0.14), 0.01, fill=(196, 196, 190), group="body")
        for _ in range(12)
    ]
    return Scene(
        (30, 34, 40),
        (
            _polygon(
                _oval_points(cx, cy, 0.34, 0.22, 0.0, 40),
                fill=(242, 240, 232),
                outline=(206, 204, 196),
                width=0.01,
                group="body",
            ),
            *specks,
        ),
    )


def _fryum(rng: Rng) -> Scene:
    cx, cy, turn = 0.5 + _jitter(rng, 0.02), 0.5 + _jitter(rng, 0.02), rng.uniform(0, math.pi / 4)
    colour = _shade((228, 186, 92), rng, 8)
    spokes = [
        _line(
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
            _ellipse(cx, cy, 0.34, outline=colour, width=0.07, group="body"),
            *spokes,
            _ellipse(cx, cy, 0.1, fill=colour, outline=_scaled(colour, 0.8), width=0.01, group="body"),
        ),
    )


def _pipe_fryum(rng: Rng) -> Scene:
    cx, cy, angle = 0.5 + _jitter(rng, 0.02), 0.5 + _jitter(rng, 0.02), _jitter(rng, 0.3)
    c, s = math.cos(angle), math.sin(angle)
    ridges = [
        _line(
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
            _polygon(
                _box_points(cx, cy, 0.72, 0.24, angle),
                fill=_shade((234, 152, 62), rng, 6),
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
        return _rect(
            x - 0.09, y - 0.06, x + 0.09, y + 0.06, fill=(26, 26, 28), outline=(190, 190, 196), width=0.01, **style
        )
    if kind == 1:  # LED
        return _ellipse(x, y, 0.045, fill=(222, 40, 40), outline=(120, 20, 20), width=0.008, **style)
    return _rect(
        x - 0.07, y - 0.035, x + 0.07, y + 0.035, fill=(232, 230, 222), outline=(150, 150, 146), width=0.008, **style
    )


def _pcb(board: RGB, layout_seed: int, rng: Rng) -> Scene:
    """A board whose layout is fixed per category (``layout_seed``) and jittered per image, as real boards are.

    Components sit in separate cells of a 3 x 2 grid so that none hides another."""
    layout = np.random.default_rng(layout_seed)
    dx, dy = _jitter(rng, 0.015), _jitter(rng, 0.015)
    traces = []
    for _ in range(7):
        x0, y0, x1, y1 = layout.uniform(0.12, 0.88, 4)
        traces.append(
            _line([(x0 + dx, y0 + dy), (x1 + dx, y0 + dy), (x1 + dx, y1 + dy)], (200, 170, 84), 0.012, group="body")
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
            _rect(
                0.06 + dx,
                0.1 + dy,
                0.94 + dx,
                0.9 + dy,
                fill=board,
                outline=_scaled(board, 0.6),
                width=0.012,
                group="body",
            ),
            *traces,
            *parts,
        ),
    )


_OBJECT_SCENES: Final[Mapping[str, SceneBuilder]] = MappingProxyType(
    {
        # MVTec AD
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
        # VisA
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
# MVTec LOCO AD scenes: each with the rules its logical anomalies break

_TABLE: Final = (40, 44, 52)
_TANGERINE: Final = (236, 132, 28)
_NECTARINE: Final = (196, 62, 48)
_FRUIT_SLOTS: Final = tuple((x, y) for y in (0.28, 0.5, 0.72) for x in (0.19, 0.385))


def _fruit(cx: float, cy: float, colour: RGB, item: int) -> list[Shape]:
    style = {"group": "fruit", "item": item}
    return [
        _ellipse(cx, cy, 0.085, fill=colour, outline=_scaled(colour, 0.75), width=0.008, **style),
        _ellipse(cx - 0.03, cy - 0.03, 0.022, fill=_scaled(colour, 1.25), **style),
    ]


def _breakfast_box(rng: Rng) -> Scene:
    """Left: exactly two tangerines and one nectarine. Right: cereal, three banana chips, three almonds."""
    items = count(1)
    shapes = [
        _rect(0.05, 0.1, 0.95, 0.9, fill=(232, 224, 204), outline=(176, 166, 146), width=0.012, group="box"),
        _rect(0.09, 0.14, 0.48, 0.86, fill=(216, 206, 184), group="box"),
        _rect(0.52, 0.14, 0.91, 0.86, fill=(216, 206, 184), group="box"),
    ]
    slots = sorted(int(s) for s in rng.choice(len(_FRUIT_SLOTS), size=3, replace=False))
    colours = [(_TANGERINE, _TANGERINE, _NECTARINE)[int(k)] for k in rng.permutation(3)]
    for slot, colour in zip(slots, colours, strict=True):
        x, y = _FRUIT_SLOTS[slot]
        shapes += _fruit(x + _jitter(rng, 0.012), y + _jitter(rng, 0.012), colour, next(items))
    cereal = next(items)
    shapes.append(_rect(0.55, 0.18, 0.88, 0.5, fill=(178, 128, 70), group="cereal", item=cereal))
    for k in range(18):
        tone = (128, 86, 42) if k % 2 else (212, 166, 100)
        shapes.append(
            _ellipse(rng.uniform(0.58, 0.85), rng.uniform(0.21, 0.47), 0.013, fill=tone, group="cereal", item=cereal)
        )
    for x in (0.615, 0.715, 0.815):
        shapes.append(
            _ellipse(
                x + _jitter(rng, 0.008),
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
            _polygon(
                _oval_points(x + _jitter(rng, 0.008), 0.76, 0.044, 0.024, _jitter(rng, 0.5)),
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
    item = _pick(rng, _items(scene, "fruit"), 1)[0]
    x, y = _centre(scene, item)
    return _moved(scene, item, rng.uniform(0.64, 0.79) - x, rng.uniform(0.29, 0.39) - y), [{item}]


_JUICES: Final = (  # (liquid, label icon): the icon names the juice the liquid must be
    ((242, 148, 34), (250, 136, 20)),
    ((148, 24, 44), (206, 30, 52)),
    ((236, 218, 138), (250, 222, 64)),
)


def _juice_icon(kind: int, cx: float, cy: float, item: int) -> list[Shape]:
    style = {"group": "label", "item": item}
    colour = _JUICES[kind][1]
    if kind == 0:  # orange
        return [_ellipse(cx, cy, 0.055, fill=colour, outline=_scaled(colour, 0.7), width=0.006, **style)]
    if kind == 1:  # cherries
        return [
            _line([(cx - 0.03, cy + 0.02), (cx, cy - 0.05), (cx + 0.03, cy + 0.02)], (70, 120, 40), 0.008, **style),
            _ellipse(cx - 0.03, cy + 0.025, 0.028, fill=colour, **style),
            _ellipse(cx + 0.03, cy + 0.025, 0.028, fill=colour, **style),
        ]
    return [
        _polygon(
            _crescent_points(cx, cy - 0.03, 0.06, 0.03, math.pi / 2),
            fill=colour,
            outline=(170, 140, 30),
            width=0.004,
            **style,
        )
    ]


def _juice_bottle(rng: Rng) -> Scene:
    """The liquid's colour must match the fruit on the label, and the bottle is filled to the shoulder."""
    kind, dx, level = int(rng.integers(len(_JUICES))), _jitter(rng, 0.02), 0.36 + _jitter(rng, 0.01)
    glass, liquid = (186, 200, 206), _JUICES[kind][0]
    label = 3
    shapes = (
        _rect(0.42 + dx, 0.07, 0.58 + dx, 0.26, fill=glass, outline=(140, 156, 162), width=0.008, group="glass"),
        _rect(
            0.405 + dx, 0.035, 0.595 + dx, 0.1, fill=(232, 232, 228), outline=(180, 180, 176), width=0.006, group="cap"
        ),
        _ellipse(0.5 + dx, 0.3, 0.2, 0.09, fill=glass, group="glass"),
        _rect(0.3 + dx, 0.3, 0.7 + dx, 0.93, fill=glass, outline=(140, 156, 162), width=0.008, group="glass"),
        _rect(0.32 + dx, level, 0.68 + dx, level + 0.12, fill=liquid, group="liquid", item=1),
        _rect(0.32 + dx, level + 0.12, 0.68 + dx, 0.91, fill=liquid, group="liquid", item=2),
        _line([(0.335 + dx, 0.33), (0.335 + dx, 0.88)], (232, 242, 246), 0.012, group="glass"),
        _rect(
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
        _line([(0.4 + dx, 0.735), (0.6 + dx, 0.735)], (120, 120, 120), 0.012, group="label", item=label),
        _line([(0.43 + dx, 0.765), (0.57 + dx, 0.765)], (120, 120, 120), 0.012, group="label", item=label),
    )
    return Scene((26, 26, 30), shapes, meta={"juice": kind})


def _wrong_juice(scene: Scene, rng: Rng, n: int) -> tuple[Scene, list[set[int]]]:
    kind = int(scene.meta["juice"])
    other = (kind + 1 + int(rng.integers(len(_JUICES) - 1))) % len(_JUICES)
    items = set(_items(scene, "liquid"))
    return _recoloured(scene, items, _JUICES[kind][0], _JUICES[other][0]), [items]


def _fill_level_low(scene: Scene, rng: Rng, n: int) -> tuple[Scene, list[set[int]]]:
    top = _items(scene, "liquid")[0]  # the band just under the shoulder
    return _without(scene, {top}), [{top}]


def _label_misplaced(scene: Scene, rng: Rng, n: int) -> tuple[Scene, list[set[int]]]:
    label = _items(scene, "label")[0]
    return _moved(scene, label, 0.0, rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 0.13)), [{label}]


_PIN: Final = (236, 198, 40)
_PIN_BOX: Final = (62, 64, 70)


def _pin(cx: float, cy: float, angle: float, item: int) -> list[Shape]:
    style = {"group": "pin", "item": item}
    tip = (cx + 0.065 * math.cos(angle), cy + 0.065 * math.sin(angle))
    return [
        _line([(cx, cy), tip], (208, 208, 214), 0.01, **style),
        _ellipse(cx, cy, 0.034, fill=_PIN, outline=(176, 136, 20), width=0.006, **style),
        _ellipse(cx - 0.01, cy - 0.01, 0.011, fill=(252, 238, 160), **style),
    ]


def _pushpins(rng: Rng) -> Scene:
    """Fifteen compartments (5 x 3) separated by walls, each holding exactly one pin."""
    items = count(1)
    width, height = 0.9 / 5, 0.76 / 3
    shapes = [_rect(0.03, 0.1, 0.97, 0.9, fill=_PIN_BOX, outline=(118, 120, 126), width=0.012, group="box")]
    for c in range(1, 5):
        x = 0.05 + c * width
        shapes.append(_rect(x - 0.007, 0.12, x + 0.007, 0.88, fill=(142, 144, 150), group="wall", item=next(items)))
    for r in range(1, 3):
        y = 0.12 + r * height
        shapes.append(_rect(0.05, y - 0.007, 0.95, y + 0.007, fill=(142, 144, 150), group="wall", item=next(items)))
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
        _polygon(hexagon, fill=(160, 162, 168), outline=(104, 106, 112), width=0.008, group="nut", item=item),
        _ellipse(cx, cy, 0.03, fill=_BAG, outline=(104, 106, 112), width=0.006, group="nut", item=item),
    ]


def _washer(cx: float, cy: float, item: int) -> list[Shape]:
    return [
        _ellipse(cx, cy, 0.068, fill=(188, 190, 198), outline=(126, 128, 136), width=0.008, group="washer", item=item),
        _ellipse(cx, cy, 0.032, fill=_BAG, outline=(126, 128, 136), width=0.006, group="washer", item=item),
    ]


def _screw_item(y: float, length: float, head_left: bool, item: int) -> list[Shape]:
    x0, x1 = (0.2, 0.2 + length) if head_left else (0.8 - length, 0.8)
    head_x, tip_x, sign = (x0, x1, 1.0) if head_left else (x1, x0, -1.0)
    style = {"group": "screw", "item": item}
    threads = [
        _line([(u, y - 0.028), (u + 0.012, y + 0.028)], (92, 94, 100), 0.007, **style)
        for u in np.arange(min(x0, x1) + 0.06, max(x0, x1) - 0.04, 0.03)
    ]
    return [
        _rect(
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
        _polygon([(tip_x, y - 0.025), (tip_x + sign * 0.05, y), (tip_x, y + 0.025)], fill=(120, 124, 130), **style),
        _rect(
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
        _rect(0.06, 0.06, 0.94, 0.94, fill=_BAG, outline=(166, 170, 178), width=0.01, group="bag"),
        _rect(0.06, 0.06, 0.94, 0.13, fill=(190, 195, 204), group="bag"),
    ]
    long_first = bool(rng.integers(2))
    for y, length in zip((0.27, 0.43), (0.56, 0.4) if long_first else (0.4, 0.56), strict=True):
        shapes += _screw_item(y + _jitter(rng, 0.015), length, bool(rng.integers(2)), next(items))
    slots = [int(s) for s in rng.permutation(len(_BAG_SLOTS))]
    for slot, make in zip(slots[:4], (_nut, _nut, _washer, _washer), strict=True):
        x, y = _BAG_SLOTS[slot]
        shapes += make(x + _jitter(rng, 0.02), y + _jitter(rng, 0.015), next(items))
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
        _rect(x0, cy - half, x0 + 0.2, cy + half, fill=(234, 234, 228), outline=(150, 150, 146), width=0.008, **style)
    ]
    lever_x, hole_x = (x0 + 0.1, x0 + 0.04) if mirrored else (x0 + 0.02, x0 + 0.16)
    for k in range(poles):
        y = _pole_y(cy, poles, k)
        shapes += [
            _rect(
                lever_x,
                y - 0.028,
                lever_x + 0.08,
                y + 0.028,
                fill=(238, 128, 32),
                outline=(170, 86, 20),
                width=0.004,
                **style,
            ),
            _ellipse(hole_x, y, 0.022, fill=(86, 86, 90), **style),
        ]
    return shapes


def _splicing_connectors(rng: Rng) -> Scene:
    """Two connectors of the same size joined by one cable whose colour encodes that size (2, 3 or 5 poles)."""
    poles = int(rng.choice(list(_CABLE_BY_POLES)))
    cy, k, sag = 0.5 + _jitter(rng, 0.04), int(rng.integers(poles)), _jitter(rng, 0.25)
    y = _pole_y(cy, poles, k)
    bend = [(0.22, y), (0.36, y + sag * 0.7), (0.5, y + sag), (0.64, y + sag * 0.7), (0.78, y)]
    shapes = (
        *_connector(0.06, cy, poles, False, 1),
        *_connector(0.74, cy, poles, True, 2),
        _line([(x, min(0.92, max(0.08, v))) for x, v in bend], _CABLE_BY_POLES[poles], 0.035, group="cable", item=3),
    )
    return Scene((208, 208, 204), shapes, meta={"poles": poles, "cy": cy})


def _wrong_cable_colour(scene: Scene, rng: Rng, n: int) -> tuple[Scene, list[set[int]]]:
    poles = int(scene.meta["poles"])
    other = int(rng.choice([p for p in _CABLE_BY_POLES if p != poles]))
    return _recoloured(scene, {3}, _CABLE_BY_POLES[poles], _CABLE_BY_POLES[other]), [{3}]


def _mismatched_connector(scene: Scene, rng: Rng, n: int) -> tuple[Scene, list[set[int]]]:
    poles = int(scene.meta["poles"])
    other = int(rng.choice([p for p in _CABLE_BY_POLES if p != poles]))
    return _replaced(scene, 2, _connector(0.74, float(scene.meta["cy"]), other, True, 2)), [{2}]


@dataclass(frozen=True)
class _LocoCategory:
    build: SceneBuilder
    logical: Mapping[str, Edit]
    structural: Mapping[str, Paint]


_LOCO: Final[Mapping[str, _LocoCategory]] = MappingProxyType(
    {
        "breakfast_box": _LocoCategory(
            _breakfast_box,
            {
                "extra_fruit": _add_in_free_slots(
                    "free_fruit_slots", lambda x, y, item: _fruit(x, y, _TANGERINE, item)
                ),
                "missing_fruit": _remove_some("fruit", keep=1),
                "missing_almonds": _remove_all("almond"),
                "fruit_in_cereal": _fruit_in_cereal,
            },
            {
                "box_damaged": Paint("chunk", ("box",), _TABLE),
                "contamination": Paint("blob", ("box", "cereal")),
                "fruit_damaged": Paint("dot", ("fruit",)),
            },
        ),
        "juice_bottle": _LocoCategory(
            _juice_bottle,
            {"wrong_juice": _wrong_juice, "fill_level_low": _fill_level_low, "label_misplaced": _label_misplaced},
            {
                "contamination": Paint("blob", ("liquid",)),
                "broken_glass": Paint("crack", ("glass", "cap")),
                "scratched_label": Paint("line", ("label",)),
            },
        ),
        "pushpins": _LocoCategory(
            _pushpins,
            {
                "missing_pin": _remove_some("pin", keep=13),
                "extra_pin": _add_in_free_slots("second_pin_spots", _extra_pin),
                "missing_separator": _remove_some("wall", keep=5),
            },
            {
                "broken_pin": Paint("chunk", ("pin",), _PIN_BOX),
                "contamination": Paint("blob", ("box",)),
                "box_crack": Paint("crack", ("box", "wall")),
            },
        ),
        "screw_bag": _LocoCategory(
            _screw_bag,
            {
                "missing_screw": _remove_some("screw", keep=1),
                "extra_nut": _add_in_free_slots("free_slots", _nut),
                "missing_washer": _remove_some("washer", keep=0),
            },
            {
                "bag_torn": Paint("crack", ("bag",)),
                "contamination": Paint("blob", ("bag",)),
                "damaged_nut": Paint("chunk", ("nut",), _BAG),
            },
        ),
        "splicing_connectors": _LocoCategory(
            _splicing_connectors,
            {
                "wrong_cable_colour": _wrong_cable_colour,
                "mismatched_connector": _mismatched_connector,
                "missing_cable": _remove_all("cable"),
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
        for category, spec in _LOCO.items()
    }
)


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
    builder = _LOCO[category].build if dataset == "mvtec_loco" else _OBJECT_SCENES[category]
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
        spec = _LOCO[category]
        return spec.logical.get(defect) or spec.structural[defect]
    op = op_for_defect(defect)
    if op in ("remove", "move", "recolour"):
        if _items(scene, "part"):
            return _part_edit(op)
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
        surface = _surface(scene, plan.groups, size)
        masks = [_paint(pixels, plan, surface, rng) for _ in range(instances)]
        return Drawing(Image.fromarray(pixels), good, tuple(Region(defect, mask) for mask in masks))
    edited, changes = plan(scene, rng, instances)
    masks = [_items_visible(scene, items, size) | _items_visible(edited, items, size) for items in changes]
    return Drawing(render(edited, size), good, tuple(Region(defect, mask) for mask in masks))
