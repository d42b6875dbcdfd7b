"""Which images go into which rows: the three papers' protocols as pure functions of the sample tables.

Input: DataFrames from ``data_prep.readers`` (one row per image). Output: ``RowPlan`` lists for the train and
test files. Nothing here reads pixels, so protocols are cheap to test on large synthetic tables.

- pair-binary (LAD-Reasoner): train queries are the test images of chosen MVTec AD / VisA categories, with
  references from the same category's train/good; test queries are MVTec LOCO's test images, with references
  from LOCO train/good.
- single-ab (LR-IAD): one image, no reference; train on all images of one dataset, test on the other's.
- pair3c (FAD-TQ): per LOCO category and class, a seeded sample of ``train_per_class`` official test images
  for training (references from train/good), the rest for testing (references from validation/good).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import pandas as pd

from data_prep.prompts import PAIR3C, PAIR_BINARY, SINGLE_AB, sample_class
from data_prep.sampling import choose_references, sample_without_replacement

SPLITS: Final = ("train", "test")

# LAD-Reasoner trains on "several MVTec classes that exhibit subtle, context-dependent anomalies resembling
# logical inconsistencies" (number, colour, existence, function) without naming them. Ours: the categories whose
# defect types are of that kind (cable_swap, missing_*, color, flip, pill_type, misplaced; VisA's missing parts).
PAIR_BINARY_DEFAULT_CATEGORIES: Final = {
    "mvtec_ad": ("cable", "metal_nut", "pill", "transistor"),
    "visa": ("capsules", "pcb4"),
}
PAIR3C_TRAIN_PER_CLASS: Final = 40
SINGLE_AB_PAIRS: Final = {"visa": "mvtec_ad", "mvtec_ad": "visa"}


class ProtocolError(ValueError):
    """The datasets cannot make this protocol's rows (too few images to sample, wrong dataset)."""


@dataclass(frozen=True)
class Question:
    """A row's own question (MMAD): the user turn's text, the right option's key, every option, the task."""

    prompt: str
    answer: str
    options: tuple[tuple[str, str], ...]
    task: str
    question_id: str


@dataclass(frozen=True)
class RowPlan:
    """One output row before any pixel is read: which query, which references, which answer class."""

    split: str
    dataset: str
    category: str
    query: str
    references: tuple[str, ...]
    label: str
    sample_class: str
    defect_type: str
    anomaly_kind: str | None
    masks: tuple[str, ...]
    # A row with a question of its own (MMAD): the prompt, the answer key and the options it shows, its task and id.
    # None for the papers' protocols, whose prompt and options come from data_prep.prompts.PROMPTS.
    question: Question | None = None

    def images(self) -> tuple[str, ...]:
        """Image paths in the order of the prompt's placeholders: references first, query last."""
        return (*self.references, self.query)


def _normal_pool(samples: pd.DataFrame, dataset: str, category: str, split: str) -> list[str]:
    rows = samples[
        (samples["dataset"] == dataset)
        & (samples["category"] == category)
        & (samples["split"] == split)
        & (samples["label"] == "normal")
    ]
    return rows["image"].tolist()


def _plans(
    protocol: str,
    split: str,
    queries: pd.DataFrame,
    reference_samples: pd.DataFrame | None,
    reference_split: str | None,
    *,
    k: int,
    sampling: str,
    seed: int,
) -> list[RowPlan]:
    plans = []
    pools: dict[tuple[str, str], list[str]] = {}
    for row in queries.itertuples(index=False):
        references: list[str] = []
        if k:
            pool_key = (row.dataset, row.category)
            if pool_key not in pools:
                pools[pool_key] = _normal_pool(reference_samples, row.dataset, row.category, reference_split)
            pool = pools[pool_key]
            if len(pool) < k:
                raise ProtocolError(
                    f"{row.dataset}/{row.category} has {len(pool)} normal {reference_split} images, "
                    f"fewer than the {k} references asked for (--references)"
                )
            references = choose_references(
                pool,
                k,
                sampling=sampling,
                query_key=f"{protocol}/{split}/{row.dataset}/{row.image}",
                group_key=f"{protocol}/{split}/{row.dataset}/{row.category}",
                seed=seed,
            )
        plans.append(
            RowPlan(
                split=split,
                dataset=row.dataset,
                category=row.category,
                query=row.image,
                references=tuple(references),
                label=row.label,
                sample_class=sample_class(protocol, row.label, row.anomaly_kind),
                defect_type=row.defect_type,
                anomaly_kind=row.anomaly_kind,
                masks=tuple(row.masks),
            )
        )
    return plans


def _only(
    samples: pd.DataFrame, *, datasets: Iterable[str] | None = None, splits: Iterable[str] | None = None
) -> pd.DataFrame:
    mask = pd.Series(True, index=samples.index)
    if datasets is not None:
        mask &= samples["dataset"].isin(list(datasets))
    if splits is not None:
        mask &= samples["split"].isin(list(splits))
    return samples[mask]


