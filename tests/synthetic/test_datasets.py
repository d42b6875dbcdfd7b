"""Synthetic datasets: real layouts, masks that mark exactly what changed, reproducible bytes, atomic writes."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from data_prep.catalog import (
    DATASETS,
    LOCO_ANOMALY_KINDS,
    LOCO_CATEGORIES,
    LOCO_SPLIT_COUNTS,
    LOCO_TEST_CLASSES,
    MVTEC_AD_CATEGORIES,
    MVTEC_AD_DEFECTS,
    VISA_CATEGORIES,
    VISA_LABELS,
    VISA_SPLIT_FILES,
    VISA_SPLIT_HEADER,
)
from synthetic.datasets import (
    MANIFEST_NAME,
    DatasetSummary,
    rng_for,
    write_mvtec_ad,
    write_mvtec_loco,
    write_visa,
)
from synthetic.drawing import LOCO_DEFECTS, VISA_DEFECTS, defect_types, draw_defective, draw_good

AD_CATEGORIES = MVTEC_AD_CATEGORIES[:2]
VISA_SOME = VISA_CATEGORIES[:2]
LOCO_SIZE = 48


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


@pytest.fixture(scope="module")
def mvtec_ad_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ad") / "mvtec_ad"
    write_mvtec_ad(root, AD_CATEGORIES, n_train=2, n_test_good=1, n_test_per_defect=2, size=32)
    return root


@pytest.fixture(scope="module")
def visa_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("visa") / "visa"
    write_visa(root, VISA_SOME, n_normal=10, n_anomaly=6, size=32)
    return root


@pytest.fixture(scope="module")
def loco_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("loco") / "mvtec_loco"
    write_mvtec_loco(root, preset="small", size=LOCO_SIZE)
    return root


def test_mvtec_ad_layout_uses_the_real_names(mvtec_ad_root: Path) -> None:
    for category in AD_CATEGORIES:
        base = mvtec_ad_root / category
        assert sorted(p.name for p in (base / "train" / "good").iterdir()) == ["000.png", "001.png"]
        assert sorted(p.name for p in (base / "test").iterdir()) == sorted(["good", *MVTEC_AD_DEFECTS[category]])
        for defect in MVTEC_AD_DEFECTS[category]:
            for index in ("000", "001"):
                with Image.open(base / "test" / defect / f"{index}.png") as image:
                    assert image.mode == "RGB"
                mask = base / "ground_truth" / defect / f"{index}_mask.png"
                with Image.open(mask) as opened:
                    assert opened.mode == "L"
                assert set(np.unique(_pixels(mask))) == {0, 255}


def test_visa_images_are_upper_case_jpegs_and_masks_hold_class_ids(visa_root: Path) -> None:
    for category in VISA_SOME:
        data = visa_root / category / "Data"
        normals = sorted(p.name for p in (data / "Images" / "Normal").iterdir())
        assert normals == [f"{i:04d}.JPG" for i in range(10)]
        assert (data / "Images" / "Anomaly" / "000.JPG").read_bytes()[:3] == b"\xff\xd8\xff"
        with (visa_root / category / "image_anno.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert list(rows[0]) == ["image", "label", "mask"]
        for row in rows:
            if row["label"] == "normal":
                assert row["mask"] == ""
                continue
            class_id = VISA_DEFECTS.index(row["label"]) + 1
            assert set(np.unique(_pixels(visa_root / row["mask"]))) == {0, class_id}


def _split_rows(visa_root: Path, name: str) -> list[list[str]]:
    with (visa_root / "split_csv" / name).open(newline="") as handle:
        return list(csv.reader(handle))


@pytest.mark.parametrize("name", VISA_SPLIT_FILES)
def test_visa_split_csvs_have_the_real_header_and_valid_rows(visa_root: Path, name: str) -> None:
    header, *rows = _split_rows(visa_root, name)
    assert header == list(VISA_SPLIT_HEADER)
    for category, split, label, image, mask in rows:
        assert category in VISA_SOME and split in ("train", "test") and label in VISA_LABELS
        assert image.startswith(f"{category}/Data/Images/") and (visa_root / image).is_file()
        assert (mask == "") == (label == "normal")
        assert mask == "" or (visa_root / mask).is_file()
    assert {(category, label) for category, split, label, _, _ in rows if split == "test"} == {
        (category, label) for category in VISA_SOME for label in VISA_LABELS
    }


def test_visa_1cls_trains_on_most_normals_and_tests_every_anomaly(visa_root: Path) -> None:
    _, *rows = _split_rows(visa_root, "1cls.csv")
    for category in VISA_SOME:
        mine = [row for row in rows if row[0] == category]
        train = [row for row in mine if row[1] == "train"]
        assert {row[2] for row in train} == {"normal"}
        assert 0.6 <= len(train) / 10 <= 0.8
        assert sum(row[2] == "anomaly" and row[1] == "test" for row in mine) == 6


def test_loco_layout_uses_the_real_names(loco_root: Path) -> None:
    for category in LOCO_CATEGORIES:
        base = loco_root / category
        for folder in ("train/good", "validation/good", *(f"test/{name}" for name in LOCO_TEST_CLASSES)):
            assert (base / folder / "000.png").is_file()
        config = json.loads((base / "defects_config.json").read_text())
        assert [entry["defect_name"] for entry in config] == list(defect_types("mvtec_loco", category))
        for entry in config:
            assert set(entry) == {"defect_name", "pixel_value", "saturation_threshold", "relative_saturation"}


def _loco_anomalies(loco_root: Path) -> list[tuple[str, str, Path, list[Path]]]:
    found = []
    for category in LOCO_CATEGORIES:
        for kind in LOCO_ANOMALY_KINDS:
            for image in sorted((loco_root / category / "test" / kind).iterdir()):
                masks = sorted((loco_root / category / "ground_truth" / kind / image.stem).iterdir())
                found.append((category, kind, image, masks))
    return found


def test_loco_mask_folders_are_named_by_image_stem_and_numbered(loco_root: Path) -> None:
    for category in LOCO_CATEGORIES:
        for kind in LOCO_ANOMALY_KINDS:
            stems = sorted(p.stem for p in (loco_root / category / "test" / kind).iterdir())
            assert sorted(p.name for p in (loco_root / category / "ground_truth" / kind).iterdir()) == stems
    mask_counts = [len(masks) for *_, masks in _loco_anomalies(loco_root)]
    assert min(mask_counts) >= 1 and max(mask_counts) == 2
    for *_, masks in _loco_anomalies(loco_root):
        assert [m.name for m in masks] == [f"{k:03d}.png" for k in range(len(masks))]


def test_loco_masks_use_the_pixel_value_of_a_defect_of_their_kind(loco_root: Path) -> None:
    for category, kind, _, masks in _loco_anomalies(loco_root):
        config = json.loads((loco_root / category / "defects_config.json").read_text())
        allowed = {e["pixel_value"] for e in config if e["defect_name"] in LOCO_DEFECTS[category][kind]}
        for mask in masks:
            values = set(np.unique(_pixels(mask)).tolist())
            assert len(values) == 2 and values - {0} <= allowed


def test_loco_anomalous_images_differ_from_their_good_scene_only_inside_masks(loco_root: Path) -> None:
    for category, _, image, masks in _loco_anomalies(loco_root):
        key = f"mvtec_loco/{image.relative_to(loco_root).as_posix()}"
        good = np.asarray(draw_good("mvtec_loco", category, rng_for(key, 0), LOCO_SIZE), dtype=int)
        changed = np.abs(_pixels(image).astype(int) - good).sum(axis=-1) > 0
        union = np.logical_or.reduce([_pixels(mask) > 0 for mask in masks])
        assert not changed[~union].any(), image
        assert changed[union].mean() >= 0.2, image


DEFECTS = [
    (dataset, category, defect)
    for dataset, cats in DATASETS.items()
    for category in cats
    for defect in defect_types(dataset, category)
]


@settings(max_examples=150, deadline=None, database=None)
@given(
    case=st.sampled_from(DEFECTS),
    seed=st.integers(0, 2**32 - 1),
    size=st.sampled_from([16, 32, 64, 96]),
    instances=st.integers(1, 2),
)
def test_every_defect_is_masked_exactly(case: tuple[str, str, str], seed: int, size: int, instances: int) -> None:
    """Regions are non-empty, each shows a change, and nothing changes outside them."""
    dataset, category, defect = case
    drawing = draw_defective(dataset, category, defect, np.random.default_rng(seed), size, instances=instances)
    assert 1 <= len(drawing.regions) <= instances
    changed = np.abs(np.asarray(drawing.image, dtype=int) - np.asarray(drawing.good, dtype=int)).sum(axis=-1) > 0
    for region in drawing.regions:
        assert region.defect == defect and region.mask.shape == (size, size)
        assert changed[region.mask].mean() >= 0.05
    assert not changed[~np.logical_or.reduce([region.mask for region in drawing.regions])].any()


def test_every_catalog_category_is_drawn() -> None:
    assert set(LOCO_DEFECTS) == set(LOCO_CATEGORIES)
    for dataset, categories in DATASETS.items():
        for category in categories:
            assert draw_good(dataset, category, np.random.default_rng(0), 24).size == (24, 24)


def test_real_counts_preset_reproduces_the_official_split_sizes(tmp_path: Path) -> None:
    chosen = (LOCO_CATEGORIES[0], LOCO_CATEGORIES[-1])
    summary = write_mvtec_loco(tmp_path / "loco", chosen, preset="real-counts", size=16)
    for category in chosen:
        base = tmp_path / "loco" / category
        found = {
            "train": len(list((base / "train" / "good").iterdir())),
            "validation": len(list((base / "validation" / "good").iterdir())),
            **{name: len(list((base / "test" / name).iterdir())) for name in LOCO_TEST_CLASSES},
        }
        assert found == dict(LOCO_SPLIT_COUNTS[category])
        assert summary.counts[category]["test/logical_anomalies"] == LOCO_SPLIT_COUNTS[category]["logical_anomalies"]


def test_loco_counts_override_the_preset_and_reject_unknown_keys(tmp_path: Path) -> None:
    write_mvtec_loco(tmp_path / "a", LOCO_CATEGORIES[:1], size=16, counts={"train": 1, "logical_anomalies": 0})
    base = tmp_path / "a" / LOCO_CATEGORIES[0]
    assert len(list((base / "train" / "good").iterdir())) == 1
    assert not (base / "test" / "logical_anomalies").exists()
    with pytest.raises(ValueError, match="valid keys: train, validation, good"):
        write_mvtec_loco(tmp_path / "b", LOCO_CATEGORIES[:1], counts={"test": 3})


SMALL_WRITES: list[tuple[Callable[..., DatasetSummary], dict[str, object]]] = [
    (write_mvtec_ad, {"categories": MVTEC_AD_CATEGORIES[:1], "n_train": 2, "n_test_good": 1, "n_test_per_defect": 1}),
    (write_visa, {"categories": VISA_CATEGORIES[:1], "n_normal": 3, "n_anomaly": 2}),
    (write_mvtec_loco, {"categories": LOCO_CATEGORIES[:1]}),
]


def _manifest_files(root: Path) -> list[dict[str, object]]:
    return json.loads((root / MANIFEST_NAME).read_text())["files"]


@pytest.mark.parametrize(("writer", "kwargs"), SMALL_WRITES)
def test_same_arguments_give_identical_bytes(
    tmp_path: Path, writer: Callable[..., DatasetSummary], kwargs: dict
) -> None:
    writer(tmp_path / "one", size=32, seed=3, **kwargs)
    writer(tmp_path / "two", size=32, seed=3, **kwargs)
    writer(tmp_path / "other", size=32, seed=4, **kwargs)
    assert _manifest_files(tmp_path / "one") == _manifest_files(tmp_path / "two")
    assert (tmp_path / "one" / MANIFEST_NAME).read_bytes() == (tmp_path / "two" / MANIFEST_NAME).read_bytes()
    assert _manifest_files(tmp_path / "one") != _manifest_files(tmp_path / "other")


def test_manifest_lists_every_file_with_its_hash_and_size(loco_root: Path) -> None:
    on_disk = sorted(p.relative_to(loco_root).as_posix() for p in loco_root.rglob("*") if p.is_file())
    listed = _manifest_files(loco_root)
    assert [entry["path"] for entry in listed] == [path for path in on_disk if path != MANIFEST_NAME]
    for entry in listed:
        data = (loco_root / str(entry["path"])).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data)
    manifest = json.loads((loco_root / MANIFEST_NAME).read_text())
    assert manifest["seed"] == 0 and manifest["parameters"]["size"] == LOCO_SIZE


def test_non_empty_target_is_refused_untouched_and_replaced_only_on_request(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (root / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_mvtec_loco(root, LOCO_CATEGORIES[:1], size=16)
    assert [p.name for p in root.iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["data"]
    write_mvtec_loco(root, LOCO_CATEGORIES[:1], size=16, overwrite=True)
    assert not (root / "keep.txt").exists() and (root / MANIFEST_NAME).is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_an_existing_empty_folder_is_filled(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    summary = write_visa(tmp_path / "data", VISA_CATEGORIES[:1], n_normal=2, n_anomaly=1, size=16)
    assert summary.n_files == len(list((tmp_path / "data").rglob("*.*")))


def test_a_write_failing_midway_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("drawing failed")

    monkeypatch.setattr("synthetic.datasets.draw_defective", broken)
    with pytest.raises(RuntimeError, match="drawing failed"):
        write_mvtec_ad(tmp_path / "data", MVTEC_AD_CATEGORIES[:1], n_train=2, size=16)
    assert list(tmp_path.iterdir()) == []


def test_too_small_images_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 16"):
        write_mvtec_ad(tmp_path / "data", MVTEC_AD_CATEGORIES[:1], size=8)


def test_unknown_category_error_lists_the_valid_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="valid categories") as error:
        write_mvtec_loco(tmp_path / "data", ["breakfast_bowl"])
    assert all(name in str(error.value) for name in LOCO_CATEGORIES)
    assert not (tmp_path / "data").exists()
