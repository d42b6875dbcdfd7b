"""Reading the option an answer names, on the vocabularies of ``data_prep.prompts``."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_prep.prompts import MMAD, PAIR3C, PAIR_BINARY, PROMPTS, SINGLE_AB
from rewards.answers import extract_choice

LETTERED = [protocol for protocol, spec in PROMPTS.items() if spec.lettered]
# Protocols whose options carry words of their own; MMAD's texts differ per row (extra_info.options), so its
# options are named by their letters alone.
WORDED = [protocol for protocol, spec in PROMPTS.items() if all(option.text for option in spec.options)]
OPTION_PAIRS = [
    (protocol, first, second)
    for protocol, spec in PROMPTS.items()
    for first, second in itertools.permutations(spec.options, 2)
]


@pytest.mark.parametrize(
    ("protocol", "text", "key"),
    [
        (SINGLE_AB, "A", "A"),
        (SINGLE_AB, " (A) ", "A"),
        (SINGLE_AB, "A.", "A"),
        (SINGLE_AB, "A)", "A"),
        (SINGLE_AB, "(a)", "A"),
        (SINGLE_AB, "a", "A"),
        (SINGLE_AB, "b.", "B"),
        (SINGLE_AB, "option A", "A"),
        (SINGLE_AB, "Option b", "B"),
        (SINGLE_AB, "A: defect", "A"),
        (SINGLE_AB, "(A) defect", "A"),
        (SINGLE_AB, "(B) normal", "B"),
        (SINGLE_AB, "DEFECT", "A"),
        (SINGLE_AB, "Normal.", "B"),
        (SINGLE_AB, "The answer is B.", "B"),
        (SINGLE_AB, "B, a normal part", "B"),
        (PAIR3C, "(A) good", "A"),
        (PAIR3C, "structural anomaly", "B"),
        (PAIR3C, "Structural", "B"),
        (PAIR3C, "logical", "C"),
        (PAIR3C, "(C) logical anomaly", "C"),
        (PAIR3C, "c)", "C"),
        (PAIR_BINARY, "yes.", "yes"),
        (PAIR_BINARY, "No", "no"),
        (PAIR_BINARY, " YES ", "yes"),
        (PAIR_BINARY, "Yes, there is an anomaly.", "yes"),
        (PAIR_BINARY, "No anomaly", "no"),
    ],
)
def test_accepted_forms(protocol: str, text: str, key: str) -> None:
    assert extract_choice(text, protocol) == key


@pytest.mark.parametrize(
    ("protocol", "text"),
    [
        (SINGLE_AB, "A or B"),
        (SINGLE_AB, "A and B"),
        (SINGLE_AB, "A B"),
        (SINGLE_AB, "A/B"),
        (SINGLE_AB, "(A) defect (B) normal"),
        (PAIR_BINARY, "yes/no"),
        (PAIR_BINARY, "Yes, no doubt"),
        (PAIR3C, "B or C"),
        (PAIR3C, "structural and logical anomaly"),
    ],
)
def test_naming_two_options_is_rejected(protocol: str, text: str) -> None:
    assert extract_choice(text, protocol) is None


@pytest.mark.parametrize(
    ("protocol", "text"),
    [(SINGLE_AB, "A: normal"), (SINGLE_AB, "a: normal"), (SINGLE_AB, "(B) defect"), (PAIR3C, "A: logical anomaly")],
)
def test_letter_with_another_options_words_is_rejected(protocol: str, text: str) -> None:
    assert extract_choice(text, protocol) is None


@pytest.mark.parametrize(
    ("protocol", "text"),
    [
        (SINGLE_AB, "maybe"),
        (SINGLE_AB, "BA"),
        (SINGLE_AB, "AB"),
        (SINGLE_AB, "A1"),
        (SINGLE_AB, "defective"),
        (SINGLE_AB, "abnormal"),
        (PAIR_BINARY, "nobody"),
        (PAIR_BINARY, "yesterday"),
        (PAIR3C, "illogical"),
    ],
)
def test_options_inside_words_are_not_matched(protocol: str, text: str) -> None:
    assert extract_choice(text, protocol) is None


@pytest.mark.parametrize(
    ("protocol", "text"),
    [
        (SINGLE_AB, "not a defect"),
        (SINGLE_AB, "defect-free"),
        (SINGLE_AB, "It isn't normal"),
        (SINGLE_AB, "B, no defect"),
        (PAIR3C, "not good"),
        (PAIR_BINARY, "not yes"),
    ],
)
def test_negated_answers_are_rejected(protocol: str, text: str) -> None:
    assert extract_choice(text, protocol) is None


@pytest.mark.parametrize(
    ("protocol", "text"),
    [
        (SINGLE_AB, "a defect or normal"),  # an unmarked lower-case "a" is the article, so two options remain
        (SINGLE_AB, "(a) or (b)"),
        (PAIR3C, "anomaly"),  # shared by B and C: names neither
        (PAIR3C, "A structural anomaly"),
        (SINGLE_AB, "C"),  # not an option of single-ab
        (PAIR_BINARY, "A"),  # letters mean nothing in pair-binary
    ],
)
def test_ambiguous_or_foreign_answers_are_rejected(protocol: str, text: str) -> None:
    assert extract_choice(text, protocol) is None


@pytest.mark.parametrize("protocol", list(PROMPTS))
@pytest.mark.parametrize("text", ["", "   ", "\n", ".", "()"])
def test_empty_answers_name_nothing(protocol: str, text: str) -> None:
    assert extract_choice(text, protocol) is None


@pytest.mark.parametrize("protocol", WORDED)
def test_every_option_is_named_by_its_key_and_by_its_words(protocol: str) -> None:
    for option in PROMPTS[protocol].options:
        assert (extract_choice(option.key, protocol), extract_choice(option.text, protocol)) == (option.key,) * 2


@pytest.mark.parametrize("protocol", LETTERED)
def test_every_lettered_option_is_named_as_the_prompt_lists_it(protocol: str) -> None:
    for option in PROMPTS[protocol].options:
        assert extract_choice(f"({option.key}) {option.text}", protocol) == option.key


@pytest.mark.parametrize(("protocol", "first", "second"), OPTION_PAIRS)
def test_every_pair_of_options_is_rejected(protocol: str, first, second) -> None:
    assert extract_choice(f"{first.key} or {second.key}", protocol) is None
    assert extract_choice(f"{first.text} / {second.text}", protocol) is None


@pytest.mark.parametrize(
    ("protocol", "first", "second"), [pair for pair in OPTION_PAIRS if pair[0] in LETTERED and pair[0] in WORDED]
)
def test_every_letter_with_other_words_is_rejected(protocol: str, first, second) -> None:
    assert extract_choice(f"{first.key}: {second.text}", protocol) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    # "D. A scratch." names D and A (a capital A is a letter wherever it stands): the r1 prompt asks for the letter
    [("D", "D"), ("(D)", "D"), ("d", "D"), ("option d", "D"), ("A or D", None), ("D. A scratch.", None), ("F", None)],
)
def test_mmad_options_are_named_by_their_letter_alone(text: str, expected: str | None) -> None:
    assert extract_choice(text, MMAD) == expected


@pytest.mark.parametrize("text", ["\ud800", "A\ud800", "\x00A\x00", "A" + "\udfff" * 10])
def test_odd_characters_do_not_raise(text: str) -> None:
    assert extract_choice(text, SINGLE_AB) in (None, "A")


def test_unknown_protocol_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown protocol 'pair'"):
        extract_choice("A", "pair")


answer_fragments = st.lists(
    st.sampled_from(
        [
            *{word for spec in PROMPTS.values() for option in spec.options for word in (option.key, option.text)},
            "a",
            "b",
            "(",
            ")",
            ":",
            ".",
            " ",
            "or",
            "not",
            "option",
            "n't",
            "<answer>",
            "</answer>",
            "<think>",
            "</think>",
        ]
    ),
    max_size=12,
).map("".join)
any_text = st.one_of(st.text(), answer_fragments)


@given(any_text, st.sampled_from(list(PROMPTS)))
def test_extract_choice_returns_none_or_a_key(text: str, protocol: str) -> None:
    assert extract_choice(text, protocol) in (None, *PROMPTS[protocol].answer_keys)
