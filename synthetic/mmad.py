"""A synthetic MMAD root: the five image folders in MMAD's layouts, ``mmad.json`` in its schema, domain knowledge.

``write_mmad(root)`` draws small synthetic datasets (``synthetic.datasets``) and lays their files out as MMAD ships
them: ``MVTec-AD/<cat>`` in MVTec AD's layout (the DS-MVTec templates), ``DS-MVTec/<cat>/image/<defect>/NNN.png``
with ``mask/<defect>/NNN_mask.png`` (MVTec AD's test images), ``MVTec-LOCO/<cat>`` as LOCO, ``VisA/<cat>/{train,test}/
{good,bad}`` with ``ground_truth/bad`` (spot-diff's 1cls layout) and ``GoodsAD/<cat>`` in MVTec AD's layout (drawn
with MVTec AD objects under GoodsAD's names). Every test image gets questions of all eight MMAD types whose answers
follow from how it was drawn (detection, defect type, the defect's quadrant, the object); ``mask_path`` is relative
to ``<folder>/<category>/``; templates are training images of the same category. Same seed, same bytes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import numpy as np
from PIL import Image

from data_prep.mmad_facts import GOODSAD_DEFECTS
from data_prep.prompts import object_name
from data_prep.readers import read_dataset
from synthetic.datasets import MANIFEST_NAME, write_mvtec_ad, write_mvtec_loco, write_visa

GENERATOR: Final = "iad-reasoner synthetic.mmad"
# GoodsAD's six categories and the MVTec AD object each is drawn as (a fixture, not a look-alike).
GOODSAD_AS_MVTEC_AD: Final = MappingProxyType(
    {
        "cigarette_box": "metal_nut",
        "drink_bottle": "bottle",
        "drink_can": "capsule",
        "food_bottle": "pill",
        "food_box": "transistor",
        "food_package": "hazelnut",
    }
)
DEFAULT_CATEGORIES: Final = MappingProxyType(
    {"DS-MVTec": ("bottle",), "MVTec-LOCO": ("pushpins",), "VisA": ("candle",), "GoodsAD": ("drink_can",)}
)
QUADRANTS: Final = ("top left", "top right", "bottom left", "bottom right")


@dataclass(frozen=True)
class MMADImage:
    """One test image as MMAD lists it."""

    path: str  # relative to the MMAD root
    folder: str
    category: str
    defect: str  # "good" for normal images
    mask: str  # relative to <folder>/<category>/, "" for normal images
    templates: tuple[str, ...]


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def _lay_out_mvtec_ad(source: Path, root: Path, categories: Sequence[str], n_templates: int) -> list[MMADImage]:
    """MVTec-AD/ (templates) and DS-MVTec/ (its test images with masks in Defect Spectrum's layout)."""
    shutil.copytree(source, root / "MVTec-AD", ignore=shutil.ignore_patterns(MANIFEST_NAME))
    table = read_dataset("mvtec_ad", source, list(categories))
    images = []
    for sample in table[table["split"] == "test"].itertuples(index=False):
        category, defect, name = sample.category, sample.defect_type, Path(sample.image).name
        path = f"DS-MVTec/{category}/image/{defect}/{name}"
        _copy(source / sample.image, root / path)
        mask = ""
        if sample.masks:
            mask = f"mask/{defect}/{Path(name).stem}_mask.png"
            _copy(source / sample.masks[0], root / f"DS-MVTec/{category}/{mask}")
        goods = table[(table["category"] == category) & (table["split"] == "train")]["image"].tolist()
        templates = tuple(f"MVTec-AD/{image}" for image in goods[:n_templates])
        images.append(MMADImage(path, "DS-MVTec", category, defect, mask, templates))
    return images


def _lay_out_loco(source: Path, root: Path, categories: Sequence[str], n_templates: int) -> list[MMADImage]:
    """MVTec-LOCO/ in its own layout: the tree as is, masks relative to the category, the class folder as defect."""
    shutil.copytree(source, root / "MVTec-LOCO", ignore=shutil.ignore_patterns(MANIFEST_NAME))
    table = read_dataset("mvtec_loco", source, list(categories))
    images = []
    for sample in table[table["split"] == "test"].itertuples(index=False):
        goods = table[(table["category"] == sample.category) & (table["split"] == "train")]["image"].tolist()
        mask = str(Path(*Path(sample.masks[0]).parts[1:])) if sample.masks else ""
        templates = tuple(f"MVTec-LOCO/{image}" for image in goods[:n_templates])
        defect = Path(sample.image).parts[-2]
        images.append(MMADImage(f"MVTec-LOCO/{sample.image}", "MVTec-LOCO", sample.category, defect, mask, templates))
    return images


def _lay_out_visa(source: Path, root: Path, categories: Sequence[str], n_templates: int) -> list[MMADImage]:
    """VisA/ in spot-diff's 1cls layout: train/good, test/{good,bad}, ground_truth/bad (original file names)."""
    table = read_dataset("visa", source, list(categories))
    images = []
    for sample in table.itertuples(index=False):
        name = Path(sample.image).name
        kind = "good" if sample.label == "normal" else "bad"
        path = f"VisA/{sample.category}/{sample.split}/{kind}/{name}"
        _copy(source / sample.image, root / path)
        if sample.split != "test":
            continue
        mask = ""
        if sample.masks:
            mask = f"ground_truth/bad/{Path(sample.masks[0]).name}"
            _copy(source / sample.masks[0], root / f"VisA/{sample.category}/{mask}")
        goods = table[(table["category"] == sample.category) & (table["split"] == "train")]["image"].tolist()
        templates = tuple(f"VisA/{sample.category}/train/good/{Path(image).name}" for image in goods[:n_templates])
        images.append(MMADImage(path, "VisA", sample.category, sample.defect_type, mask, templates))
    return images


def _lay_out_goodsad(source: Path, root: Path, categories: Sequence[str], n_templates: int) -> list[MMADImage]:
    """GoodsAD/ in MVTec AD's layout, each category drawn as its MVTec AD stand-in."""
    stand_in = {GOODSAD_AS_MVTEC_AD[category]: category for category in categories}
    table = read_dataset("mvtec_ad", source, list(stand_in))
    images = []
    for sample in table.itertuples(index=False):
        category = stand_in[sample.category]
        parts = list(Path(sample.image).parts[1:])
        if sample.label == "anomalous":  # the stand-in's defect folder, renamed to one of GoodsAD's
            stand_in_defects = sorted(table[table["category"] == sample.category]["defect_type"].unique())
            defect = GOODSAD_DEFECTS[category][
                stand_in_defects.index(sample.defect_type) % len(GOODSAD_DEFECTS[category])
            ]
            parts[1] = defect
        else:
            defect = sample.defect_type
        relative = Path(category, *parts)
        _copy(source / sample.image, root / "GoodsAD" / relative)
        if sample.split != "test":
            continue
        mask = ""
        if sample.masks:
            mask = f"ground_truth/{defect}/{Path(sample.masks[0]).name}"
            _copy(source / sample.masks[0], root / "GoodsAD" / category / mask)
        goods = table[(table["category"] == sample.category) & (table["split"] == "train")]["image"].tolist()
        templates = tuple(f"GoodsAD/{category}/{Path(*Path(image).parts[1:])}" for image in goods[:n_templates])
        images.append(MMADImage(f"GoodsAD/{relative}", "GoodsAD", category, defect, mask, templates))
    return images


def _quadrant(mask_file: Path) -> str:
    mask = np.asarray(Image.open(mask_file).convert("L")) > 0
    ys, xs = np.nonzero(mask)
    height, width = mask.shape
    return QUADRANTS[2 * int(ys.mean() >= height / 2) + int(xs.mean() >= width / 2)]


def _choice(rng: np.random.Generator, right: str, others: Sequence[str], n: int) -> tuple[dict[str, str], str]:
    """Options A.. holding ``right`` and up to ``n - 1`` of ``others`` in a seeded order, and the right letter."""
    wrong = [o for o in dict.fromkeys(others) if o != right]
    picked = [right, *(rng.permutation(wrong)[: n - 1] if wrong else [])]
    order = rng.permutation(len(picked))
    texts = [str(picked[i]) for i in order]
    return {chr(65 + i): text for i, text in enumerate(texts)}, chr(65 + texts.index(right))


def _conversation(
    image: MMADImage, root: Path, defects: Sequence[str], objects: Sequence[str], rng: np.random.Generator
):
    """Questions of all eight types (four for a normal image), answers from how the image was drawn."""
    thing = object_name(image.category)
    normal = image.defect == "good"

    def question(text: str, task: str, right: str, others: Sequence[str], n: int = 4) -> dict[str, Any]:
        options, answer = _choice(rng, right, others, n)
        return {"Question": text, "Answer": answer, "Options": options, "type": task}

    conversation = [
        {
            "Question": "Is there any defect in the object?",
            "Answer": "B" if normal else "A",
            "Options": {"A": "Yes.", "B": "No."},
            "type": "Anomaly Detection",
        }
    ]
    if not normal:
        where = _quadrant(root / image.folder / image.category / image.mask)
        words = image.defect.replace("_", " ")
        conversation += [
            question("What type of defect is present?", "Defect Classification", words,
                     [d.replace("_", " ") for d in defects]),
            question("Where is the defect?", "Defect Localization", f"At the {where}.",
                     [f"At the {q}." for q in QUADRANTS]),
            question("What does the defect look like?", "Defect Description", f"A {words} on the {thing}.",
                     [f"A {d.replace('_', ' ')} on the {thing}." for d in defects]),
            question("What is the effect of the defect?", "Defect Analysis", f"The {thing} is unusable.",
                     ["It has no effect.", "It only changes the colour.", "It makes the object heavier."]),
        ]  # fmt: skip
    conversation += [
        question("What kind of product is in the image?", "Object Classification", thing,
                 [object_name(o) for o in objects]),
        question(f"What is the shape of the {thing}?", "Object Structure", f"The usual shape of a {thing}.",
                 ["A flat square sheet.", "A long thin rod.", "A hollow sphere."]),
        question(f"What is on the surface of the {thing}?", "Object Details", f"The usual surface of a {thing}.",
                 ["Printed text.", "A barcode.", "Nothing at all."]),
    ]  # fmt: skip
    return conversation


def _knowledge(images: Sequence[MMADImage]) -> dict[str, dict[str, dict[str, str]]]:
    knowledge: dict[str, dict[str, dict[str, str]]] = {}
    for image in images:
        key = "MVTec" if image.folder == "DS-MVTec" else image.folder
        entry = knowledge.setdefault(key, {}).setdefault(image.category, {})
        title = image.defect.replace("_", " ").title()
        entry.setdefault(image.defect, f" <{title}>\n Description: synthetic {image.defect} on a {image.category}.")
    return knowledge


def write_mmad(
    root: str | Path,
    *,
    categories: Mapping[str, Sequence[str]] = DEFAULT_CATEGORIES,
    n_templates: int = 2,
    size: int = 64,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write a synthetic MMAD root at ``root`` (see the module doc); nothing appears there unless all of it does."""
    root = Path(root)
    if root.exists() and any(root.iterdir()) and not overwrite:
        raise FileExistsError(f"{root} is not empty; pass overwrite=True (--overwrite) to replace it")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.", suffix=".partial", dir=root.parent))
    try:
        sources = staging / ".sources"
        common = {"size": size, "seed": seed}
        ad_categories = list(categories["DS-MVTec"])
        goods_stand_ins = [GOODSAD_AS_MVTEC_AD[c] for c in categories["GoodsAD"]]
        write_mvtec_ad(sources / "ad", ad_categories, n_train=n_templates, n_test_good=2, n_test_per_defect=1, **common)
        write_mvtec_ad(sources / "goods", goods_stand_ins, n_train=n_templates, n_test_good=2, n_test_per_defect=1,
                       **common)  # fmt: skip
        write_mvtec_loco(sources / "loco", list(categories["MVTec-LOCO"]), **common)
        write_visa(sources / "visa", list(categories["VisA"]), n_normal=n_templates + 4, n_anomaly=3, **common)
        images = [
            *_lay_out_mvtec_ad(sources / "ad", staging, ad_categories, n_templates),
            *_lay_out_loco(sources / "loco", staging, categories["MVTec-LOCO"], n_templates),
            *_lay_out_visa(sources / "visa", staging, categories["VisA"], n_templates),
            *_lay_out_goodsad(sources / "goods", staging, categories["GoodsAD"], n_templates),
        ]
        shutil.rmtree(sources)
        rng = np.random.default_rng(seed)
        objects = sorted({image.category for image in images})
        annotations = {}
        for image in images:
            defects = sorted({i.defect for i in images if i.category == image.category and i.defect != "good"})
            annotations[image.path] = {
                "conversation": _conversation(image, staging, defects, objects, rng),
                "mask_path": image.mask,
                "similar_templates": list(image.templates),
                "random_templates": list(reversed(image.templates)),
            }
        (staging / "mmad.json").write_text(json.dumps(annotations, indent=1) + "\n")
        (staging / "domain_knowledge.json").write_text(json.dumps(_knowledge(images), indent=1, sort_keys=True) + "\n")
        files = sorted(p for p in staging.rglob("*") if p.is_file())
        manifest = {
            "generator": GENERATOR,
            "seed": seed,
            "parameters": {"categories": {k: list(v) for k, v in categories.items()}, "n_templates": n_templates,
                           "size": size},
            "n_questions": sum(len(v["conversation"]) for v in annotations.values()),
            "files": [
                {"path": str(p.relative_to(staging)), "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
                for p in files
            ],
        }  # fmt: skip
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")
        if root.exists():
            shutil.rmtree(root)
        staging.rename(root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return root
