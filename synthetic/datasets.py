"""Write synthetic MVTec AD, VisA and MVTec LOCO AD datasets in exactly the on-disk layouts the real ones ship in.

Readers, evaluators and demos can then be exercised end to end without the real data (which cannot be downloaded
here). Every image is drawn from a generator seeded by sha256 of ``"<seed>:<dataset>/<relative path>"``, so the
same arguments give byte-identical files regardless of order or process. A dataset is built in a hidden sibling
folder and renamed into place only when complete, and ``synthetic_manifest.json`` records the parameters and the
sha256 and size of every file.

Anomalous test images with index 1, 4, 7, ... carry two defect regions where the defect allows it (two missing pins,
two contamination spots); the others carry one.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Final

import numpy as np
import PIL
from PIL import Image
from tqdm import tqdm

from data_prep.catalog import (
    LOCO_ANOMALY_KINDS,
    LOCO_SPLIT_COUNTS,
    LOCO_TEST_CLASSES,
    MVTEC_AD_DEFECTS,
    VISA_SPLIT_HEADER,
    validate_categories,
)
from data_prep.sampling import rng_for
from synthetic.drawing import LOCO_DEFECTS, VISA_DEFECTS, Drawing, defect_types, draw_defective, draw_good
from synthetic.obvious import ANOMALY_STYLES, draw_obvious

GENERATOR: Final = "iad-reasoner synthetic"
GENERATOR_VERSION: Final = "1"
MANIFEST_NAME: Final = "synthetic_manifest.json"
MIN_SIZE: Final = 16

LOCO_SPLIT_KEYS: Final = ("train", "validation", *LOCO_TEST_CLASSES)
LOCO_PRESETS: Final = ("small", "real-counts")
_LOCO_SMALL: Final = {"train": 4, "validation": 2, "good": 2, "logical_anomalies": 3, "structural_anomalies": 3}

Files = list[tuple[str, bytes]]


@dataclass(frozen=True)
class DatasetSummary:
    """What a writer produced: image counts per category and ``split/class``, and the number of files written."""

    root: Path
    dataset: str
    counts: Mapping[str, Mapping[str, int]]
    n_files: int


@dataclass(frozen=True)
class _Job:
    """One image and its masks: ``key`` names it stably and seeds it, ``make`` draws and encodes it."""

    key: str
    make: Callable[[np.random.Generator], Files]


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def _mask_png(masks: Iterable[np.ndarray], value: int) -> bytes:
    union = np.logical_or.reduce(list(masks))
    return _encode(Image.fromarray(np.where(union, value, 0).astype(np.uint8)), "PNG")


def _instances(index: int) -> int:
    return 2 if index % 3 == 1 else 1


def _good_job(dataset: str, category: str, path: str, size: int, fmt: str) -> _Job:
    def make(rng: np.random.Generator) -> Files:
        return [(path, _encode(draw_good(dataset, category, rng, size), fmt))]

    return _Job(f"{dataset}/{path}", make)


def _defect_job(
    dataset: str, path: str, draw: Callable[[np.random.Generator], Drawing], files: Callable[[Drawing], Files]
) -> _Job:
    return _Job(f"{dataset}/{path}", lambda rng: files(draw(rng)))


# ----------------------------------------------------------------------------------------------------------------
# Writing, atomically


def _check_target(root: Path, overwrite: bool) -> None:
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{root} exists and is not a directory")
    if root.is_dir() and any(root.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{root} exists and is not empty; pass overwrite=True (--overwrite on the command line) to replace it"
        )


def _check_sizes(size: int, **counts: int) -> None:
    if size < MIN_SIZE:
        raise ValueError(f"size must be at least {MIN_SIZE} pixels, got {size}")
    negative = {name: n for name, n in counts.items() if n < 0}
    if negative:
        raise ValueError(f"counts must be >= 0, got {negative}")


def _swap_in(staging: Path, root: Path) -> None:
    """Put the finished folder at ``root``; a replaced dataset is moved aside first and deleted only afterwards."""
    if root.is_dir() and any(root.iterdir()):
        old = root.with_name(f".{root.name}.old-{uuid.uuid4().hex[:8]}")
        root.rename(old)
        staging.rename(root)
        shutil.rmtree(old)
        return
    if root.is_dir():
        root.rmdir()
    staging.rename(root)


def _manifest(dataset: str, seed: int, parameters: Mapping[str, object], records: list[dict[str, object]]) -> bytes:
    manifest = {
        "generator": GENERATOR,
        "version": GENERATOR_VERSION,
        "libraries": {"numpy": np.__version__, "pillow": PIL.__version__},
        "dataset": dataset,
        "seed": seed,
        "parameters": parameters,
        "n_files": len(records),
        "files": sorted(records, key=lambda record: str(record["path"])),
    }
    return (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()


def _store(staging: Path, path: str, data: bytes) -> dict[str, object]:
    target = staging / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def _write(
    root: str | os.PathLike[str],
    dataset: str,
    jobs: Sequence[_Job],
    extra: Files,
    *,
    seed: int,
    parameters: Mapping[str, object],
    counts: Mapping[str, Mapping[str, int]],
    overwrite: bool,
) -> DatasetSummary:
    root = Path(root)
    _check_target(root, overwrite)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".partial", dir=root.parent))
    try:
        staging.chmod(0o755)
        records = [
            _store(staging, path, data)
            for job in tqdm(jobs, desc=f"synthetic {dataset}", unit="img", disable=None)
            for path, data in job.make(rng_for(job.key, seed))
        ]
        records += [_store(staging, path, data) for path, data in extra]
        (staging / MANIFEST_NAME).write_bytes(_manifest(dataset, seed, parameters, records))
        _swap_in(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return DatasetSummary(root, dataset, counts, len(records) + 1)


# ----------------------------------------------------------------------------------------------------------------
# MVTec AD


def _mvtec_ad_files(image_path: str, mask_path: str, drawing: Drawing) -> Files:
    return [
        (image_path, _encode(drawing.image, "PNG")),
        (mask_path, _mask_png((region.mask for region in drawing.regions), 255)),
    ]


def write_mvtec_ad(
    root: str | os.PathLike[str],
    categories: Sequence[str] | None = None,
    *,
    n_train: int = 6,
    n_test_good: int = 3,
    n_test_per_defect: int = 2,
    size: int = 64,
    seed: int = 0,
    anomalies: str = "realistic",
    overwrite: bool = False,
) -> DatasetSummary:
    """MVTec AD layout: ``<cat>/{train,test}/good/NNN.png``, ``<cat>/test/<defect>/NNN.png`` and one 0/255 mask
    ``<cat>/ground_truth/<defect>/NNN_mask.png`` per defective image."""
    chosen = validate_categories("mvtec_ad", categories)
    _check_anomalies(anomalies)
    _check_sizes(size, n_train=n_train, n_test_good=n_test_good, n_test_per_defect=n_test_per_defect)
    jobs: list[_Job] = []
    counts: dict[str, dict[str, int]] = {}
    for category in chosen:
        for split, n in (("train", n_train), ("test", n_test_good)):
            jobs += [
                _good_job("mvtec_ad", category, f"{category}/{split}/good/{i:03d}.png", size, "PNG") for i in range(n)
            ]
        for defect in MVTEC_AD_DEFECTS[category]:
            for i in range(n_test_per_defect):
                draw = partial(_draw_defect, "mvtec_ad", category, defect, size, i, anomalies)
                files = partial(
                    _mvtec_ad_files,
                    f"{category}/test/{defect}/{i:03d}.png",
                    f"{category}/ground_truth/{defect}/{i:03d}_mask.png",
                )
                jobs.append(_defect_job("mvtec_ad", f"{category}/test/{defect}/{i:03d}.png", draw, files))
        n_defective = n_test_per_defect * len(MVTEC_AD_DEFECTS[category])
        counts[category] = {"train/good": n_train, "test/good": n_test_good, "test/defective": n_defective}
    parameters = {
        "categories": list(chosen),
        "n_train": n_train,
        "n_test_good": n_test_good,
        "n_test_per_defect": n_test_per_defect,
        "size": size,
        **_style_parameter(anomalies),
    }
    return _write(root, "mvtec_ad", jobs, [], seed=seed, parameters=parameters, counts=counts, overwrite=overwrite)


def _draw_defect(
    dataset: str, category: str, defect: str, size: int, index: int, anomalies: str, rng: np.random.Generator
) -> Drawing:
    if anomalies == "obvious":
        return draw_obvious(dataset, category, defect, rng, size)
    return draw_defective(dataset, category, defect, rng, size, instances=_instances(index))


def _style_parameter(anomalies: str) -> dict[str, str]:
    """Manifests of realistic datasets stay as they were; only the obvious style is recorded."""
    return {"anomalies": anomalies} if anomalies != "realistic" else {}


def _check_anomalies(anomalies: str) -> None:
    if anomalies not in ANOMALY_STYLES:
        raise ValueError(f"Unknown anomaly style {anomalies!r}; valid: {', '.join(ANOMALY_STYLES)}")


# ----------------------------------------------------------------------------------------------------------------
# VisA


def _visa_files(image_path: str, mask_path: str, class_id: int, drawing: Drawing) -> Files:
    return [
        (image_path, _encode(drawing.image, "JPEG")),
        (mask_path, _mask_png((region.mask for region in drawing.regions), class_id)),
    ]


def _share(n: int, fraction: float) -> int:
    """How many of ``n`` go to train: about ``fraction``, but at least one on each side when there are two."""
    return min(max(1, round(fraction * n)), n - 1) if n > 1 else 0


def _csv_bytes(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _visa_split_rows(
    category: str, normals: list[tuple[str, str]], anomalies: list[tuple[str, str]], seed: int
) -> dict[str, list[tuple[str, ...]]]:
    """1cls: train = ~70% of normals; 2cls_highshot adds ~60% of anomalies to train, 2cls_fewshot ~10% (at least
    one). The choice is a seeded shuffle, and every split keeps at least one image of each label in test."""
    rng = rng_for(f"visa/{category}/splits", seed)
    normal_order = [int(i) for i in rng.permutation(len(normals))]
    anomaly_order = [int(i) for i in rng.permutation(len(anomalies))]
    train_normals = set(normal_order[: _share(len(normals), 0.7)])
    splits = {}
    for name, fraction in (("1cls.csv", 0.0), ("2cls_highshot.csv", 0.6), ("2cls_fewshot.csv", 0.1)):
        train_anomalies = set(anomaly_order[: _share(len(anomalies), fraction)]) if fraction else set()
        rows = [
            ("train" if i in train_normals else "test", "normal", image, "") for i, (image, _) in enumerate(normals)
        ]
        rows += [
            ("train" if i in train_anomalies else "test", "anomaly", image, mask)
            for i, (image, mask) in enumerate(anomalies)
        ]
        splits[name] = [(category, *row) for row in sorted(rows, key=lambda row: (row[0] != "train", row[2]))]
    return splits


def write_visa(
    root: str | os.PathLike[str],
    categories: Sequence[str] | None = None,
    *,
    n_normal: int = 10,
    n_anomaly: int = 5,
    size: int = 64,
    seed: int = 0,
    anomalies: str = "realistic",
    overwrite: bool = False,
) -> DatasetSummary:
    """VisA layout: ``<cat>/Data/Images/{Normal/NNNN,Anomaly/NNN}.JPG``, class-id masks
    ``<cat>/Data/Masks/Anomaly/NNN.png`` (pixel = 1-based index in ``VISA_DEFECTS``), ``<cat>/image_anno.csv`` and
    ``split_csv/{1cls,2cls_highshot,2cls_fewshot}.csv`` with paths relative to the root."""
    chosen = validate_categories("visa", categories)
    _check_anomalies(anomalies)
    _check_sizes(size, n_normal=n_normal, n_anomaly=n_anomaly)
    jobs: list[_Job] = []
    extra: Files = []
    split_rows: dict[str, list[tuple[str, ...]]] = {}
    counts: dict[str, dict[str, int]] = {}
    for category in chosen:
        normals = [(f"{category}/Data/Images/Normal/{i:04d}.JPG", "") for i in range(n_normal)]
        anomalous = [
            (f"{category}/Data/Images/Anomaly/{i:03d}.JPG", f"{category}/Data/Masks/Anomaly/{i:03d}.png")
            for i in range(n_anomaly)
        ]
        jobs += [_good_job("visa", category, image, size, "JPEG") for image, _ in normals]
        labels = []
        for i, (image, mask) in enumerate(anomalous):
            defect = VISA_DEFECTS[i % len(VISA_DEFECTS)]
            labels.append(defect)
            draw = partial(_draw_defect, "visa", category, defect, size, i, anomalies)
            jobs.append(
                _defect_job("visa", image, draw, partial(_visa_files, image, mask, VISA_DEFECTS.index(defect) + 1))
            )
        annotations = [(image, "normal", "") for image, _ in normals] + [
            (image, label, mask) for (image, mask), label in zip(anomalous, labels, strict=True)
        ]
        extra.append((f"{category}/image_anno.csv", _csv_bytes(("image", "label", "mask"), annotations)))
        for name, rows in _visa_split_rows(category, normals, anomalous, seed).items():
            split_rows.setdefault(name, []).extend(rows)
        n_train = _share(n_normal, 0.7)
        counts[category] = {"train/normal": n_train, "test/normal": n_normal - n_train, "test/anomaly": n_anomaly}
    extra += [(f"split_csv/{name}", _csv_bytes(VISA_SPLIT_HEADER, rows)) for name, rows in split_rows.items()]
    parameters = {
        "categories": list(chosen),
        "n_normal": n_normal,
        "n_anomaly": n_anomaly,
        "size": size,
        "defects": list(VISA_DEFECTS),
        **_style_parameter(anomalies),
    }
    return _write(root, "visa", jobs, extra, seed=seed, parameters=parameters, counts=counts, overwrite=overwrite)


# ----------------------------------------------------------------------------------------------------------------
# MVTec LOCO AD


def loco_defects_config(category: str, size: int) -> list[dict[str, object]]:
    """``defects_config.json`` as the real dataset ships it: mask pixel values and sPRO saturation per defect.

    Logical defects saturate relative to their own area (1.0: the whole region must be found, as for a missing
    object); structural ones at an absolute pixel count, 1% of the image area at this resolution."""
    names = defect_types("mvtec_loco", category)
    logical = set(LOCO_DEFECTS[category]["logical_anomalies"])
    return [
        {
            "defect_name": name,
            "pixel_value": 255 - index,
            "saturation_threshold": 1.0 if name in logical else max(1, size * size // 100),
            "relative_saturation": name in logical,
        }
        for index, name in enumerate(names)
    ]


def _loco_counts(category: str, preset: str, counts: Mapping[str, int] | None) -> dict[str, int]:
    base = dict(LOCO_SPLIT_COUNTS[category]) if preset == "real-counts" else dict(_LOCO_SMALL)
    return {**base, **(counts or {})}


def _check_loco_options(preset: str, counts: Mapping[str, int] | None) -> None:
    if preset not in LOCO_PRESETS:
        raise ValueError(f"Unknown preset {preset!r}; valid presets: {', '.join(LOCO_PRESETS)}")
    unknown = sorted(set(counts or {}) - set(LOCO_SPLIT_KEYS))
    if unknown:
        raise ValueError(f"Unknown LOCO count keys {unknown}; valid keys: {', '.join(LOCO_SPLIT_KEYS)}")


def _loco_files(image_path: str, mask_folder: str, pixel_values: Mapping[str, int], drawing: Drawing) -> Files:
    files = [(image_path, _encode(drawing.image, "PNG"))]
    for k, region in enumerate(drawing.regions):
        files.append((f"{mask_folder}/{k:03d}.png", _mask_png([region.mask], pixel_values[region.defect])))
    return files


def _loco_category_jobs(category: str, n: Mapping[str, int], size: int, anomalies: str) -> list[_Job]:
    jobs = []
    for folder, key in (("train/good", "train"), ("validation/good", "validation"), ("test/good", "good")):
        jobs += [
            _good_job("mvtec_loco", category, f"{category}/{folder}/{i:03d}.png", size, "PNG") for i in range(n[key])
        ]
    pixel_values = {entry["defect_name"]: entry["pixel_value"] for entry in loco_defects_config(category, size)}
    for kind in LOCO_ANOMALY_KINDS:
        names = LOCO_DEFECTS[category][kind]
        for i in range(n[kind]):
            image = f"{category}/test/{kind}/{i:03d}.png"
            draw = partial(_draw_defect, "mvtec_loco", category, names[i % len(names)], size, i, anomalies)
            files = partial(_loco_files, image, f"{category}/ground_truth/{kind}/{i:03d}", pixel_values)
            jobs.append(_defect_job("mvtec_loco", image, draw, files))
    return jobs


def write_mvtec_loco(
    root: str | os.PathLike[str],
    categories: Sequence[str] | None = None,
    *,
    preset: str = "small",
    size: int = 64,
    seed: int = 0,
    counts: Mapping[str, int] | None = None,
    anomalies: str = "realistic",
    overwrite: bool = False,
) -> DatasetSummary:
    """MVTec LOCO AD layout: ``<cat>/{train,validation}/good``, ``<cat>/test/{good,logical_anomalies,
    structural_anomalies}``, one mask per defect region in ``<cat>/ground_truth/<kind>/<image stem>/NNN.png`` (pixel
    value from ``<cat>/defects_config.json``). ``preset`` "small" is a few images per class, "real-counts" the
    official ``LOCO_SPLIT_COUNTS``; ``counts`` overrides any of ``LOCO_SPLIT_KEYS`` for every category."""
    chosen = validate_categories("mvtec_loco", categories)
    _check_anomalies(anomalies)
    _check_loco_options(preset, counts)
    _check_sizes(size, **(counts or {}))
    jobs: list[_Job] = []
    extra: Files = []
    summary: dict[str, dict[str, int]] = {}
    for category in chosen:
        n = _loco_counts(category, preset, counts)
        jobs += _loco_category_jobs(category, n, size, anomalies)
        config = json.dumps(loco_defects_config(category, size), indent=4) + "\n"
        extra.append((f"{category}/defects_config.json", config.encode()))
        summary[category] = {
            "train/good": n["train"],
            "validation/good": n["validation"],
            **{f"test/{name}": n[name] for name in LOCO_TEST_CLASSES},
        }
    parameters = {
        "categories": list(chosen),
        "preset": preset,
        "counts": dict(counts or {}),
        "size": size,
        **_style_parameter(anomalies),
    }
    return _write(
        root, "mvtec_loco", jobs, extra, seed=seed, parameters=parameters, counts=summary, overwrite=overwrite
    )


WRITERS: Final[Mapping[str, Callable[..., DatasetSummary]]] = MappingProxyType(
    {
        "mvtec_ad": write_mvtec_ad,
        "visa": write_visa,
        "mvtec_loco": write_mvtec_loco,
    }
)
