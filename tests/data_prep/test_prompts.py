"""Prompt texts and answer vocabularies: the single source of truth the rewards and evaluator import."""

from __future__ import annotations

import pytest

from data_prep.prompts import (
    IMAGE_PLACEHOLDER,
    PAIR3C,
    PAIR_BINARY,
    PROMPTS,
    SINGLE_AB,
    object_name,
    render_prompt,
    sample_class,
)


@pytest.mark.parametrize("protocol", list(PROMPTS))
@pytest.mark.parametrize("references", [0, 1, 3])
def test_one_placeholder_per_image(protocol: str, references: int) -> None:
    assert render_prompt(protocol, "pushpins", references).count(IMAGE_PLACEHOLDER) == references + 1


def test_query_comes_after_references() -> None:
    text = render_prompt(PAIR3C, "pushpins", 2)
    assert text.index("Reference image 1") < text.index("Reference image 2") < text.index("Query image")


def test_lr_iad_prompt_is_the_papers() -> None:
    text = render_prompt(SINGLE_AB, "metal_nut", 0)
    assert "This is an image containing a metal nut. Analyze the given image" in text
    assert "Options: (A) defect (B) normal." in text
    assert "<think></think> <answer>A or B</answer>\nPlease strictly follow the format." in text


def test_lad_reasoner_prompt_is_the_papers() -> None:
    text = render_prompt(PAIR_BINARY, "screw_bag", 1)
    assert "Can you find any anomaly in the query image compared to the reference?" in text
    assert "<think> think process </think><answer> yes or no </answer>" in text


def test_pair3c_offers_three_lettered_options() -> None:
    spec = PROMPTS[PAIR3C]
    assert spec.answer_keys == ("A", "B", "C")
    assert "Options: (A) good (B) structural anomaly (C) logical anomaly." in render_prompt(PAIR3C, "pushpins", 1)


@pytest.mark.parametrize(
    ("protocol", "label", "kind", "answer"),
    [
        (PAIR_BINARY, "anomalous", "logical", "yes"),
        (PAIR_BINARY, "normal", None, "no"),
        (SINGLE_AB, "anomalous", None, "A"),
        (SINGLE_AB, "normal", None, "B"),
        (PAIR3C, "normal", None, "A"),
        (PAIR3C, "anomalous", "structural", "B"),
        (PAIR3C, "anomalous", "logical", "C"),
    ],
)
def test_ground_truth_per_class(protocol: str, label: str, kind: str | None, answer: str) -> None:
    assert PROMPTS[protocol].option_for_class(sample_class(protocol, label, kind)).key == answer


def test_pair3c_needs_an_anomaly_kind() -> None:
    with pytest.raises(ValueError, match="anomaly kind"):
        sample_class(PAIR3C, "anomalous", None)


@pytest.mark.parametrize(
    ("category", "name"), [("metal_nut", "metal nut"), ("pcb3", "pcb"), ("splicing_connectors", "splicing connectors")]
)
def test_object_names(category: str, name: str) -> None:
    assert object_name(category) == name
