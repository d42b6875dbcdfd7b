"""Split a policy response into its ``<think>`` and ``<answer>`` blocks: the format reward's reading.

All three papers reward one format: a reasoning block in think tags followed by an answer block in answer tags
(LAD-Reasoner's Structure Reward, Eq. 7; LR-IAD's format reward, Eq. 3; FAD-TQ's format reward, Sec. 2.3). Here
it is strict, so that no cheap variant earns it: exactly one non-empty ``<think>`` block, then exactly one
non-empty ``<answer>`` block, with only whitespace around and between them, anchored at both ends of the whole
text. Blocks may span lines (R1-V issue #19, open-r1 issue #237: a format regex without DOTALL scored every
multi-line think 0).

Parsing never raises and runs in linear time on any text: one scan for tag-like substrings with a pattern of
bounded repeats only, then string slicing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from data_prep.prompts import ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN

_TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)
# Where the scan is after having seen the first i tags of _TAGS.
_PLACES = ("before <think>", "inside <think>", "between </think> and <answer>", "inside <answer>", "after </answer>")
# Anything that reads as one of the four tags, so that ``<Answer>``, ``</ think>`` or ``<think/>`` fails the format
# instead of passing as prose. Only bounded repeats: each attempt does constant work, the scan is linear.
_TAG_LIKE = re.compile(r"<\s{0,4}/?\s{0,4}(?:think|answer)\s{0,4}/?\s{0,4}>", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedResponse:
    """A response's blocks: ``think`` and ``answer`` are their stripped texts when ``format_ok``, else None."""

    think: str | None
    answer: str | None
    format_ok: bool
    reason: str  # why the format failed; "" when it is ok


def _failed(reason: str) -> ParsedResponse:
    return ParsedResponse(think=None, answer=None, format_ok=False, reason=reason)


def _tag_spans(response: str) -> list[tuple[int, int]] | str:
    """The spans of the four tags in order, or why the tags are wrong (stops at the first wrong one)."""
    spans: list[tuple[int, int]] = []
    for match in _TAG_LIKE.finditer(response):
        seen, tag = len(spans), match.group()
        if tag not in _TAGS:
            return f"malformed tag {tag!r} {_PLACES[seen]}"
        if seen == len(_TAGS) or tag != _TAGS[seen]:
            return f"unexpected {tag} {_PLACES[seen]}"
        spans.append(match.span())
    if len(spans) < len(_TAGS):
        return f"missing {_TAGS[len(spans)]}"
    return spans


def parse_response(response: str) -> ParsedResponse:
    """Parse ``<think>…</think><answer>…</answer>``; anything else fails with a reason, nothing raises."""
    spans = _tag_spans(response)
    if isinstance(spans, str):
        return _failed(spans)
    (think_open, think_end), (think_close, between_end), (answer_open, answer_end), (answer_close, rest) = spans
    outside = {
        _PLACES[0]: response[:think_open],
        _PLACES[2]: response[between_end:answer_open],
        _PLACES[4]: response[rest:],
    }
    for place, text in outside.items():
        if text.strip():
            return _failed(f"text {place}")
    think, answer = response[think_end:think_close].strip(), response[answer_end:answer_close].strip()
    if not think:
        return _failed(f"empty {THINK_OPEN}")
    if not answer:
        return _failed(f"empty {ANSWER_OPEN}")
    return ParsedResponse(think=think, answer=answer, format_ok=True, reason="")


def last_answer(response: str) -> str | None:
    """The stripped text of the last ``<answer>…</answer>`` block, format aside; None when there is none."""
    end = response.rfind(ANSWER_CLOSE)
    start = response.rfind(ANSWER_OPEN, 0, end) if end >= 0 else -1
    if start < 0:
        return None
    return response[start + len(ANSWER_OPEN) : end].strip()
