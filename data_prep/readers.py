"""Read MVTec AD, VisA and MVTec LOCO AD from disk into one sample table, checking the layout on the way.

Like anomalib's ``make_<dataset>_dataset`` parsers, each reader is a pure function of the files under the root that
only lists folders (no image is decoded), so even a full dataset reads in a fraction of a second. Unlike them, every
inconsistency stops the read with a :class:`DatasetLayoutError` naming the offending path and the layout that was
expected, because a silently dropped mask or split folder skews every later metric. Masks are always matched to
images by file stem, never by sort order. Unknown top-level files (licences, ``synthetic_manifest.json``), hidden
files and non-image files are ignored.

Every reader returns one row per image with the columns ``SAMPLE_COLUMNS``, all of dtype ``object``:

============  =====================================================================================================
column        meaning
============  =====================================================================================================
image         image path relative to the dataset root, posix (``bottle/test/broken_large/000.png``)
dataset       ``mvtec_ad`` | ``visa`` | ``mvtec_loco``
category      catalog category name (``data_prep.catalog``)
split         ``train`` | ``validation`` (LOCO only) | ``test``; VisA's comes from the chosen split csv
label         ``normal`` | ``anomalous``
defect_type   ``good`` for normal images; MVTec AD: the defect folder name; VisA: the defect name from
              ``<category>/image_anno.csv`` when that file exists, else ``anomaly``; LOCO: ``logical_anomalies`` |
              ``structural_anomalies``
anomaly_kind  LOCO anomalies: ``logical`` | ``structural``; ``None`` for LOCO normal images and the other datasets
masks         tuple of mask paths relative to the root, sorted; empty for normal images (LOCO: one per defect region)
============  =====================================================================================================

Rows are sorted by category (catalog order), split (train, validation, test), defect type and image path.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Final, NamedTuple

import pandas as pd

from data_prep.catalog import (
    DATASETS,
    IMG_EXTENSIONS,
    LOCO_ANOMALY_KINDS,
    LOCO_TEST_CLASSES,
    MVTEC_AD_DEFECTS,
    VISA_CATEGORIES,
    VISA_LABELS,
    VISA_SPLIT_FILES,
    VISA_SPLIT_HEADER,
    validate_categories,
)

PathLike = str | os.PathLike[str]

GOOD: Final = "good"
SPLITS: Final = ("train", "validation", "test")
VISA_SPLITS: Final = ("train", "test")
VISA_ANNOTATION_HEADER: Final = ("image", "label", "mask")
VISA_UNKNOWN_DEFECT: Final = "anomaly"

_BY_STEM: Final = "masks are matched to images by file stem"
_NAMES: Final = MappingProxyType({"mvtec_ad": "MVTec AD", "visa": "VisA", "mvtec_loco": "MVTec LOCO AD"})
_NORMAL: Final = VISA_LABELS[0]
_LAYOUTS: Final = MappingProxyType(
    {
        "mvtec_ad": "<root>/<category>/{train,test}/good/*.png, <root>/<category>/test/<defect>/<stem>.png and "
        "<root>/<category>/ground_truth/<defect>/<stem>_mask.png as in MVTec AD",
        "visa": "<root>/<category>/Data/Images/{Normal,Anomaly}/*.JPG, <root>/<category>/Data/Masks/Anomaly/*.png and "
        f"<root>/split_csv/{{{','.join(VISA_SPLIT_FILES)}}} as in VisA",
        "mvtec_loco": f"<root>/<category>/{{train,validation}}/good/*.png, <root>/<category>/test/"
        f"{{{','.join(LOCO_TEST_CLASSES)}}}/<stem>.png and <root>/<category>/ground_truth/<type>/<stem>/000.png "
        "as in MVTec LOCO AD",
    }
)


class DatasetLayoutError(ValueError):
    """The files under a dataset root do not match the layout the dataset ships in; the message says what to fix."""


class Sample(NamedTuple):
    """One row of a reader's table; see the module docstring for the meaning of each field."""

    image: str
    dataset: str
    category: str
    split: str
    label: str
    defect_type: str
    anomaly_kind: str | None
    masks: tuple[str, ...]


