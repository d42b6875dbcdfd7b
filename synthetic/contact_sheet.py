"""One PNG showing samples of every (category, class) of a dataset root, masks outlined in red.

It reads the folders with ``data_prep.readers`` (not ``synthetic_manifest.json``), so the same sheet shows whether a
real download or a synthetic stand-in looks the way the data build reads it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from data_prep.images import save_png_atomically
from data_prep.readers import GOOD, read_dataset

LABEL_WIDTH: Final = 200
PAD: Final = 4
_BACKGROUND: Final = (250, 250, 250)
_CELL: Final = (40, 40, 40)
_OUTLINE: Final = (255, 0, 0)


@dataclass(frozen=True)
class SheetRow:
    """One (category, class): its images, each with the mask files that annotate it (none for good images)."""

    category: str
    label: str
    samples: tuple[tuple[Path, tuple[Path, ...]], ...]


def discover_rows(
    root: str | os.PathLike[str], dataset: str, categories: Sequence[str] | None = None
) -> list[SheetRow]:
    """One row per (category, split, defect type) that ``data_prep.readers`` finds under ``root``: the same reader
    the data build uses, so a layout it would refuse (a missing mask, a stray split folder) fails here too."""
    root = Path(root)
    table = read_dataset(dataset, root, categories)
    rows: dict[tuple[str, str, str], list[tuple[Path, tuple[Path, ...]]]] = {}
    for sample in table.itertuples(index=False):
        rows.setdefault((sample.category, sample.split, sample.defect_type), []).append(
            (root / sample.image, tuple(root / mask for mask in sample.masks))
        )
    # the reader's order (catalog category, split, defect type), each split's good images first
    groups = {key[:2]: None for key in rows}
    group_index = {group: index for index, group in enumerate(groups)}
    order = sorted(rows, key=lambda key: (group_index[key[:2]], key[2] != GOOD))
    return [
        SheetRow(category, f"{split}/{defect}", tuple(rows[category, split, defect]))
        for category, split, defect in order
    ]


def _spread(samples: Sequence[tuple[Path, tuple[Path, ...]]], k: int) -> list[tuple[Path, tuple[Path, ...]]]:
    """``k`` samples spread over the sorted list, so cycling defect types all get a chance to show."""
    picks = sorted({int(i) for i in np.linspace(0, len(samples) - 1, min(k, len(samples))).round()})
    return [samples[i] for i in picks]


def _dilate(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask, 1)
    return mask | padded[:-2, 1:-1] | padded[2:, 1:-1] | padded[1:-1, :-2] | padded[1:-1, 2:]


def _thumbnail(image_path: Path, mask_paths: Sequence[Path], size: int) -> Image.Image:
    """The image fitted into a ``size`` square, with its masks outlined in red just outside, so thin defects
    (a scratch, a recoloured cable) stay visible."""
    with Image.open(image_path) as source:
        source.draft("RGB", (size, size))
        image = ImageOps.contain(source.convert("RGB"), (size, size))
    if mask_paths:
        union = np.zeros((image.height, image.width), dtype=bool)
        for mask_path in mask_paths:
            with Image.open(mask_path) as mask:
                union |= np.asarray(mask.convert("L").resize(image.size, Image.Resampling.NEAREST)) > 0
        pixels = np.array(image)
        pixels[_dilate(union) & ~union] = _OUTLINE
        image = Image.fromarray(pixels)
    cell = Image.new("RGB", (size, size), _CELL)
    cell.paste(image, ((size - image.width) // 2, (size - image.height) // 2))
    return cell


def sheet_size(n_rows: int, per_class: int, size: int) -> tuple[int, int]:
    """Width and height in pixels of a sheet with ``n_rows`` rows of ``per_class`` cells of ``size``."""
    return LABEL_WIDTH + per_class * (size + PAD) + PAD, n_rows * (size + PAD) + PAD


def make_contact_sheet(
    root: str | os.PathLike[str],
    dataset: str,
    out_png: str | os.PathLike[str],
    *,
    per_class: int = 6,
    categories: Sequence[str] | None = None,
    size: int = 96,
) -> Path:
    """Draw one row per (category, class) with up to ``per_class`` samples and write it to ``out_png``."""
    if per_class < 1 or size < 16:
        raise ValueError(f"per_class must be >= 1 and size >= 16, got {per_class} and {size}")
    rows = discover_rows(root, dataset, categories)
    sheet = Image.new("RGB", sheet_size(len(rows), per_class, size), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=13)
    for r, row in enumerate(rows):
        top = PAD + r * (size + PAD)
        draw.multiline_text(
            (PAD, top + size // 2 - 16), f"{row.category}\n{row.label}", fill=(20, 20, 20), font=font, spacing=4
        )
        for c, (image_path, mask_paths) in enumerate(_spread(row.samples, per_class)):
            sheet.paste(_thumbnail(image_path, mask_paths, size), (LABEL_WIDTH + c * (size + PAD), top))
    out = Path(out_png)
    save_png_atomically(sheet, out)
    return out
