"""Contact sheets: one row per (category, class) found in the folders, masks outlined in red."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_prep.catalog import LOCO_ANOMALY_KINDS, LOCO_CATEGORIES, LOCO_TEST_CLASSES, MVTEC_AD_DEFECTS, VISA_CATEGORIES
from data_prep.readers import DatasetLayoutError
from synthetic.contact_sheet import LABEL_WIDTH, PAD, make_contact_sheet
from synthetic.datasets import MANIFEST_NAME, write_mvtec_ad, write_mvtec_loco, write_visa

CATEGORIES = LOCO_CATEGORIES[:2]
LOCO_ROWS = [
    (category, label)
    for category in CATEGORIES
    for label in ("train/good", "validation/good", *(f"test/{c}" for c in LOCO_TEST_CLASSES))
]
RED = np.array([255, 0, 0])


@pytest.fixture(scope="module")
def loco_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sheet") / "loco"
    write_mvtec_loco(root, CATEGORIES, size=48)
    (root / MANIFEST_NAME).unlink()  # the sheet must work from the folders alone, as on a real download
    return root


def _expected_size(rows: int, per_class: int, size: int) -> tuple[int, int]:
    return LABEL_WIDTH + per_class * (size + PAD) + PAD, rows * (size + PAD) + PAD


def test_grid_has_one_row_per_category_and_class(loco_root: Path, tmp_path: Path) -> None:
    out = make_contact_sheet(loco_root, "mvtec_loco", tmp_path / "sheet.png", per_class=3, size=40)
    with Image.open(out) as sheet:
        assert sheet.format == "PNG" and sheet.size == _expected_size(len(LOCO_ROWS), 3, 40)
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.png"]


def test_masks_are_outlined_in_red_on_anomalous_rows_only(loco_root: Path, tmp_path: Path) -> None:
    size, per_class = 40, 2
    with Image.open(
        make_contact_sheet(loco_root, "mvtec_loco", tmp_path / "s.png", per_class=per_class, size=size)
    ) as sheet:
        pixels = np.asarray(sheet.convert("RGB"))
    for row, (_, label) in enumerate(LOCO_ROWS):
        top = PAD + row * (size + PAD)
        cells = pixels[top : top + size, LABEL_WIDTH : LABEL_WIDTH + per_class * (size + PAD)]
        red = int(np.all(cells == RED, axis=-1).sum())
        assert (red > 0) == (label.split("/")[1] in LOCO_ANOMALY_KINDS), label


def test_categories_can_be_narrowed(loco_root: Path, tmp_path: Path) -> None:
    out = make_contact_sheet(
        loco_root, "mvtec_loco", tmp_path / "one.png", per_class=1, size=32, categories=CATEGORIES[1:]
    )
    with Image.open(out) as sheet:
        assert sheet.size == _expected_size(len(LOCO_ROWS) // 2, 1, 32)


def test_mvtec_ad_and_visa_layouts_give_their_rows(tmp_path: Path) -> None:
    ad_category, visa_category = "bottle", VISA_CATEGORIES[0]
    write_mvtec_ad(tmp_path / "ad", [ad_category], n_train=1, n_test_good=1, n_test_per_defect=1, size=24)
    write_visa(tmp_path / "visa", [visa_category], n_normal=2, n_anomaly=1, size=24)
    ad_sheet = make_contact_sheet(tmp_path / "ad", "mvtec_ad", tmp_path / "ad.png", per_class=2, size=24)
    visa_sheet = make_contact_sheet(tmp_path / "visa", "visa", tmp_path / "visa.png", per_class=2, size=24)
    with Image.open(ad_sheet) as ad, Image.open(visa_sheet) as visa:
        assert ad.size == _expected_size(2 + len(MVTEC_AD_DEFECTS[ad_category]), 2, 24)
        # train/good, test/good and the one anomalous image's defect type (its image_anno.csv name)
        assert visa.size == _expected_size(3, 2, 24)


def test_hand_made_real_layout_with_non_square_images(tmp_path: Path) -> None:
    base = tmp_path / "mvtec_ad" / "bottle"
    for folder in ("train/good", "test/good", "test/broken_large", "ground_truth/broken_large"):
        (base / folder).mkdir(parents=True)
    for folder in ("train/good", "test/good", "test/broken_large"):
        Image.new("RGB", (90, 60), (120, 120, 120)).save(base / folder / "000.png")
    mask = np.zeros((60, 90), dtype=np.uint8)
    mask[20:40, 30:60] = 255
    Image.fromarray(mask).save(base / "ground_truth" / "broken_large" / "000_mask.png")
    out = make_contact_sheet(tmp_path / "mvtec_ad", "mvtec_ad", tmp_path / "real.png", per_class=1, size=32)
    with Image.open(out) as sheet:
        assert sheet.size == _expected_size(3, 1, 32)
        assert np.all(np.asarray(sheet.convert("RGB")) == RED, axis=-1).any()


def test_a_layout_the_data_build_refuses_is_refused(tmp_path: Path) -> None:
    """The sheet reads with the data build's reader: a defective image without its mask stops it, as in a build."""
    write_mvtec_ad(tmp_path / "ad", ["bottle"], n_train=1, n_test_good=1, n_test_per_defect=1, size=24)
    next((tmp_path / "ad" / "bottle" / "ground_truth").rglob("*_mask.png")).unlink()
    with pytest.raises(DatasetLayoutError, match="mask"):
        make_contact_sheet(tmp_path / "ad", "mvtec_ad", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_empty_root_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="No VisA category folder in"):
        make_contact_sheet(tmp_path, "visa", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
