"""Dataset readers on synthetic datasets in the real layouts: the table they return, and loud layout errors."""

from __future__ import annotations

import csv
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from data_prep.catalog import (
    DATASETS,
    LOCO_ANOMALY_KINDS,
    LOCO_CATEGORIES,
    LOCO_COUNT_KEYS,
    LOCO_SPLIT_COUNTS,
    LOCO_TEST_CLASSES,
    MVTEC_AD_CATEGORIES,
    MVTEC_AD_DEFECTS,
    VISA_CATEGORIES,
    VISA_SPLIT_FILES,
    VISA_SPLIT_HEADER,
)
from data_prep.readers import (
    READERS,
    SAMPLE_COLUMNS,
    SPLITS,
    DatasetLayoutError,
    read_dataset,
    read_mvtec_ad,
    read_mvtec_loco,
    read_visa,
)
from synthetic.datasets import DatasetSummary, write_mvtec_ad, write_mvtec_loco, write_visa

AD = MVTEC_AD_CATEGORIES[:2]
VISA = VISA_CATEGORIES[:2]
LOCO = LOCO_CATEGORIES[2:4]
AD_DEFECT = MVTEC_AD_DEFECTS[AD[0]][0]
LOGICAL, STRUCTURAL = LOCO_ANOMALY_KINDS
WRITTEN = {"mvtec_ad": AD, "visa": VISA, "mvtec_loco": LOCO}
UNWRITTEN = {"mvtec_ad": MVTEC_AD_CATEGORIES[-1], "visa": VISA_CATEGORIES[-1], "mvtec_loco": LOCO_CATEGORIES[0]}

# How each writer's summary names the class of a row.
SUMMARY_KEYS: dict[str, Callable[..., str]] = {
    "mvtec_ad": lambda row: f"{row.split}/{'good' if row.label == 'normal' else 'defective'}",
    "visa": lambda row: f"{row.split}/{'normal' if row.label == 'normal' else 'anomaly'}",
    "mvtec_loco": lambda row: f"{row.split}/{row.defect_type}",
}


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DatasetSummary]:
    base = tmp_path_factory.mktemp("readers")
    return {
        "mvtec_ad": write_mvtec_ad(base / "mvtec_ad", AD, n_train=2, n_test_good=1, n_test_per_defect=2, size=16),
        "visa": write_visa(base / "visa", VISA, n_normal=4, n_anomaly=3, size=16),
        "mvtec_loco": write_mvtec_loco(base / "mvtec_loco", LOCO, preset="small", size=16),
    }


@pytest.fixture(scope="module")
def tables(written: dict[str, DatasetSummary]) -> dict[str, pd.DataFrame]:
    return {name: read_dataset(name, summary.root) for name, summary in written.items()}


@pytest.fixture
def copy_of(written: dict[str, DatasetSummary], tmp_path: Path) -> Callable[[str], Path]:
    """A private, mutable copy of a written dataset."""
    return lambda dataset: Path(shutil.copytree(written[dataset].root, tmp_path / dataset))


def _names(path: Path) -> str:
    return re.escape(str(path))


def _rewrite_csv(path: Path, edit: Callable[[list[list[str]]], list[list[str]]]) -> None:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    with path.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(edit(rows))


# ----------------------------------------------------------------------------------------------------------------
# The table


@pytest.mark.parametrize("dataset", DATASETS)
def test_columns_and_dtypes(tables: dict[str, pd.DataFrame], dataset: str) -> None:
    table = tables[dataset]
    assert tuple(table.columns) == SAMPLE_COLUMNS
    assert all(pd.api.types.is_object_dtype(dtype) for dtype in table.dtypes)
    assert isinstance(table.index, pd.RangeIndex)
    for column in ("image", "dataset", "category", "split", "label", "defect_type"):
        assert table[column].map(type).eq(str).all(), column
    assert table["masks"].map(lambda masks: isinstance(masks, tuple) and all(isinstance(m, str) for m in masks)).all()