def plan_pair_binary(
    train_samples: pd.DataFrame, loco_samples: pd.DataFrame, *, k: int = 1, sampling: str = "random", seed: int = 0
) -> dict[str, list[RowPlan]]:
    """LAD-Reasoner: MVTec AD / VisA test images as training queries; MVTec LOCO test as the test set."""
    if k < 1:
        raise ProtocolError("pair-binary compares a query with references: --references must be at least 1")
    unknown = set(train_samples["dataset"]) - {"mvtec_ad", "visa"}
    if unknown:
        raise ProtocolError(f"pair-binary trains on MVTec AD and VisA only, got {sorted(unknown)}")
    if set(loco_samples["dataset"]) != {"mvtec_loco"}:
        raise ProtocolError("pair-binary tests on MVTec LOCO AD: pass its root as --root mvtec_loco=PATH")
    train = _plans(
        PAIR_BINARY,
        "train",
        _only(train_samples, splits=["test"]),
        train_samples,
        "train",
        k=k,
        sampling=sampling,
        seed=seed,
    )
    test = _plans(
        PAIR_BINARY,
        "test",
        _only(loco_samples, splits=["test"]),
        loco_samples,
        "train",
        k=k,
        sampling=sampling,
        seed=seed,
    )
    return {"train": train, "test": test}


def plan_single_ab(
    train_samples: pd.DataFrame, test_samples: pd.DataFrame, *, test_splits: Sequence[str] = ("train", "test")
) -> dict[str, list[RowPlan]]:
    """LR-IAD: every image of one dataset for training, the other dataset's images (``test_splits``) for testing."""
    for name, frame in (("train", train_samples), ("test", test_samples)):
        if frame["dataset"].nunique() != 1:
            raise ProtocolError(f"single-ab takes one dataset for {name}, got {sorted(frame['dataset'].unique())}")
    if train_samples["dataset"].iloc[0] == test_samples["dataset"].iloc[0]:
        raise ProtocolError("single-ab is cross-dataset: train and test must be different datasets")
    train = _plans(SINGLE_AB, "train", train_samples, None, None, k=0, sampling="random", seed=0)
    test = _plans(
        SINGLE_AB, "test", _only(test_samples, splits=test_splits), None, None, k=0, sampling="random", seed=0
    )
    return {"train": train, "test": test}


def split_pair3c(
    loco_samples: pd.DataFrame, *, train_per_class: int = PAIR3C_TRAIN_PER_CLASS, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """FAD-TQ's stratified split of LOCO's official test images: ``train_per_class`` per category and class."""
    test_images = _only(loco_samples, splits=["test"])
    chosen: set[str] = set()
    for (category, defect_type), group in test_images.groupby(["category", "defect_type"], sort=True):
        if len(group) < train_per_class:
            raise ProtocolError(
                f"mvtec_loco/{category}/test/{defect_type} has {len(group)} images, fewer than the "
                f"{train_per_class} to sample for training (--train-per-class)"
            )
        chosen.update(
            sample_without_replacement(
                group["image"].tolist(), train_per_class, f"pair3c/{category}/{defect_type}", seed
            )
        )
    in_train = test_images["image"].isin(chosen)
    return test_images[in_train], test_images[~in_train]


def plan_pair3c(
    loco_samples: pd.DataFrame,
    *,
    train_per_class: int = PAIR3C_TRAIN_PER_CLASS,
    k: int = 1,
    sampling: str = "random",
    seed: int = 0,
) -> dict[str, list[RowPlan]]:
    """FAD-TQ: three-way good / structural / logical pairs; train references from train/good, test from validation."""
    if k < 1:
        raise ProtocolError("pair3c compares a query with references: --references must be at least 1")
    if set(loco_samples["dataset"]) != {"mvtec_loco"}:
        raise ProtocolError("pair3c is built from MVTec LOCO AD only")
    train_queries, test_queries = split_pair3c(loco_samples, train_per_class=train_per_class, seed=seed)
    return {
        "train": _plans(PAIR3C, "train", train_queries, loco_samples, "train", k=k, sampling=sampling, seed=seed),
        "test": _plans(PAIR3C, "test", test_queries, loco_samples, "validation", k=k, sampling=sampling, seed=seed),
    }


def check_disjoint(plans: dict[str, list[RowPlan]]) -> None:
    """No test query may appear in any training row, as query or reference."""
    seen_in_train = {(plan.dataset, image) for plan in plans["train"] for image in plan.images()}
    leaked = sorted({(plan.dataset, plan.query) for plan in plans["test"]} & seen_in_train)
    if leaked:
        examples = ", ".join(f"{dataset}/{image}" for dataset, image in leaked[:5])
        raise ProtocolError(f"{len(leaked)} test queries also appear in training rows, e.g. {examples}")
