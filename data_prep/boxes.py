"""Ground-truth boxes from defect masks, in the pixel frame of the image a row stores.

A box is ``[x1, y1, x2, y2]`` in pixel-edge coordinates of the stored image: a defect covering columns 10 to 19
has ``x1 = 10, x2 = 20`` (Qwen2.5-VL's ``bbox_2d`` convention, absolute pixels). With ``iad-data build
--grounding`` the stored image is already at the size Qwen2.5-VL's processor resizes to (sides multiples of 28,
``data_prep.images.patch_frame``), so the processor leaves it as it is and these are the model's own coordinates.

- Each mask file is binarised (non-zero is defect: MVTec AD's 0/255, VisA's class ids, LOCO's per-defect values)
  and split into 8-connected components; every component is one box. MVTec LOCO gives several mask files per image
  (one per defect region): the boxes of all of them. A logical anomaly's mask marks where the rule is broken, a
  missing object included (the annotators draw where it should be), so its box says where to look, not an object.
- Components smaller than ``MIN_COMPONENT_PIXELS`` pixels of the original mask are annotation specks and dropped;
  on masks under 256 x 256 pixels (synthetic data) the threshold is 1/4096 of the mask, at least one pixel.
- Boxes are scaled from the mask's size to the stored image's (floor for the near edges, ceil for the far ones,
  so a scaled box always covers the scaled defect) and clipped to the image.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image

MIN_COMPONENT_PIXELS: Final = 16  # a 4 x 4 speck of the original mask, at full resolution


def speck_pixels(width: int, height: int) -> int:
    """Components of fewer pixels than this are specks: 16, or 1/4096 of a mask smaller than 256 x 256."""
    return min(MIN_COMPONENT_PIXELS, max(1, width * height // 4096))


Box = list[int]


def _runs(mask: np.ndarray) -> list[tuple[int, int, int]]:
    """Horizontal runs of True as (row, first column, last column + 1)."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    changes = np.diff(padded, axis=1)
    rows, starts = np.nonzero(changes == 1)
    _, ends = np.nonzero(changes == -1)
    return list(zip(rows.tolist(), starts.tolist(), ends.tolist(), strict=True))


def components(mask: np.ndarray) -> list[tuple[Box, int]]:
    """The 8-connected components of a boolean mask: (box in the mask's pixels, pixel count), top to bottom."""
    runs = _runs(mask)
    parent = list(range(len(runs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_row: dict[int, list[int]] = {}
    for index, (row, _, _) in enumerate(runs):
        by_row.setdefault(row, []).append(index)
    for index, (row, start, end) in enumerate(runs):
        for other in by_row.get(row - 1, ()):
            _, other_start, other_end = runs[other]
            if other_start <= end and start <= other_end:  # overlapping or touching diagonally: 8-connected
                parent[find(index)] = find(other)
    groups: dict[int, list[int]] = {}
    for index in range(len(runs)):
        groups.setdefault(find(index), []).append(index)
    found = []
    for members in groups.values():
        rows = [runs[i][0] for i in members]
        box = [min(runs[i][1] for i in members), min(rows), max(runs[i][2] for i in members), max(rows) + 1]
        found.append((box, sum(runs[i][2] - runs[i][1] for i in members)))
    return sorted(found, key=lambda item: (item[0][1], item[0][0]))


def scale_box(box: Box, source: tuple[int, int], target: tuple[int, int]) -> Box:
    """``box`` from an image of ``source`` (width, height) to one of ``target``, covering, clipped."""
    sx, sy = target[0] / source[0], target[1] / source[1]
    x1, y1 = math.floor(box[0] * sx + 1e-9), math.floor(box[1] * sy + 1e-9)
    x2, y2 = math.ceil(box[2] * sx - 1e-9), math.ceil(box[3] * sy - 1e-9)
    return [max(0, x1), max(0, y1), min(target[0], max(x2, x1 + 1)), min(target[1], max(y2, y1 + 1))]


def boxes_from_masks(mask_files: Iterable[Path], image_size: tuple[int, int]) -> list[Box]:
    """Every defect box of the mask files, in the frame of an image of ``image_size`` (width, height)."""
    boxes = []
    for path in mask_files:
        with Image.open(path) as mask:
            pixels = np.asarray(mask.convert("L")) > 0
        source = (pixels.shape[1], pixels.shape[0])
        boxes += [
            scale_box(box, source, image_size) for box, area in components(pixels) if area >= speck_pixels(*source)
        ]
    return boxes