@pytest.mark.parametrize("dataset", DATASETS)
def test_counts_equal_writer_summary(
    written: dict[str, DatasetSummary], tables: dict[str, pd.DataFrame], dataset: str
) -> None:
    table = tables[dataset]
    counts: dict[str, dict[str, int]] = {}
    for row in table.itertuples():
        per_category = counts.setdefault(row.category, {})
        key = SUMMARY_KEYS[dataset](row)
        per_category[key] = per_category.get(key, 0) + 1
    assert counts == written[dataset].counts


@pytest.mark.parametrize("dataset", DATASETS)
def test_values_come_from_documented_vocabularies(tables: dict[str, pd.DataFrame], dataset: str) -> None:
    table = tables[dataset]
    assert set(table["dataset"]) == {dataset}
    assert set(table["category"]) <= set(DATASETS[dataset])
    assert set(table["split"]) <= set(SPLITS)
    assert set(table["label"]) == {"normal", "anomalous"}


@pytest.mark.parametrize("dataset", DATASETS)
def test_normal_rows_are_good_and_have_no_masks(tables: dict[str, pd.DataFrame], dataset: str) -> None:
    table = tables[dataset]
    normal = table["label"] == "normal"
    assert normal.equals(table["defect_type"] == "good")
    assert normal.equals(table["masks"].map(len) == 0)


@pytest.mark.parametrize("dataset", DATASETS)
def test_paths_are_relative_posix_and_exist(
    written: dict[str, DatasetSummary], tables: dict[str, pd.DataFrame], dataset: str
) -> None:
    root = written[dataset].root
    paths = [*tables[dataset]["image"], *(mask for masks in tables[dataset]["masks"] for mask in masks)]
    assert all(not Path(p).is_absolute() and "\\" not in p and (root / p).is_file() for p in paths)
    assert tables[dataset]["image"].is_unique


@pytest.mark.parametrize("dataset", DATASETS)
def test_rows_are_sorted_deterministically(
    written: dict[str, DatasetSummary], tables: dict[str, pd.DataFrame], dataset: str
) -> None:
    table = tables[dataset]
    keys = [
        (DATASETS[dataset].index(row.category), SPLITS.index(row.split), row.defect_type, row.image)
        for row in table.itertuples()
    ]
    assert keys == sorted(keys)
    pd.testing.assert_frame_equal(read_dataset(dataset, written[dataset].root), table)


def test_loco_real_counts_match_catalog(loco_real_counts: Path) -> None:
    table = read_mvtec_loco(loco_real_counts)
    for category in LOCO:
        rows = table[table["category"] == category]
        by_class = rows.groupby(rows["split"].where(rows["split"] != "test", rows["defect_type"])).size()
        assert by_class.to_dict() == dict(LOCO_SPLIT_COUNTS[category]), category
        assert set(by_class.index) == set(LOCO_COUNT_KEYS)


def test_mvtec_ad_defect_type_is_the_test_folder(tables: dict[str, pd.DataFrame]) -> None:
    anomalous = tables["mvtec_ad"][tables["mvtec_ad"]["label"] == "anomalous"]
    assert all(
        defect in MVTEC_AD_DEFECTS[cat] for cat, defect in zip(anomalous.category, anomalous.defect_type, strict=True)
    )
    assert all(
        image.split("/")[2] == defect for image, defect in zip(anomalous.image, anomalous.defect_type, strict=True)
    )


