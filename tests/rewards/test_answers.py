"""Reading the option an answer names, and the accuracy reward, on the vocabularies of ``data_prep.prompts``."""

from __future__ import annotations

import itertools
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_prep.prompts import PAIR3C, PAIR_BINARY, PROMPTS, SINGLE_AB
from rewards.answers import accuracy_reward, extract_choice

LETTERED = [protocol for protocol, spec in PROMPTS.items() if spec.lettered]
OPTION_PAIRS = [
    (protocol, first, second)
    for protocol, spec in PROMPTS.items()
    for first, second in itertools.permutations(spec.options, 2)
]


def respond(answer: str) -> str:
    return f"<think>The query differs from the reference.</think><answer>{answer}</answer>"


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


@pytest.mark.parametrize("protocol", list(PROMPTS))
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


@pytest.mark.parametrize(("protocol", "first", "second"), [pair for pair in OPTION_PAIRS if pair[0] in LETTERED])
def test_every_letter_with_other_words_is_rejected(protocol: str, first, second) -> None:
    assert extract_choice(f"{first.key}: {second.text}", protocol) is None


@pytest.mark.parametrize("text", ["\ud800", "A\ud800", "\x00A\x00", "A" + "\udfff" * 10])
def test_odd_characters_do_not_raise(text: str) -> None:
    assert extract_choice(text, SINGLE_AB) in (None, "A")


def test_unknown_protocol_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown protocol 'pair'"):
        extract_choice("A", "pair")


def test_correct_answer_earns_one() -> None:
    assert accuracy_reward(respond("(B) normal"), "B", SINGLE_AB) == 1.0


def test_wrong_answer_earns_zero() -> None:
    assert accuracy_reward(respond("A"), "B", SINGLE_AB) == 0.0


def test_right_answer_in_a_broken_format_earns_zero() -> None:
    assert accuracy_reward(respond("yes") + " extra", "yes", PAIR_BINARY) == 0.0


def test_without_format_requirement_the_last_answer_block_counts() -> None:
    response = "<answer>no</answer> on reflection <answer>yes</answer> trailing"
    assert accuracy_reward(response, "yes", PAIR_BINARY, require_format=False) == 1.0


def test_without_format_requirement_no_answer_block_earns_zero() -> None:
    assert accuracy_reward("yes", "yes", PAIR_BINARY, require_format=False) == 0.0


@pytest.mark.parametrize("require_format", [True, False])
@pytest.mark.parametrize(
    ("protocol", "ground_truth"), [(protocol, key) for protocol in PROMPTS for key in PROMPTS[protocol].answer_keys]
)
def test_empty_answer_earns_zero(protocol: str, ground_truth: str, require_format: bool) -> None:
    response = respond("")
    assert accuracy_reward(response, ground_truth, protocol, require_format=require_format) == 0.0


@pytest.mark.parametrize("protocol", list(PROMPTS))
def test_answering_every_option_earns_zero_for_every_label(protocol: str) -> None:
    hedge = respond(" or ".join(PROMPTS[protocol].answer_keys))
    assert [accuracy_reward(hedge, key, protocol) for key in PROMPTS[protocol].answer_keys] == [0.0] * len(
        PROMPTS[protocol].answer_keys
    )


def test_ground_truth_must_be_an_answer_key() -> None:
    with pytest.raises(ValueError, match="not a single-ab answer key"):
        accuracy_reward(respond("A"), "defect", SINGLE_AB)


def test_five_megabyte_answer_is_scored_fast() -> None:
    start = time.perf_counter()
    assert accuracy_reward(respond("B " * (5 * 1024 * 1024 // 2)), "B", SINGLE_AB) == 1.0
    assert accuracy_reward(respond("x " * (5 * 1024 * 1024 // 2) + "A"), "A", SINGLE_AB) == 1.0
    assert time.perf_counter() - start < 4.0


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


@given(any_text, st.sampled_from(list(PROMPTS)), st.booleans())
def test_at_most_one_label_is_rewarded(answer: str, protocol: str, require_format: bool) -> None:
    keys = PROMPTS[protocol].answer_keys
    for response in (answer, respond(answer)):
        rewards = [accuracy_reward(response, key, protocol, require_format=require_format) for key in keys]
        assert set(rewards) <= {0.0, 1.0} and sum(rewards) <= 1.0
