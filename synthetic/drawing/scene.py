"""Scenes: shapes in unit coordinates, rendering, and the edits that make logical anomalies."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

import numpy as np
from PIL import Image, ImageDraw

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


SceneBuilder = Callable[[Rng], Scene]  # a category's scenes: one fresh, defect-free scene per call


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


def ellipse(cx: float, cy: float, rx: float, ry: float | None = None, **style: object) -> Shape:
    ry = rx if ry is None else ry
    return Shape("ellipse", (cx - rx, cy - ry, cx + rx, cy + ry), **style)


def rect(x0: float, y0: float, x1: float, y1: float, **style: object) -> Shape:
    return Shape("rect", (x0, y0, x1, y1), **style)


def polygon(points: Iterable[tuple[float, float]], **style: object) -> Shape:
    return Shape("polygon", tuple(v for point in points for v in point), **style)


def line(points: Iterable[tuple[float, float]], colour: RGB, width: float, **style: object) -> Shape:
    return Shape("line", tuple(v for point in points for v in point), fill=colour, width=width, **style)


def oval_points(
    cx: float, cy: float, rx: float, ry: float, angle: float = 0.0, n: int = 28
) -> list[tuple[float, float]]:
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    x = cx + rx * np.cos(t) * math.cos(angle) - ry * np.sin(t) * math.sin(angle)
    y = cy + rx * np.cos(t) * math.sin(angle) + ry * np.sin(t) * math.cos(angle)
    return list(zip(x.tolist(), y.tolist(), strict=True))


def box_points(cx: float, cy: float, w: float, h: float, angle: float) -> list[tuple[float, float]]:
    c, s = math.cos(angle), math.sin(angle)
    corners = ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2))
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in corners]


def crescent_points(cx: float, cy: float, r: float, thickness: float, angle: float) -> list[tuple[float, float]]:
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


def shade(colour: RGB, rng: Rng, amount: int = 10) -> RGB:
    offset = rng.integers(-amount, amount + 1, size=3)
    return tuple(int(v) for v in np.clip(np.array(colour) + offset, 0, 255))


def scaled(colour: RGB, factor: float) -> RGB:
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


def items_visible(scene: Scene, items: set[int], size: int) -> np.ndarray:
    return _coverage(scene, lambda shape: shape.item in items, size)


def surface_of(scene: Scene, groups: Sequence[str], size: int) -> np.ndarray:
    """Where a structural defect may land: the visible shapes of ``groups``, the whole image for textures."""
    if scene.texture is None:
        surface = _coverage(scene, lambda shape: shape.group in groups, size)
        if surface.any():
            return surface
    return np.ones((size, size), dtype=bool)


# ----------------------------------------------------------------------------------------------------------------
# Scene edits (logical anomalies and changed parts)

Edit = Callable[[Scene, Rng, int], tuple[Scene, list[set[int]]]]


def items_of(scene: Scene, group: str) -> list[int]:
    return sorted({shape.item for shape in scene.shapes if shape.group == group and shape.item})


def _next_item(scene: Scene) -> int:
    return max((shape.item for shape in scene.shapes), default=0) + 1


def _with(scene: Scene, shapes: Iterable[Shape]) -> Scene:
    return replace(scene, shapes=scene.shapes + tuple(shapes))


def without(scene: Scene, items: set[int]) -> Scene:
    return replace(scene, shapes=tuple(shape for shape in scene.shapes if shape.item not in items))


def replaced(scene: Scene, item: int, new_shapes: Sequence[Shape]) -> Scene:
    """Swap an item's shapes for new ones at the same depth, so what was drawn over it still is."""
    index = next(i for i, shape in enumerate(scene.shapes) if shape.item == item)
    rest = [shape for shape in scene.shapes if shape.item != item]
    return replace(scene, shapes=tuple(rest[:index]) + tuple(new_shapes) + tuple(rest[index:]))


