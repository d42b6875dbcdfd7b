"""MMAD as a protocol: one row per question of ``mmad.json``, asked as MMAD's official scripts ask it.

The MMAD root (``--root mmad=PATH``) holds ``mmad.json``, optionally ``domain_knowledge.json``, and the images in
their datasets' own layouts under ``DS-MVTec/``, ``MVTec-AD/``, ``MVTec-LOCO/``, ``VisA/`` and ``GoodsAD/``; every
path in the JSON is relative to the root. Each image's questions become rows in the file's order, with the first
``--references K`` of its ``random_templates`` (the official default) or ``similar_templates`` as normal references,
options in the file's order re-lettered A, B, ... as the official script does (the identity for MMAD's own
letters), and the right letter as ground truth. ``--tasks`` keeps some question types; ``--holdout-categories``
makes a product-held-out split (those categories' questions are the test file, the others the training file);
without it, every question is a test row.

Checked before anything is written, each with the path and the fix: a missing image or template, a path outside
the root or outside MMAD's folders, an answer that is not one of its options, an unknown question type, fewer
templates than ``--references``, an image whose templates include itself.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

from data_prep.leakage import image_uses, name_key
from data_prep.mmad_facts import DOMAIN_KNOWLEDGE_KEY, FOLDERS, NORMAL_FLAG, TASKS, TEMPLATE_KINDS
from data_prep.prompts import MMAD, render_mmad_prompt
from data_prep.protocols import SPLITS, ProtocolError, Question, RowPlan

ROOT_KEY: Final = "mmad"  # --root mmad=PATH; RowPlan.dataset of every row, so images load relative to the root
ANNOTATIONS: Final = "mmad.json"
DOMAIN_KNOWLEDGE: Final = "domain_knowledge.json"


class MMADError(ProtocolError):
    """mmad.json or the tree beside it is not what MMAD ships; the message names the entry and the fix."""


@dataclass(frozen=True)
class MMADOptions:
    """The MMAD protocol's choices (``iad-data build --protocol mmad``)."""

    references: int = 1
    templates: str = "random"
    tasks: tuple[str, ...] | None = None
    categories: tuple[str, ...] | None = None  # <folder>/<category> or <category>: which images to ask about
    holdout_categories: tuple[str, ...] | None = None
    domain_knowledge: bool = False
    prompt_style: str = "r1"
    allow_overlap: bool = False
    against: tuple[str, ...] = ()  # evaluation parquet files whose images training rows may not show
    grounding: bool = False  # ask for the defect's box too (set from iad-data build --grounding)


