"""Ground-truth boxes: connected components of the masks, in the frame of the stored image, the model's with
--grounding (checked against Qwen2.5-VL's processor)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from data_prep.boxes import components
from data_prep.build import BuildConfig, build
from data_prep.images import QWEN_MAX_PIXELS, QWEN_MIN_PIXELS, patch_frame
from synthetic.datasets import write_visa

WIDTH, HEIGHT = 224, 112
RECTANGLES = [[28, 14, 84, 56], [140, 70, 196, 98]]  # x1, y1, x2, y2 (pixel edges)


def _save(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A hand-made MVTec AD bottle whose one defect mask holds two known rectangles and a speck; a synthetic VisA."""
    base = tmp_path_factory.mktemp("boxes")
    bottle = base / "mvtec_ad" / "bottle"
    grey = np.full((HEIGHT, WIDTH, 3), 120, dtype=np.uint8)
    for folder in ("train/good", "test/good", "test/broken_large"):
        _save(grey, bottle / folder / "000.png")
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    for x1, y1, x2, y2 in RECTANGLES:
        mask[y1:y2, x1:x2] = 255
    mask[5, 5] = 255  # a speck below data_prep.boxes.MIN_COMPONENT_PIXELS: no box
    _save(mask, bottle / "ground_truth" / "broken_large" / "000_mask.png")
    write_visa(base / "visa", ["candle"], n_normal=4, n_anomaly=2, size=32)
    return {"mvtec_ad": base / "mvtec_ad", "visa": base / "visa"}


def _defect_row(roots: dict[str, Path], out: Path, **options: object) -> dict:
    config = BuildConfig(protocol="single-ab", roots=roots, out=out, datasets=("visa",), **options)
    build(config)
    rows = pq.read_table(out / "test.parquet").to_pylist()
    return next(row for row in rows if row["extra_info"]["label"] == "anomalous")


def _halved(box: list[int]) -> list[int]:
    return [value // 2 for value in box]


@pytest.mark.parametrize(
    ("options", "size", "expected"),
    [
        ({}, (WIDTH, HEIGHT), RECTANGLES),
        ({"max_pixels": WIDTH * HEIGHT // 4}, (WIDTH // 2, HEIGHT // 2), [_halved(b) for b in RECTANGLES]),
        ({"grounding": True}, (WIDTH, HEIGHT), RECTANGLES),
        ({"grounding": True, "max_pixels": WIDTH * HEIGHT // 4}, (112, 56), [_halved(b) for b in RECTANGLES]),
    ],
)
def test_known_rectangles_give_exactly_their_boxes(
    roots: dict[str, Path], tmp_path: Path, options: dict, size: tuple[int, int], expected: list[list[int]]
) -> None:
    row = _defect_row(roots, tmp_path / "out", **options)
    assert row["extra_info"]["boxes"] == expected
    assert tuple(row["extra_info"]["query_size"]) == size
    with Image.open(io.BytesIO(row["images"][-1]["bytes"])) as stored:
        assert stored.size == size


def test_normal_images_have_no_boxes(roots: dict[str, Path], tmp_path: Path) -> None:
    build(BuildConfig(protocol="single-ab", roots=roots, out=tmp_path / "out", datasets=("visa",)))
    rows = pq.read_table(tmp_path / "out" / "test.parquet").to_pylist()
    assert all(row["extra_info"]["boxes"] == [] for row in rows if row["extra_info"]["label"] == "normal")


def test_grounding_stores_the_frame_the_processor_keeps(roots: dict[str, Path], tmp_path: Path) -> None:
    """Qwen2.5-VL's processor (its checkpoints' pixel limits) does not resize a --grounding image: box pixels are
    the model's pixels."""
    from transformers import Qwen2VLImageProcessor

    processor = Qwen2VLImageProcessor(size={"shortest_edge": QWEN_MIN_PIXELS, "longest_edge": QWEN_MAX_PIXELS})

    row = _defect_row(roots, tmp_path / "out", grounding=True, max_pixels=150 * 97)
    with Image.open(io.BytesIO(row["images"][-1]["bytes"])) as stored:
        grid = processor(images=[stored.convert("RGB")], return_tensors="np")["image_grid_thw"][0]
        assert (int(grid[2]) * 14, int(grid[1]) * 14) == stored.size == patch_frame(WIDTH, HEIGHT, 150 * 97)
    assert all(box[2] <= stored.size[0] and box[3] <= stored.size[1] for box in row["extra_info"]["boxes"])


def test_grounding_asks_for_the_box_in_the_prompt(roots: dict[str, Path], tmp_path: Path) -> None:
    row = _defect_row(roots, tmp_path / "out", grounding=True)
    assert '{"bbox_2d": [x1, y1, x2, y2]}' in row["prompt"][0]["content"]


def _reference_components(mask: np.ndarray) -> list[tuple[list[int], int]]:
    """8-connected components by flood fill: the slow, obvious way."""
    seen = np.zeros_like(mask)
    found = []
    for y, x in zip(*np.nonzero(mask), strict=True):
        if seen[y, x]:
            continue
        stack, pixels = [(y, x)], []
        seen[y, x] = True
        while stack:
            cy, cx = stack.pop()
            pixels.append((cy, cx))
            for ny in range(cy - 1, cy + 2):
                for nx in range(cx - 1, cx + 2):
                    inside = 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1]
                    if inside and mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        stack.append((ny, nx))
        ys, xs = zip(*pixels, strict=True)
        found.append(([min(xs), min(ys), max(xs) + 1, max(ys) + 1], len(pixels)))
    return sorted(found, key=lambda item: (item[0][1], item[0][0]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.booleans(), min_size=9, max_size=9), min_size=1, max_size=9))
def test_components_match_a_flood_fill(rows: list[list[bool]]) -> None:
    mask = np.array(rows, dtype=bool)
    assert sorted(components(mask)) == sorted(_reference_components(mask))
