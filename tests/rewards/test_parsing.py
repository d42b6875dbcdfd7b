"""The format check: one think block then one answer block, nothing else, on any text, in linear time."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from data_prep.prompts import ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN
from rewards.parsing import ParsedResponse, last_answer, parse_response

TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)
GOOD = "<think>The query matches the reference.</think><answer>B</answer>"
FIVE_MB = 5 * 1024 * 1024

# Text built from the pieces a response is made of, so that near-misses of the format are common.
fragments = st.lists(
    st.sampled_from([*TAGS, "<Think>", "</ answer>", "<think/>", "<", ">", "/", "A", "yes", "no", " ", "\n", "\x00"]),
    max_size=20,
).map("".join)
any_text = st.one_of(st.text(), fragments)


def test_canonical_response_parses_into_stripped_blocks() -> None:
    parsed = parse_response("<think> look at the cap </think><answer> B </answer>")
    assert parsed == ParsedResponse(think="look at the cap", answer="B", format_ok=True, reason="")


def test_whitespace_before_between_and_after_is_allowed() -> None:
    assert parse_response("\n  <think>x</think>\n\n<answer>A</answer>\n \t").format_ok


def test_multiline_think_is_allowed() -> None:
    assert parse_response("<think>line one\nline two\n</think>\n<answer>\nyes\n</answer>").format_ok


def test_failed_parse_gives_no_blocks() -> None:
    parsed = parse_response("<think>x</think><answer>A</answer> and B")
    assert (parsed.think, parsed.answer, parsed.format_ok) == (None, None, False)


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        ("B", "missing <think>"),
        ("<think>x</think>", "missing <answer>"),
        ("<think>x</think><answer>A", "missing </answer>"),
        ("<think>x<answer>A</answer>", "unexpected <answer> inside <think>"),
        ("<answer>A</answer>", "unexpected <answer> before <think>"),
        ("<answer>A</answer><think>x</think>", "unexpected <answer> before <think>"),
    ],
)
def test_missing_or_misordered_tags_fail(response: str, reason: str) -> None:
    assert parse_response(response).reason == reason


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        ("<think>a</think><think>b</think><answer>A</answer>", "unexpected <think> between </think> and <answer>"),
        ("<think>a</think><answer>A</answer><answer>B</answer>", "unexpected <answer> after </answer>"),
        ("<think>a</think><answer>A</answer><think>b</think>", "unexpected <think> after </answer>"),
    ],
)
def test_repeated_tags_fail(response: str, reason: str) -> None:
    assert parse_response(response).reason == reason


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        ("<think>a<think>b</think></think><answer>A</answer>", "unexpected <think> inside <think>"),
        ("<think>a</think><answer><answer>A</answer></answer>", "unexpected <answer> inside <answer>"),
        ("<think>a</think><answer>A<think>b</think></answer>", "unexpected <think> inside <answer>"),
    ],
)
def test_nested_tags_fail(response: str, reason: str) -> None:
    assert parse_response(response).reason == reason


def test_answer_block_inside_think_fails_even_with_a_real_answer_after() -> None:
    response = "<think>I pick <answer>A</answer></think><answer>A</answer>"
    assert parse_response(response).reason == "unexpected <answer> inside <think>"


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        ("</think><think>a</think><answer>A</answer>", "unexpected </think> before <think>"),
        ("<think>a</answer></think><answer>A</answer>", "unexpected </answer> inside <think>"),
        ("<think>a</think></think><answer>A</answer>", "unexpected </think> between </think> and <answer>"),
        ("<think>a</think><answer>A</answer></answer>", "unexpected </answer> after </answer>"),
    ],
)
def test_stray_closing_tags_fail(response: str, reason: str) -> None:
    assert parse_response(response).reason == reason


@pytest.mark.parametrize("tag", ["<Answer>", "<THINK>", "</ think>", "< answer >", "<think/>", "<answer />"])
def test_tag_variants_fail_as_malformed(tag: str) -> None:
    parsed = parse_response(f"<think>a {tag} b</think><answer>A</answer>")
    assert parsed.reason == f"malformed tag {tag!r} inside <think>"


@pytest.mark.parametrize("think", ["", " ", "\n\t "])
def test_empty_think_fails(think: str) -> None:
    assert parse_response(f"<think>{think}</think><answer>A</answer>").reason == "empty <think>"


@pytest.mark.parametrize("answer", ["", " ", "\n\t "])
def test_empty_answer_fails(answer: str) -> None:
    assert parse_response(f"<think>x</think><answer>{answer}</answer>").reason == "empty <answer>"


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        ("Sure! <think>x</think><answer>A</answer>", "text before <think>"),
        ("<think>x</think> so: <answer>A</answer>", "text between </think> and <answer>"),
        ("<think>x</think><answer>A</answer> or B", "text after </answer>"),
        ("<think>x</think><answer>A</answer>\x00", "text after </answer>"),
    ],
)
def test_text_outside_the_blocks_fails(response: str, reason: str) -> None:
    assert parse_response(response).reason == reason


def test_lone_surrogates_and_control_characters_inside_blocks_parse() -> None:
    parsed = parse_response("<think>\ud800\x00\x1b[0m</think><answer>\udfff A</answer>")
    assert (parsed.think, parsed.answer) == ("\ud800\x00\x1b[0m", "\udfff A")


@pytest.mark.parametrize("response", ["\ud800", "\x00", "\udfff<think>", "<\x00think>", "\x00" * 1000])
def test_odd_text_fails_without_raising(response: str) -> None:
    assert not parse_response(response).format_ok


@pytest.mark.parametrize(
    "response",
    [
        "<think>" * (FIVE_MB // 7),
        "<" * FIVE_MB,
        "<" + " " * FIVE_MB,
        "< / " * (FIVE_MB // 4),
        "<answer" * (FIVE_MB // 7),
        "<think>" + "a" * FIVE_MB + "</think><answer>A</answer>",
        "<think>x</think><answer>A</answer>" + " " * FIVE_MB + "x",
        "\x00\ud800" * (FIVE_MB // 2),
    ],
    ids=["opens", "angles", "spaces", "slashes", "unclosed", "long-think", "long-tail", "odd"],
)
def test_five_megabytes_parse_fast(response: str) -> None:
    start = time.perf_counter()
    parse_response(response)
    last_answer(response)
    assert time.perf_counter() - start < 2.0


def test_last_answer_takes_the_last_block() -> None:
    assert last_answer("<answer>A</answer> then <answer> B </answer> tail") == "B"


def test_last_answer_is_none_without_a_block() -> None:
    assert last_answer("</answer> A <answer>") is None


def test_last_answer_of_an_empty_block_is_empty() -> None:
    assert last_answer("<think>x</think><answer></answer>") == ""


@given(any_text)
def test_parsing_never_raises(response: str) -> None:
    parsed = parse_response(response)
    assert parsed.format_ok == (parsed.reason == "")
    last_answer(response)


@given(any_text)
def test_format_ok_means_one_of_each_tag(response: str) -> None:
    if parse_response(response).format_ok:
        assert [response.count(tag) for tag in TAGS] == [1, 1, 1, 1]
        assert response.strip().startswith(THINK_OPEN) and response.strip().endswith(ANSWER_CLOSE)


blocks = st.text(alphabet=st.characters(exclude_characters="<"), min_size=1).filter(str.strip)


@given(blocks, blocks, st.sampled_from(["", " ", "\n"]))
def test_any_tag_free_blocks_round_trip(think: str, answer: str, gap: str) -> None:
    parsed = parse_response(f"{gap}<think>{think}</think>{gap}<answer>{answer}</answer>{gap}")
    assert (parsed.think, parsed.answer) == (think.strip(), answer.strip())