def recoloured(scene: Scene, items: set[int], old: RGB, new: RGB) -> Scene:
    shapes = (replace(s, fill=new) if s.item in items and s.fill == old else s for s in scene.shapes)
    return replace(scene, shapes=tuple(shapes))


def moved(scene: Scene, item: int, dx: float, dy: float) -> Scene:
    def shift(shape: Shape) -> Shape:
        xy = tuple(v + (dx if i % 2 == 0 else dy) for i, v in enumerate(shape.xy))
        return replace(shape, xy=xy) if shape.item == item else shape

    return replace(scene, shapes=tuple(shift(shape) for shape in scene.shapes))


def centre(scene: Scene, item: int) -> tuple[float, float]:
    xy = next(shape.xy for shape in scene.shapes if shape.item == item)
    return (sum(xy[0::2]) / len(xy[0::2]), sum(xy[1::2]) / len(xy[1::2]))


def _main_fill(scene: Scene, item: int) -> RGB:
    return next(shape.fill for shape in scene.shapes if shape.item == item and shape.fill is not None)


def pick(rng: Rng, items: Sequence[int], k: int) -> list[int]:
    return sorted(int(i) for i in rng.choice(items, size=k, replace=False))


def remove_some(group: str, keep: int) -> Edit:
    """Remove up to ``n`` items of ``group`` (one region each), always leaving ``keep`` of them."""

    def edit(scene: Scene, rng: Rng, n: int) -> tuple[Scene, list[set[int]]]:
        items = items_of(scene, group)
        picked = pick(rng, items, max(1, min(n, len(items) - keep)))
        return without(scene, set(picked)), [{item} for item in picked]

    return edit


def remove_all(group: str) -> Edit:
    """Remove every item of ``group``: one region, as an annotator marks the empty spot."""

    def edit(scene: Scene, rng: Rng, n: int) -> tuple[Scene, list[set[int]]]:
        items = set(items_of(scene, group))
        return without(scene, items), [items]

    return edit


def add_in_free_slots(slot_key: str, make: Callable[[float, float, int], list[Shape]]) -> Edit:
    """Put up to ``n`` extra items into the layout's free slots, one region each."""

    def edit(scene: Scene, rng: Rng, n: int) -> tuple[Scene, list[set[int]]]:
        free: Sequence[tuple[float, float]] = scene.meta[slot_key]
        changes = []
        for slot in pick(rng, range(len(free)), min(n, len(free))):
            item = _next_item(scene)
            scene = _with(scene, make(*free[slot], item))
            changes.append({item})
        return scene, changes

    return edit


CONTRAST: Final = ((206, 42, 168), (36, 188, 206), (124, 204, 40), (92, 56, 26), (40, 62, 206), (240, 240, 236))


def farthest(colours: Sequence[RGB], reference: np.ndarray) -> RGB:
    distances = [float(np.linalg.norm(np.array(c, dtype=np.float32) - reference)) for c in colours]
    return colours[int(np.argmax(distances))]


def part_edit(mode: str) -> Edit:
    """MVTec AD / VisA changed parts: an absent, displaced or differently coloured component."""

    def edit(scene: Scene, rng: Rng, n: int) -> tuple[Scene, list[set[int]]]:
        changes = []
        for item in pick(rng, items_of(scene, "part"), min(n, len(items_of(scene, "part")))):
            if mode == "remove":
                scene = without(scene, {item})
            elif mode == "move":
                angle = rng.uniform(0, 2 * math.pi)
                scene = moved(scene, item, 0.08 * math.cos(angle), 0.08 * math.sin(angle))
            else:
                old = _main_fill(scene, item)
                scene = recoloured(scene, {item}, old, farthest(CONTRAST, np.array(old, dtype=np.float32)))
            changes.append({item})
        return scene, changes

    return edit


def jitter(rng: Rng, spread: float) -> float:
    return float(rng.uniform(-spread, spread))