def _load_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise MMADError(f"no {what} at {path}: MMAD's root holds {ANNOTATIONS} (and domain_knowledge.json)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise MMADError(f"{path} is not valid JSON: {error}") from error


def _checked_path(root: Path, path: Any, where: str) -> str:
    """A path inside the root, under one of MMAD's folders, naming a file that exists."""
    if not isinstance(path, str) or not path:
        raise MMADError(f"{where}: expected an image path relative to the MMAD root, got {path!r}")
    parts = PurePosixPath(path).parts
    if PurePosixPath(path).is_absolute() or ".." in parts or parts[0] not in FOLDERS:
        raise MMADError(f"{where}: {path!r} is outside the MMAD tree; paths start with one of {', '.join(FOLDERS)}/")
    if not (root / path).is_file():
        raise MMADError(f"{where}: {root / path} does not exist; download MMAD's images into {root}")
    return path


def _options(entry: Mapping[str, Any], where: str) -> tuple[tuple[tuple[str, str], ...], str]:
    """The options re-lettered A, B, ... in the file's order, and the right one's new letter."""
    options = entry.get("Options")
    if not isinstance(options, dict) or not 2 <= len(options) <= 5:
        raise MMADError(f"{where}: Options must map 2 to 5 letters to texts, got {options!r}")
    answer = entry.get("Answer")
    if answer not in options:
        raise MMADError(f"{where}: Answer {answer!r} is not one of its options {sorted(options)}")
    lettered = tuple((chr(65 + i), str(text)) for i, text in enumerate(options.values()))
    return lettered, chr(65 + list(options).index(answer))


def _mask_file(root: Path, image: str, mask_path: str) -> str:
    """mask_path relative to the root: MMAD gives it relative to <folder>/<category>/ (the readers of the real file
    resolve it so), or to the root; "" when there is none or it is not on disk (then the row has no boxes)."""
    if not mask_path:
        return ""
    folder, category = image.split("/")[:2]
    for candidate in (f"{folder}/{category}/{mask_path}", mask_path):
        if (root / candidate).is_file():
            return candidate
    return ""


def _domain_knowledge(knowledge: Mapping[str, Any] | None, image: str) -> str | None:
    """All of the object's entries joined by newlines, as the official script looks them up."""
    if knowledge is None:
        return None
    folder, category = image.split("/")[:2]
    entries = knowledge.get(DOMAIN_KNOWLEDGE_KEY.get(folder, folder), {}).get(category)
    if not entries:
        raise MMADError(f"{DOMAIN_KNOWLEDGE} has no entry for {folder}/{category} (needed by {image})")
    return "\n".join(entries.values())


def _selected(image: str, names: tuple[str, ...] | None) -> bool:
    folder, category = image.split("/")[:2]
    return names is None or category in names or f"{folder}/{category}" in names


def plan_mmad(root: Path, options: MMADOptions) -> dict[str, list[RowPlan]]:
    """Every row of the MMAD protocol, split as ``options`` says (see the module docstring)."""
    if options.templates not in TEMPLATE_KINDS:
        raise MMADError(f"unknown MMAD templates {options.templates!r}; valid: {', '.join(TEMPLATE_KINDS)}")
    if options.references < 0:
        raise MMADError(f"--references must be 0 or more for mmad, got {options.references}")
    unknown = sorted(set(options.tasks or ()) - set(TASKS))
    if unknown:
        raise MMADError(f"unknown MMAD tasks {unknown}; valid: {', '.join(TASKS)}")
    annotations = _load_json(root / ANNOTATIONS, "mmad.json")
    if not isinstance(annotations, dict):
        raise MMADError(f"{root / ANNOTATIONS}: expected one JSON object keyed by image path, got {type(annotations)}")
    knowledge = _load_json(root / DOMAIN_KNOWLEDGE, DOMAIN_KNOWLEDGE) if options.domain_knowledge else None
    plans: dict[str, list[RowPlan]] = {split: [] for split in SPLITS}
    masks_not_found = []
    for image, value in annotations.items():
        where = f"{ANNOTATIONS}[{image!r}]"
        _checked_path(root, image, where)
        if not _selected(image, options.categories):
            continue
        folder, category = image.split("/")[:2]
        split = (
            "test" if options.holdout_categories is None or _selected(image, options.holdout_categories) else "train"
        )
        templates = value.get(f"{options.templates}_templates") or []
        if len(templates) < options.references:
            raise MMADError(
                f"{where}: {len(templates)} {options.templates}_templates, fewer than --references {options.references}"
            )
        references = tuple(_checked_path(root, t, f"{where} template") for t in templates[: options.references])
        if image in references:
            raise MMADError(f"{where}: the image is among its own templates")
        mask = _mask_file(root, image, value.get("mask_path") or "")
        if value.get("mask_path") and not mask:
            masks_not_found.append(value["mask_path"])
        label = _label(image)
        for position, entry in enumerate(value.get("conversation") or []):
            entry_where = f"{where} question {position}"
            task = entry.get("type")
            if task not in TASKS:
                raise MMADError(f"{entry_where}: unknown type {task!r}; valid: {', '.join(TASKS)}")
            if options.tasks is not None and task not in options.tasks:
                continue
            lettered, answer = _options(entry, entry_where)
            prompt = render_mmad_prompt(
                str(entry.get("Question", "")),
                lettered,
                len(references),
                domain_knowledge=_domain_knowledge(knowledge, image),
                style=options.prompt_style,
                grounding=options.grounding,
            )
            plans[split].append(
                RowPlan(
                    split=split,
                    dataset=ROOT_KEY,
                    category=category,
                    query=image,
                    references=references,
                    label=label,
                    sample_class=label,
                    defect_type=image.split("/")[-2],
                    anomaly_kind=None,
                    masks=(mask,) if mask else (),
                    question=Question(prompt, answer, lettered, task, f"{image}#{position}"),
                )
            )
    if masks_not_found:
        warnings.warn(
            f"{len(masks_not_found)} mask_path entries of {ANNOTATIONS} are not on disk under <folder>/<category>/ "
            f"or the root (e.g. {masks_not_found[0]!r}): those rows have no mask_images",
            stacklevel=2,
        )
    if not any(plans.values()):
        raise MMADError(f"no MMAD question left in {root / ANNOTATIONS} after --tasks / --categories")
    if not options.allow_overlap:
        _refuse_overlap(plans)
        for evaluation in options.against:
            _refuse_evaluation_images(plans["train"], Path(evaluation))
    return plans


def _refuse_overlap(plans: Mapping[str, Sequence[RowPlan]]) -> None:
    """Training rows may not show an image (as query or template) that a test row asks about."""
    tested = {plan.query for plan in plans["test"]}
    shown = Counter(image for plan in plans["train"] for image in plan.images() if image in tested)
    if shown:
        examples = ", ".join(sorted(shown)[:3])
        raise MMADError(
            f"{len(shown)} images asked about in the test split also appear in training rows (e.g. {examples}): "
            "hold out whole categories with --holdout-categories, or pass --allow-overlap to build it anyway"
        )


def _refuse_evaluation_images(train: Sequence[RowPlan], evaluation: Path) -> None:
    """Training rows may not show an image that ``evaluation`` holds (matched by name: data_prep.leakage)."""
    if not evaluation.is_file():
        raise MMADError(f"--against {evaluation}: no such parquet file")
    held = {key for _, key, _ in image_uses(evaluation)}
    shown = sorted(
        {image for plan in train for image in plan.images() if name_key(MMAD, "", "", _label(image), image) in held}
    )
    if shown:
        raise MMADError(
            f"{len(shown)} images of the training rows are in {evaluation} (e.g. {', '.join(shown[:3])}): training "
            "on them and evaluating there leaks; hold out other categories, or pass --allow-overlap"
        )


def _label(image: str) -> str:
    return "normal" if NORMAL_FLAG in image else "anomalous"


__all__ = ["MMAD", "MMADError", "MMADOptions", "plan_mmad"]
