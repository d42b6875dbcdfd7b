"""The three protocols as row plans, on synthetic sample tables read from the real layouts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from data_prep.protocols import (
    ProtocolError,
    check_disjoint,
    plan_pair3c,
    plan_pair_binary,
    plan_single_ab,
)
from data_prep.readers import read_mvtec_ad, read_mvtec_loco, read_visa

# FAD-TQ, Table 1: test images per category (good, structural, logical); training is 40 of each.
FAD_TQ_TABLE_1_TEST = {
    "breakfast_box": (62, 50, 43),
    "juice_bottle": (54, 54, 102),
    "pushpins": (98, 41, 51),
    "screw_bag": (82, 42, 97),
    "splicing_connectors": (79, 45, 68),
}


def _counts(plans) -> Counter:
    return Counter((plan.category, plan.sample_class) for plan in plans)


def test_pair3c_reproduces_fad_tq_table_1(loco_real_counts: Path) -> None:
    plans = plan_pair3c(read_mvtec_loco(loco_real_counts), seed=0)
    assert len(plans["train"]) == 600 and len(plans["test"]) == 968
    train, test = _counts(plans["train"]), _counts(plans["test"])
    for category, (good, structural, logical) in FAD_TQ_TABLE_1_TEST.items():
        assert [train[(category, c)] for c in ("normal", "structural", "logical")] == [40, 40, 40]
        assert [test[(category, c)] for c in ("normal", "structural", "logical")] == [good, structural, logical]


def test_pair3c_references_come_from_the_official_normal_splits(loco_real_counts: Path) -> None:
    plans = plan_pair3c(read_mvtec_loco(loco_real_counts, ["pushpins"]), seed=0)
    assert all(ref.split("/")[1:3] == ["train", "good"] for plan in plans["train"] for ref in plan.references)
    assert all(ref.split("/")[1:3] == ["validation", "good"] for plan in plans["test"] for ref in plan.references)
    assert all(plan.query.split("/")[1] == "test" for split in plans.values() for plan in split)


def test_pair3c_train_and_test_are_disjoint(loco_real_counts: Path) -> None:
    plans = plan_pair3c(read_mvtec_loco(loco_real_counts, ["screw_bag"]), seed=3)
    assert not {p.query for p in plans["train"]} & {p.query for p in plans["test"]}
    check_disjoint(plans)


def test_pair3c_seed_changes_the_training_sample(loco_real_counts: Path) -> None:
    samples = read_mvtec_loco(loco_real_counts, ["pushpins"])
    first = {p.query for p in plan_pair3c(samples, seed=0)["train"]}
    assert first == {p.query for p in plan_pair3c(samples, seed=0)["train"]}
    assert first != {p.query for p in plan_pair3c(samples, seed=1)["train"]}


def test_pair3c_too_few_images_names_the_class(small_roots: dict[str, Path]) -> None:
    with pytest.raises(ProtocolError, match=r"mvtec_loco/juice_bottle/test/good has \d+ images, fewer than the 40"):
        plan_pair3c(read_mvtec_loco(small_roots["mvtec_loco"]))


def test_k_shot_references_are_distinct_normals(loco_real_counts: Path) -> None:
    plans = plan_pair3c(read_mvtec_loco(loco_real_counts, ["pushpins"]), k=3)
    for plan in plans["train"]:
        assert len(set(plan.references)) == 3
        assert plan.images()[-1] == plan.query


def test_fixed_reference_sampling_is_one_set_per_category(loco_real_counts: Path) -> None:
    plans = plan_pair3c(read_mvtec_loco(loco_real_counts, ["pushpins"]), sampling="fixed")
    assert len({plan.references for plan in plans["test"]}) == 1


def test_pair_binary_trains_on_test_images_and_tests_on_loco(small_roots: dict[str, Path]) -> None:
    train = read_mvtec_ad(small_roots["mvtec_ad"], ["cable"])
    plans = plan_pair_binary(train, read_mvtec_loco(small_roots["mvtec_loco"]))
    assert len(plans["train"]) == int((train["split"] == "test").sum())
    assert {plan.sample_class for plan in plans["train"]} == {"normal", "anomalous"}
    assert all("/train/good/" in ref for split in plans.values() for plan in split for ref in plan.references)
    assert {plan.dataset for plan in plans["test"]} == {"mvtec_loco"}


def test_pair_binary_refuses_zero_references(small_roots: dict[str, Path]) -> None:
    with pytest.raises(ProtocolError, match="at least 1"):
        plan_pair_binary(read_mvtec_ad(small_roots["mvtec_ad"]), read_mvtec_loco(small_roots["mvtec_loco"]), k=0)


def test_single_ab_is_cross_dataset_without_references(small_roots: dict[str, Path]) -> None:
    visa, mvtec = read_visa(small_roots["visa"]), read_mvtec_ad(small_roots["mvtec_ad"])
    plans = plan_single_ab(visa, mvtec)
    assert len(plans["train"]) == len(visa) and len(plans["test"]) == len(mvtec)
    assert all(plan.references == () for split in plans.values() for plan in split)
    with pytest.raises(ProtocolError, match="cross-dataset"):
        plan_single_ab(visa, visa)


def test_single_ab_can_test_on_the_official_test_split_only(small_roots: dict[str, Path]) -> None:
    mvtec = read_mvtec_ad(small_roots["mvtec_ad"])
    plans = plan_single_ab(read_visa(small_roots["visa"]), mvtec, test_splits=("test",))
    assert len(plans["test"]) == int((mvtec["split"] == "test").sum())


def test_leak_between_train_and_test_is_an_error(loco_real_counts: Path) -> None:
    plans = plan_pair3c(read_mvtec_loco(loco_real_counts, ["pushpins"]))
    plans["test"].append(plans["train"][0])
    with pytest.raises(ProtocolError, match="1 test queries also appear in training rows"):
        check_disjoint(plans)