def test_mvtec_ad_masks_matched_by_stem_not_sort_order(copy_of: Callable[[str], Path]) -> None:
    root = copy_of("mvtec_ad")
    # "1" sorts before "10" but "10_mask" before "1_mask": pairing by sort order would swap them.
    for old, new in (("000", "1"), ("001", "10")):
        (root / AD[0] / "test" / AD_DEFECT / f"{old}.png").rename(root / AD[0] / "test" / AD_DEFECT / f"{new}.png")
        gt = root / AD[0] / "ground_truth" / AD_DEFECT
        (gt / f"{old}_mask.png").rename(gt / f"{new}_mask.png")
    table = read_mvtec_ad(root, [AD[0]]).set_index("image")
    for stem in ("1", "10"):
        image = f"{AD[0]}/test/{AD_DEFECT}/{stem}.png"
        assert table.loc[image, "masks"] == (f"{AD[0]}/ground_truth/{AD_DEFECT}/{stem}_mask.png",)


def test_loco_masks_are_every_png_of_the_image_stem_folder(
    written: dict[str, DatasetSummary], tables: dict[str, pd.DataFrame]
) -> None:
    root = written["mvtec_loco"].root
    anomalous = tables["mvtec_loco"][tables["mvtec_loco"]["label"] == "anomalous"]
    for image, kind, masks in zip(anomalous.image, anomalous.defect_type, anomalous.masks, strict=True):
        category, stem = image.split("/")[0], Path(image).stem
        folder = root / category / "ground_truth" / kind / stem
        assert masks == tuple(str(p.relative_to(root)) for p in sorted(folder.glob("*.png")))
    two = anomalous.set_index("image").loc[f"{LOCO[0]}/test/{LOGICAL}/001.png", "masks"]
    assert two == (f"{LOCO[0]}/ground_truth/{LOGICAL}/001/000.png", f"{LOCO[0]}/ground_truth/{LOGICAL}/001/001.png")


def test_anomaly_kind_only_for_loco_anomalies(tables: dict[str, pd.DataFrame]) -> None:
    loco = tables["mvtec_loco"]
    anomalous = loco["label"] == "anomalous"
    assert list(loco.loc[anomalous, "anomaly_kind"]) == [
        k.removesuffix("_anomalies") for k in loco[anomalous].defect_type
    ]
    assert set(loco.loc[anomalous, "anomaly_kind"]) == {"logical", "structural"}
    assert loco.loc[~anomalous, "anomaly_kind"].map(lambda kind: kind is None).all()
    for dataset in ("mvtec_ad", "visa"):
        assert tables[dataset]["anomaly_kind"].map(lambda kind: kind is None).all()


def test_visa_defect_type_comes_from_image_anno(
    written: dict[str, DatasetSummary], tables: dict[str, pd.DataFrame]
) -> None:
    annotations = {}
    for category in VISA:
        with (written["visa"].root / category / "image_anno.csv").open(newline="") as handle:
            annotations |= {row["image"]: row["label"] for row in csv.DictReader(handle)}
    anomalous = tables["visa"][tables["visa"]["label"] == "anomalous"]
    assert dict(zip(anomalous.image, anomalous.defect_type, strict=True)) == {
        image: label for image, label in annotations.items() if label != "normal"
    }


def test_visa_defect_type_without_image_anno_is_anomaly(copy_of: Callable[[str], Path]) -> None:
    root = copy_of("visa")
    (root / VISA[0] / "image_anno.csv").unlink()
    table = read_visa(root)
    anomalous = table[table["label"] == "anomalous"]
    assert set(anomalous.loc[anomalous.category == VISA[0], "defect_type"]) == {"anomaly"}
    assert "anomaly" not in set(anomalous.loc[anomalous.category == VISA[1], "defect_type"])


@pytest.mark.parametrize("split_file", VISA_SPLIT_FILES)
def test_visa_split_follows_the_chosen_split_file(written: dict[str, DatasetSummary], split_file: str) -> None:
    root = written["visa"].root
    with (root / "split_csv" / split_file).open(newline="") as handle:
        expected = {row["image"]: row["split"] for row in csv.DictReader(handle) if row["object"] in VISA}
    table = read_visa(root, split_file=split_file)
    assert dict(zip(table.image, table.split, strict=True)) == expected
    train_anomalies = ((table.split == "train") & (table.label == "anomalous")).sum()
    assert (train_anomalies == 0) == (split_file == "1cls.csv")


