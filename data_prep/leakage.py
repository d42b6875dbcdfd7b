"""Which images of one parquet file also appear in another: training rows against an evaluation set.

MMAD is built from the test sets of MVTec AD, VisA and MVTec LOCO, which the papers' protocols train on, so a
policy trained on one and evaluated on the other may have seen the questions' images. Images are matched two ways:

- by content: the sha256 of the image bytes stored in the row (the same file built with the same ``--max-pixels``);
- by name: (dataset, category, split, class folder, file name) from the row's ``extra_info``, with MMAD's folders
  mapped to the datasets they come from (DS-MVTec's ``image/<defect>/NNN.png`` is MVTec AD's
  ``test/<defect>/NNN.png``); VisA by (category, label, file name), since its 1cls and original layouts differ.

``iad-data leakage TRAIN.parquet --against EVAL.parquet`` prints the overlap and exits 1 when there is any.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Final

import pyarrow.parquet as pq

from data_prep.prompts import MMAD

# MMAD's folders -> the dataset each one's images come from.
MMAD_SOURCES: Final = MappingProxyType(
    {"DS-MVTec": "mvtec_ad", "MVTec-AD": "mvtec_ad", "MVTec-LOCO": "mvtec_loco", "VisA": "visa", "GoodsAD": "goodsad"}
)


@dataclass(frozen=True)
class ImageUse:
    """One image in one row: the row's index, whether it is the query or a reference, its path."""

    row: int
    role: str
    path: str


@dataclass
class Overlap:
    """Images of the training file found in the evaluation file, by content and by name."""

    by_content: dict[str, tuple[ImageUse, ImageUse]] = field(default_factory=dict)
    by_name: dict[tuple[str, ...], tuple[ImageUse, ImageUse]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.by_content or self.by_name)


def _split(path: PurePosixPath) -> str:
    return next((part for part in path.parts if part in ("train", "validation")), "test")


def name_key(protocol: str, dataset: str, category: str, label: str, path: str) -> tuple[str, ...]:
    """The name an image is known by across layouts (see the module doc)."""
    posix = PurePosixPath(path)
    if protocol == MMAD:
        dataset = MMAD_SOURCES.get(posix.parts[0], posix.parts[0])
        category = posix.parts[1]
    if dataset == "visa":
        return (dataset, category, label, posix.name)
    return (dataset, category, _split(posix), posix.parent.name, posix.name)


def image_uses(path: Path) -> Iterator[tuple[str, tuple[str, ...], ImageUse]]:
    """Every image of a parquet file written by ``iad-data build``: its sha256, its name key and where it is used."""
    table = pq.read_table(path, columns=["data_source", "images", "extra_info"])
    for row, (protocol, images, info) in enumerate(
        zip(*(table.column(name).to_pylist() for name in ("data_source", "images", "extra_info")), strict=True)
    ):
        references = info.get("reference_images") or []
        paths = [*references, info["query_image"]]
        labels = ["normal"] * len(references) + [info["label"]]
        roles = ["reference"] * len(references) + ["query"]
        for image, image_path, label, role in zip(images, paths, labels, roles, strict=True):
            key = name_key(protocol, info["dataset"], info["category"], label, image_path)
            yield hashlib.sha256(image["bytes"]).hexdigest(), key, ImageUse(row, role, image_path)


def find_overlap(train: Path, against: Path) -> Overlap:
    """The images of ``train`` that ``against`` also holds."""
    by_hash: dict[str, ImageUse] = {}
    by_name: dict[tuple[str, ...], ImageUse] = {}
    for digest, key, use in image_uses(against):
        by_hash.setdefault(digest, use)
        by_name.setdefault(key, use)
    overlap = Overlap()
    for digest, key, use in image_uses(train):
        if digest in by_hash:
            overlap.by_content.setdefault(digest, (use, by_hash[digest]))
        if key in by_name:
            overlap.by_name.setdefault(key, (use, by_name[key]))
    return overlap


def describe(overlap: Overlap, train: Path, against: Path, examples: int = 5) -> str:
    """A few lines for people: counts, then examples of each kind."""
    lines = [
        f"{train} vs {against}: {len(overlap.by_content)} images with the same bytes, "
        f"{len(overlap.by_name)} with the same dataset/category/file name"
    ]
    for kind, pairs in (("same bytes", overlap.by_content), ("same name", overlap.by_name)):
        for mine, theirs in list(pairs.values())[:examples]:
            lines.append(
                f"  {kind}: train row {mine.row} {mine.role} {mine.path} = eval row {theirs.row} {theirs.path}"
            )
    return "\n".join(lines)