SAMPLE_COLUMNS: Final = Sample._fields


def _sample(
    dataset: str,
    category: str,
    image: str,
    split: str,
    defect_type: str = GOOD,
    masks: tuple[str, ...] = (),
    anomaly_kind: str | None = None,
) -> Sample:
    """A row whose label follows from its defect type, so the two can never disagree."""
    label = "normal" if defect_type == GOOD else "anomalous"
    return Sample(image, dataset, category, split, label, defect_type, anomaly_kind, masks)


def _error(problem: str, path: PathLike, expected: str) -> DatasetLayoutError:
    return DatasetLayoutError(f"{problem}: {path}; expected {expected}")


def _frame(dataset: str, samples: list[Sample]) -> pd.DataFrame:
    order = {category: index for index, category in enumerate(DATASETS[dataset])}
    rows = sorted(samples, key=lambda s: (order[s.category], SPLITS.index(s.split), s.defect_type, s.image))
    return pd.DataFrame(rows, columns=list(SAMPLE_COLUMNS), dtype=object)


# ----------------------------------------------------------------------------------------------------------------
# Listing


def _visible(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        return [entry for entry in entries if not entry.name.startswith(".")]


def _images(folder: Path) -> list[str]:
    """Sorted image file names in ``folder`` (none when it does not exist)."""
    if not folder.is_dir():
        return []
    return sorted(e.name for e in _visible(folder) if e.is_file() and os.path.splitext(e.name)[1] in IMG_EXTENSIONS)


def _pngs(folder: Path) -> list[str]:
    return sorted(e.name for e in _visible(folder) if e.is_file() and e.name.lower().endswith(".png"))


def _folders(folder: Path) -> list[str]:
    """Sorted sub-folder names of ``folder`` (none when it does not exist)."""
    return sorted(e.name for e in _visible(folder) if e.is_dir()) if folder.is_dir() else []


def _stem(name: str) -> str:
    return os.path.splitext(name)[0]


def _require_folder(folder: Path, expected: str) -> None:
    if not folder.is_dir():
        raise _error("Missing folder", folder, expected)


def _require_images(dataset: str, folder: Path, samples: list[Sample]) -> None:
    if not samples:
        raise _error("Found 0 images in", folder, _LAYOUTS[dataset])


def _categories(dataset: str, root: Path, categories: Sequence[str] | None) -> tuple[str, ...]:
    """Requested categories must all be on disk; without a request, every catalog category that is on disk."""
    if not root.is_dir():
        problem = "Dataset root is not a directory" if root.exists() else "Dataset root does not exist"
        raise _error(problem, root, _LAYOUTS[dataset])
    requested = (categories,) if isinstance(categories, str) else categories
    try:
        chosen = validate_categories(dataset, list(requested) if requested else None)
    except ValueError as err:
        raise DatasetLayoutError(str(err)) from err
    if requested:
        missing = [category for category in chosen if not (root / category).is_dir()]
        if missing:
            raise _error("Missing category folder", root / missing[0], _LAYOUTS[dataset])
        return chosen
    present = tuple(category for category in chosen if (root / category).is_dir())
    if not present:
        raise _error(
            f"No {_NAMES[dataset]} category folder in",
            root,
            f"at least one of {', '.join(chosen)} under it, laid out as {_LAYOUTS[dataset]}",
        )
    return present


# ----------------------------------------------------------------------------------------------------------------
# MVTec AD


def read_mvtec_ad(root: PathLike, categories: Sequence[str] | None = None) -> pd.DataFrame:
    """Read MVTec AD (``train`` and ``test`` splits); each defective test image must have ``<stem>_mask.png``."""
    root = Path(root)
    chosen = _categories("mvtec_ad", root, categories)
    return _frame("mvtec_ad", [sample for category in chosen for sample in _mvtec_ad_category(root, category)])


def _mvtec_ad_category(root: Path, category: str) -> list[Sample]:
    base = root / category
    for folder in ("train/good", "test/good"):
        _require_folder(base / folder, f"<root>/<category>/{folder}/*.png as in MVTec AD")
    samples = [
        _sample("mvtec_ad", category, f"{category}/{split}/{GOOD}/{name}", split)
        for split in ("train", "test")
        for name in _images(base / split / GOOD)
    ]
    defects = [name for name in _folders(base / "test") if name != GOOD]
    unknown = [name for name in defects if name not in MVTEC_AD_DEFECTS[category]]
    if unknown:
        valid = ", ".join((GOOD, *MVTEC_AD_DEFECTS[category]))
        raise _error("Unknown test folder", base / "test" / unknown[0], f"one of {valid} for {category} in MVTec AD")
    for defect in defects:
        samples += _mvtec_ad_defect(root, category, defect)
    for folder in _folders(base / "ground_truth"):
        masks = _images(base / "ground_truth" / folder)
        if folder not in defects and masks:
            raise _error(
                "Mask without its image",
                base / "ground_truth" / folder / masks[0],
                f"a defective image in {base / 'test' / folder} as in MVTec AD",
            )
    _require_images("mvtec_ad", base, samples)
    return samples


def _mvtec_ad_masks(folder: Path) -> dict[str, str]:
    """Mask file names in ``folder`` keyed by the stem of the image they belong to (``000_mask.png`` -> ``000``)."""
    masks = {}
    for name in _images(folder):
        if not _stem(name).endswith("_mask"):
            raise _error("Unexpected file among masks", folder / name, "<image stem>_mask.png as in MVTec AD")
        masks[_stem(name).removesuffix("_mask")] = name
    return masks


def _mvtec_ad_defect(root: Path, category: str, defect: str) -> list[Sample]:
    mask_folder = f"{category}/ground_truth/{defect}"
    masks = _mvtec_ad_masks(root / mask_folder)
    samples = []
    for name in _images(root / category / "test" / defect):
        image = f"{category}/test/{defect}/{name}"
        mask = masks.pop(_stem(name), None)
        if mask is None:
            raise _error(
                "Anomalous image without its mask",
                root / image,
                f"{root / mask_folder / _stem(name)}_mask.png ({_BY_STEM}, as in MVTec AD)",
            )
        samples.append(_sample("mvtec_ad", category, image, "test", defect, (f"{mask_folder}/{mask}",)))
    if masks:
        stem, mask = sorted(masks.items())[0]
        raise _error(
            "Mask without its image",
            root / mask_folder / mask,
            f"{root / category / 'test' / defect / stem}.png ({_BY_STEM}, as in MVTec AD)",
        )
    return samples


# ----------------------------------------------------------------------------------------------------------------
# VisA


class _Row(NamedTuple):
    where: str
    cells: list[str]


def _read_csv(path: Path, header: tuple[str, ...], expected: str) -> list[_Row]:
    """Rows of ``path`` after checking its header and width; ``where`` is ``path:line`` for error messages."""
    if not path.is_file():
        raise _error("Missing file", path, expected)
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = [(line, cells) for line, cells in enumerate(csv.reader(handle), start=1) if cells]
    found = tuple(cell.strip() for cell in rows[0][1]) if rows else ()
    if found != header:
        raise _error(
            "Wrong header in",
            path,
            f"header {','.join(header)} (found {','.join(found) or 'an empty file'}); {expected}",
        )
    for line, cells in rows[1:]:
        if len(cells) != len(header):
            raise _error(f"Row with {len(cells)} columns instead of {len(header)} in", f"{path}:{line}", expected)
    return [_Row(f"{path}:{line}", cells) for line, cells in rows[1:]]


def _file_checker(root: Path) -> Callable[[str], bool]:
    """``exists(relative_path)`` that lists each folder once instead of calling stat for every file."""
    listings: dict[str, frozenset[str]] = {}

    def exists(relative: str) -> bool:
        folder, _, name = relative.rpartition("/")
        if folder not in listings:
            path = root / folder
            listings[folder] = (
                frozenset(e.name for e in _visible(path) if e.is_file()) if path.is_dir() else frozenset()
            )
        return name in listings[folder]

    return exists


def read_visa(root: PathLike, categories: Sequence[str] | None = None, split_file: str = "1cls.csv") -> pd.DataFrame:
    """Read VisA with the splits of ``<root>/split_csv/<split_file>`` (VisA's folders carry no split)."""
    if split_file not in VISA_SPLIT_FILES:
        raise DatasetLayoutError(
            f"Unknown VisA split file {split_file!r}; expected one of {', '.join(VISA_SPLIT_FILES)} in <root>/split_csv"
        )
    root = Path(root)
    chosen = _categories("visa", root, categories)
    csv_path = root / "split_csv" / split_file
    expected = f"{csv_path} as distributed with VisA, with paths relative to {root}"
    rows = _read_csv(csv_path, VISA_SPLIT_HEADER, expected)
    _check_visa_rows(rows, expected)
    exists = _file_checker(root)
    samples = []
    for category in chosen:
        own = [row for row in rows if row.cells[0] == category]
        if not own:
            raise _error(f"Found 0 images of {category} in", csv_path, expected)
        defects = _visa_defects(root, category)
        samples += [_visa_sample(root, row, defects, exists) for row in own]
        _check_visa_orphan_masks(root, category, {row.cells[4] for row in own}, csv_path)
    return _frame("visa", samples)


def _check_visa_rows(rows: list[_Row], expected: str) -> None:
    for row in rows:
        category, split, label = row.cells[:3]
        for value, valid in ((category, VISA_CATEGORIES), (split, VISA_SPLITS), (label, VISA_LABELS)):
            if value not in valid:
                raise _error(f"Unexpected value {value!r} (valid: {', '.join(valid)}) in", row.where, expected)


def _visa_defects(root: Path, category: str) -> Mapping[str, str] | None:
    """Image path -> defect name from ``<category>/image_anno.csv``, or None when that file is absent."""
    path = root / category / "image_anno.csv"
    if not path.is_file():
        return None
    rows = _read_csv(path, VISA_ANNOTATION_HEADER, f"{path} as distributed with VisA")
    return {row.cells[0]: row.cells[1] for row in rows}


def _visa_sample(root: Path, row: _Row, defects: Mapping[str, str] | None, exists: Callable[[str], bool]) -> Sample:
    category, split, label, image, mask = row.cells
    if not exists(image):
        raise _error(f"Image listed in {row.where} does not exist", root / image, _LAYOUTS["visa"])
    if label == _NORMAL:
        if mask:
            raise _error(
                f"Normal image with a mask in {row.where}", root / mask, "an empty mask cell for normal images"
            )
        return _sample("visa", category, image, split)
    if not mask or not exists(mask):
        raise _error(
            f"Anomalous image without its mask in {row.where}",
            root / image,
            f"an existing mask such as {category}/Data/Masks/Anomaly/{Path(image).stem}.png in the mask column",
        )
    return _sample("visa", category, image, split, _visa_defect(root, category, image, defects), (mask,))


def _visa_defect(root: Path, category: str, image: str, defects: Mapping[str, str] | None) -> str:
    if defects is None:
        return VISA_UNKNOWN_DEFECT
    defect = defects.get(image, _NORMAL)
    if defect == _NORMAL:
        raise _error(
            f"Anomalous image not labelled with a defect in {root / category / 'image_anno.csv'}",
            root / image,
            "a row <image>,<defect name>,<mask> for every anomalous image",
        )
    return defect


def _check_visa_orphan_masks(root: Path, category: str, referenced: set[str], csv_path: Path) -> None:
    folder = f"{category}/Data/Masks/Anomaly"
    orphans = [name for name in _images(root / folder) if f"{folder}/{name}" not in referenced]
    if orphans:
        raise _error(
            "Mask without its image", root / folder / orphans[0], f"every mask in {root / folder} named in {csv_path}"
        )


# ----------------------------------------------------------------------------------------------------------------
# MVTec LOCO AD


def read_mvtec_loco(root: PathLike, categories: Sequence[str] | None = None) -> pd.DataFrame:
    """Read MVTec LOCO AD (``train``, ``validation``, ``test``); an anomaly's masks are every PNG in its folder."""
    root = Path(root)
    chosen = _categories("mvtec_loco", root, categories)
    return _frame("mvtec_loco", [sample for category in chosen for sample in _loco_category(root, category)])


def _loco_category(root: Path, category: str) -> list[Sample]:
    base = root / category
    for folder in ("train/good", "validation/good", "test"):
        _require_folder(base / folder, f"<root>/<category>/{folder} as in MVTec LOCO AD")
    classes = _folders(base / "test")
    if set(classes) != set(LOCO_TEST_CLASSES):
        raise _error(
            f"Test classes {classes} in",
            base / "test",
            f"exactly {', '.join(LOCO_TEST_CLASSES)} as in MVTec LOCO AD",
        )
    unknown = [name for name in _folders(base / "ground_truth") if name not in LOCO_ANOMALY_KINDS]
    if unknown:
        raise _error(
            "Unknown ground truth folder",
            base / "ground_truth" / unknown[0],
            f"only {', '.join(LOCO_ANOMALY_KINDS)} as in MVTec LOCO AD",
        )
    samples = [
        _sample("mvtec_loco", category, f"{category}/{split}/{GOOD}/{name}", split)
        for split in SPLITS
        for name in _images(base / split / GOOD)
    ]
    for kind in LOCO_ANOMALY_KINDS:
        samples += _loco_anomalies(root, category, kind)
    _require_images("mvtec_loco", base, samples)
    return samples


def _loco_anomalies(root: Path, category: str, kind: str) -> list[Sample]:
    gt = f"{category}/ground_truth/{kind}"
    mask_folders = {name: _pngs(root / gt / name) for name in _folders(root / gt)}
    samples = []
    for name in _images(root / category / "test" / kind):
        image = f"{category}/test/{kind}/{name}"
        masks = mask_folders.pop(_stem(name), None)
        if not masks:
            problem = "Anomalous image without its masks" if masks is None else "Mask folder has no PNG for image"
            raise _error(
                problem,
                root / image,
                f"{root / gt / _stem(name)}/000.png, one PNG per defect region, in a folder named after the image "
                "stem as in MVTec LOCO AD",
            )
        paths = tuple(f"{gt}/{_stem(name)}/{mask}" for mask in masks)
        samples.append(_sample("mvtec_loco", category, image, "test", kind, paths, kind.removesuffix("_anomalies")))
    orphans = sorted(stem for stem, masks in mask_folders.items() if masks)
    if orphans:
        stem = orphans[0]
        raise _error(
            "Mask folder without its image",
            root / gt / stem,
            f"{root / category / 'test' / kind / stem}.png (mask folders are named after the image stem, as in MVTec "
            "LOCO AD)",
        )
    return samples


# ----------------------------------------------------------------------------------------------------------------
# Dispatch


READERS: Final[Mapping[str, Callable[..., pd.DataFrame]]] = MappingProxyType(
    {"mvtec_ad": read_mvtec_ad, "visa": read_visa, "mvtec_loco": read_mvtec_loco}
)


def read_dataset(dataset: str, root: PathLike, categories: Sequence[str] | None = None, **options: str) -> pd.DataFrame:
    """Read a dataset by its catalog name; ``options`` go to its reader (VisA: ``split_file``)."""
    if dataset not in READERS:
        raise ValueError(f"Unknown dataset {dataset!r}; valid datasets: {', '.join(READERS)}")
    return READERS[dataset](root, categories, **options)