def test_read_dataset_dispatches_with_options(written: dict[str, DatasetSummary]) -> None:
    assert set(READERS) == set(DATASETS)
    root = written["visa"].root
    pd.testing.assert_frame_equal(
        read_dataset("visa", root, [VISA[1]], split_file="2cls_fewshot.csv"),
        read_visa(root, [VISA[1]], split_file="2cls_fewshot.csv"),
    )


def test_read_dataset_rejects_unknown_dataset(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Unknown dataset 'mvtec_ad2'; valid datasets: mvtec_ad, visa, mvtec_loco"):
        read_dataset("mvtec_ad2", tmp_path)


def test_selected_categories_come_in_catalog_order(written: dict[str, DatasetSummary]) -> None:
    root = written["mvtec_ad"].root
    assert tuple(read_mvtec_ad(root, [AD[1], AD[0]])["category"].unique()) == AD
    assert set(read_mvtec_ad(root, AD[1])["category"]) == {AD[1]}


@pytest.mark.parametrize("dataset", DATASETS)
def test_default_reads_every_category_present(tables: dict[str, pd.DataFrame], dataset: str) -> None:
    assert tuple(tables[dataset]["category"].unique()) == WRITTEN[dataset]


@pytest.mark.parametrize("dataset", DATASETS)
def test_ignores_hidden_non_image_and_unknown_top_level_files(
    copy_of: Callable[[str], Path], tables: dict[str, pd.DataFrame], dataset: str
) -> None:
    root = copy_of(dataset)
    for folder in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        (folder / ".DS_Store").write_bytes(b"\0")
        (folder / "notes.txt").write_text("not an image")
        (folder / ".thumbnails").mkdir()
        (folder / ".thumbnails" / "000.png").write_bytes(b"")
    (root / "unknown_top_level_folder").mkdir()
    pd.testing.assert_frame_equal(read_dataset(dataset, root), tables[dataset])


# ----------------------------------------------------------------------------------------------------------------
# Errors: every one names the path and the expected layout


@pytest.mark.parametrize("dataset", DATASETS)
def test_missing_root(tmp_path: Path, dataset: str) -> None:
    root = tmp_path / "nowhere"
    with pytest.raises(DatasetLayoutError, match=f"Dataset root does not exist: {_names(root)}; expected <root>/"):
        read_dataset(dataset, root)


def test_root_that_is_a_file(tmp_path: Path) -> None:
    root = tmp_path / "archive.tar"
    root.write_bytes(b"")
    with pytest.raises(DatasetLayoutError, match=f"not a directory: {_names(root)}; expected .* as in MVTec AD"):
        read_mvtec_ad(root)


@pytest.mark.parametrize("dataset", DATASETS)
def test_unknown_category_lists_valid_ones(written: dict[str, DatasetSummary], dataset: str) -> None:
    valid = re.escape(", ".join(DATASETS[dataset]))
    with pytest.raises(DatasetLayoutError, match=rf"\['bolt'\]; valid categories: {valid}"):
        read_dataset(dataset, written[dataset].root, ["bolt"])


@pytest.mark.parametrize("dataset", DATASETS)
def test_missing_category_folder(written: dict[str, DatasetSummary], dataset: str) -> None:
    path = written[dataset].root / UNWRITTEN[dataset]
    with pytest.raises(DatasetLayoutError, match=f"Missing category folder: {_names(path)}; expected <root>/"):
        read_dataset(dataset, written[dataset].root, [UNWRITTEN[dataset]])


@pytest.mark.parametrize("dataset", DATASETS)
def test_root_without_any_category(tmp_path: Path, dataset: str) -> None:
    (tmp_path / "readme.txt").write_text("a root with no category folder")
    with pytest.raises(DatasetLayoutError, match=f"category folder in: {_names(tmp_path)}; expected at least one of"):
        read_dataset(dataset, tmp_path)


@pytest.mark.parametrize(
    ("dataset", "folder"),
    [
        ("mvtec_ad", f"{AD[0]}/train/good"),
        ("mvtec_ad", f"{AD[1]}/test/good"),
        ("mvtec_loco", f"{LOCO[0]}/validation/good"),
        ("mvtec_loco", f"{LOCO[1]}/train/good"),
    ],
)
def test_missing_split_folder(copy_of: Callable[[str], Path], dataset: str, folder: str) -> None:
    root = copy_of(dataset)
    shutil.rmtree(root / folder)
    with pytest.raises(
        DatasetLayoutError, match=f"Missing folder: {_names(root / folder)}; expected <root>/<category>/"
    ):
        read_dataset(dataset, root)


@pytest.mark.parametrize("dataset", ["mvtec_ad", "mvtec_loco"])
def test_category_with_zero_images(copy_of: Callable[[str], Path], dataset: str) -> None:
    root = copy_of(dataset)
    category = root / WRITTEN[dataset][0]
    for path in [p for p in category.rglob("*") if p.is_file()]:
        path.unlink()
    with pytest.raises(DatasetLayoutError, match=f"Found 0 images in: {_names(category)}; expected <root>/"):
        read_dataset(dataset, root)


def test_mvtec_ad_image_without_mask(copy_of: Callable[[str], Path]) -> None:
    root = copy_of("mvtec_ad")
    mask = root / AD[0] / "ground_truth" / AD_DEFECT / "001_mask.png"
    mask.unlink()
    image = root / AD[0] / "test" / AD_DEFECT / "001.png"
    with pytest.raises(DatasetLayoutError, match=f"image without its mask: {_names(image)}; expected {_names(mask)}"):
        read_mvtec_ad(root)


@pytest.mark.parametrize("folder", [AD_DEFECT, "good"])
def test_mvtec_ad_mask_without_image(copy_of: Callable[[str], Path], folder: str) -> None:
    root = copy_of("mvtec_ad")
    orphan = root / AD[0] / "ground_truth" / folder / "099_mask.png"
    orphan.parent.mkdir(exist_ok=True)
    shutil.copy(root / AD[0] / "ground_truth" / AD_DEFECT / "000_mask.png", orphan)
    with pytest.raises(DatasetLayoutError, match=f"Mask without its image: {_names(orphan)}; expected .*test/{folder}"):
        read_mvtec_ad(root)


def test_mvtec_ad_unknown_test_folder(copy_of: Callable[[str], Path]) -> None:
    root = copy_of("mvtec_ad")
    folder = root / AD[0] / "test" / "dent"
    shutil.copytree(root / AD[0] / "test" / "good", folder)
    valid = re.escape(", ".join(("good", *MVTEC_AD_DEFECTS[AD[0]])))
    with pytest.raises(DatasetLayoutError, match=f"Unknown test folder: {_names(folder)}; expected one of {valid}"):
        read_mvtec_ad(root)


def test_mvtec_ad_unexpected_file_among_masks(copy_of: Callable[[str], Path]) -> None:
    root = copy_of("mvtec_ad")
    stray = root / AD[0] / "ground_truth" / AD_DEFECT / "000.png"
    shutil.copy(root / AD[0] / "test" / AD_DEFECT / "000.png", stray)
    with pytest.raises(DatasetLayoutError, match=f"among masks: {_names(stray)}; expected <image stem>_mask.png"):
        read_mvtec_ad(root)


def test_loco_image_without_mask_folder(copy_of: Callable[[str], Path]) -> None:
    root = copy_of("mvtec_loco")
    shutil.rmtree(root / LOCO[0] / "ground_truth" / LOGICAL / "002")
    image = root / LOCO[0] / "test" / LOGICAL / "002.png"
    with pytest.raises(DatasetLayoutError, match=f"without its masks: {_names(image)}; expected .*/002/000.png"):
        read_mvtec_loco(root)


def test_loco_mask_folder_without_png_counts_as_missing(copy_of: Callable[[str], Path]) -> None:
    root = copy_of("mvtec_loco")
    folder = root / LOCO[1] / "ground_truth" / STRUCTURAL / "001"
    for mask in folder.glob("*.png"):
        mask.unlink()
    (folder / "notes.txt").write_text("no masks here")
    image = root / LOCO[1] / "test" / STRUCTURAL / "001.png"
    with pytest.raises(DatasetLayoutError, match=f"Mask folder has no PNG for image: {_names(image)}; expected"):
        read_mvtec_loco(root)


def test_loco_mask_folder_without_image(copy_of: Callable[[str], Path]) -> None:
    root = copy_of("mvtec_loco")
    orphan = root / LOCO[0] / "ground_truth" / LOGICAL / "099"
    shutil.copytree(root / LOCO[0] / "ground_truth" / LOGICAL / "000", orphan)
    with pytest.raises(DatasetLayoutError, match=f"folder without its image: {_names(orphan)}; expected .*099.png"):
        read_mvtec_loco(root)


@pytest.mark.parametrize("change", ["extra", "missing"])
def test_loco_test_classes_must_be_the_catalogs(copy_of: Callable[[str], Path], change: str) -> None:
    root = copy_of("mvtec_loco")
    test = root / LOCO[0] / "test"
    if change == "extra":
        shutil.copytree(test / "good", test / "bad")
    else:
        shutil.rmtree(test / STRUCTURAL)
    classes = re.escape(", ".join(LOCO_TEST_CLASSES))
    with pytest.raises(DatasetLayoutError, match=f"in: {_names(test)}; expected exactly {classes}"):
        read_mvtec_loco(root)


def test_loco_unknown_ground_truth_folder(copy_of: Callable[[str], Path]) -> None:
    root = copy_of("mvtec_loco")
    folder = root / LOCO[0] / "ground_truth" / "good"
    folder.mkdir()
    with pytest.raises(DatasetLayoutError, match=f"Unknown ground truth folder: {_names(folder)}; expected only"):
        read_mvtec_loco(root)


def test_visa_unknown_split_file_lists_valid_ones(written: dict[str, DatasetSummary]) -> None:
    valid = re.escape(", ".join(VISA_SPLIT_FILES))
    with pytest.raises(DatasetLayoutError, match=f"'3cls.csv'; expected one of {valid}"):
        read_visa(written["visa"].root, split_file="3cls.csv")


def test_visa_missing_split_file(copy_of: Callable[[str], Path]) -> None:
    root = copy_of("visa")
    path = root / "split_csv" / "2cls_highshot.csv"
    path.unlink()
    with pytest.raises(DatasetLayoutError, match=f"Missing file: {_names(path)}; expected {_names(path)} as"):
        read_visa(root, split_file="2cls_highshot.csv")


def test_visa_wrong_header_shows_expected_and_found(copy_of: Callable[[str], Path]) -> None:
    root = copy_of("visa")
    path = root / "split_csv" / "1cls.csv"
    _rewrite_csv(path, lambda rows: [["category", "split", "label", "image", "mask"], *rows[1:]])
    expected = re.escape(f"header {','.join(VISA_SPLIT_HEADER)} (found category,split,label,image,mask)")
    with pytest.raises(DatasetLayoutError, match=f"Wrong header in: {_names(path)}; expected {expected}"):
        read_visa(root)


def test_visa_row_with_missing_image(copy_of: Callable[[str], Path]) -> None:
    root = copy_of("visa")
    image = root / VISA[1] / "Data" / "Images" / "Normal" / "0002.JPG"
    image.unlink()
    csv_path = _names(root / "split_csv" / "1cls.csv")
    with pytest.raises(
        DatasetLayoutError, match=rf"listed in {csv_path}:\d+ does not exist: {_names(image)}; expected"
    ):
        read_visa(root)


def test_visa_image_without_mask(copy_of: Callable[[str], Path]) -> None:
    root = copy_of("visa")
    (root / VISA[0] / "Data" / "Masks" / "Anomaly" / "001.png").unlink()
    image = root / VISA[0] / "Data" / "Images" / "Anomaly" / "001.JPG"
    with pytest.raises(DatasetLayoutError, match=rf"without its mask in .*1cls.csv:\d+: {_names(image)}; expected"):
        read_visa(root)


def test_visa_mask_without_image(copy_of: Callable[[str], Path]) -> None:
    root = copy_of("visa")
    masks = root / VISA[0] / "Data" / "Masks" / "Anomaly"
    shutil.copy(masks / "000.png", masks / "099.png")
    with pytest.raises(DatasetLayoutError, match=f"Mask without its image: {_names(masks / '099.png')}; expected"):
        read_visa(root)


def test_visa_category_without_rows(copy_of: Callable[[str], Path]) -> None:
    root = copy_of("visa")
    path = root / "split_csv" / "1cls.csv"
    _rewrite_csv(path, lambda rows: [row for row in rows if row[0] != VISA[1]])
    with pytest.raises(DatasetLayoutError, match=f"Found 0 images of {VISA[1]} in: {_names(path)}; expected"):
        read_visa(root)


@pytest.mark.parametrize(("column", "value"), [(0, "candles"), (1, "val"), (2, "bad")])
def test_visa_row_with_unexpected_value(copy_of: Callable[[str], Path], column: int, value: str) -> None:
    root = copy_of("visa")
    path = root / "split_csv" / "1cls.csv"
    _rewrite_csv(path, lambda rows: [rows[0], [*rows[1][:column], value, *rows[1][column + 1 :]], *rows[2:]])
    with pytest.raises(DatasetLayoutError, match=f"Unexpected value '{value}' .* in: {_names(path)}:2; expected"):
        read_visa(root)


def test_visa_row_with_wrong_width(copy_of: Callable[[str], Path]) -> None:
    root = copy_of("visa")
    path = root / "split_csv" / "1cls.csv"
    _rewrite_csv(path, lambda rows: [*rows[:3], rows[3][:4], *rows[4:]])
    with pytest.raises(DatasetLayoutError, match=f"Row with 4 columns instead of 5 in: {_names(path)}:4; expected"):
        read_visa(root)


def test_visa_normal_image_with_mask(copy_of: Callable[[str], Path]) -> None:
    root = copy_of("visa")
    mask = f"{VISA[0]}/Data/Masks/Anomaly/000.png"
    path = root / "split_csv" / "1cls.csv"
    _rewrite_csv(path, lambda rows: [row if row[2] != "normal" else [*row[:4], mask] for row in rows])
    with pytest.raises(DatasetLayoutError, match=f"Normal image with a mask in .*: {_names(root / mask)}; expected"):
        read_visa(root)


def test_visa_anomaly_missing_from_image_anno(copy_of: Callable[[str], Path]) -> None:
    root = copy_of("visa")
    anno = root / VISA[0] / "image_anno.csv"
    _rewrite_csv(anno, lambda rows: [row for row in rows if not row[0].endswith("Anomaly/002.JPG")])
    image = root / VISA[0] / "Data" / "Images" / "Anomaly" / "002.JPG"
    with pytest.raises(DatasetLayoutError, match=f"with a defect in {_names(anno)}: {_names(image)}; expected"):
        read_visa(root)


def test_visa_image_anno_with_wrong_header(copy_of: Callable[[str], Path]) -> None:
    root = copy_of("visa")
    anno = root / VISA[1] / "image_anno.csv"
    _rewrite_csv(anno, lambda rows: [["path", "label", "mask"], *rows[1:]])
    with pytest.raises(DatasetLayoutError, match=f"Wrong header in: {_names(anno)}; expected header image,label,mask"):
        read_visa(root)
