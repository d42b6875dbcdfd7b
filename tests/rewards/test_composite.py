"""The papers' composites: named sub-scores, weights from config, and the same keys for every composite."""

from __future__ import annotations

import pytest

from rewards.composite import SUBSCORE_KEYS, compute_score

GOOD = "<think>The query has one pin fewer than the reference.</think><answer>C</answer>"


def test_lad_reasoner_is_format_plus_accuracy() -> None:
    scores = compute_score("pair-binary", "<think>two oranges, not three</think><answer>yes</answer>", "yes")
    assert (scores["score"], scores["format"], scores["acc"]) == (2.0, 1.0, 1.0)
    assert scores["think_words"] == 4.0


def test_accuracy_needs_format_unless_configured() -> None:
    sloppy = "I think yes. <answer>yes</answer>"
    assert compute_score("pair-binary", sloppy, "yes")["acc"] == 0.0
    lenient = compute_score("pair-binary", sloppy, "yes", require_format=False)
    assert (lenient["acc"], lenient["format"], lenient["score"]) == (1.0, 0.0, 1.0)


def test_lr_iad_focal_uses_group_share() -> None:
    response = "<think>a crack on the rim</think><answer>A</answer>"
    scores = compute_score("single-ab", response, "A", {"focal_p": 0.25})
    assert scores["focal"] == pytest.approx(0.75**2)
    assert scores["score"] == pytest.approx(1.0 + 0.75**2)
    assert compute_score("single-ab", response, "B", {"focal_p": 0.25})["focal"] == 0.0


def test_lr_iad_without_group_share_says_which_manager_to_use() -> None:
    with pytest.raises(ValueError, match="reward_manager.name=iad_group"):
        compute_score("single-ab", GOOD, "A")


def test_weights_come_from_config() -> None:
    scores = compute_score("pair3c", GOOD, "C", composite="fad_tq_no_judge", weights={"format": 0.5, "accuracy": 2})
    assert scores["score"] == 2.5
    with pytest.raises(ValueError, match="unknown reward weights \\['fromat'\\]"):
        compute_score("pair3c", GOOD, "C", composite="fad_tq_no_judge", weights={"fromat": 1})


@pytest.mark.parametrize(
    ("data_source", "composite", "extra"),
    [("pair-binary", None, {}), ("single-ab", None, {"focal_p": 0.5}), ("pair3c", "fad_tq_no_judge", {})],
)
def test_every_composite_returns_the_same_keys(data_source: str, composite: str | None, extra: dict) -> None:
    assert tuple(compute_score(data_source, GOOD, "A", extra, composite=composite)) == SUBSCORE_KEYS


def test_judge_composite_is_async_only() -> None:
    with pytest.raises(ValueError, match="compute_score_async"):
        compute_score("pair3c", GOOD, "C")


def test_unknown_data_source_names_the_protocols() -> None:
    with pytest.raises(ValueError, match="pair-binary, single-ab, pair3c"):
        compute_score("gsm8k", GOOD, "C")
