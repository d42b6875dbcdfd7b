"""The rule-based reading of one response (format, answer, reasoning length), the same for training and evaluation.

Every composite reward starts from ``score_rules`` and ``evaluation.runner`` records what it returns, so a
response counts as well-formed, correct and so many words long in the same way in a reward and in a report.
"""

from __future__ import annotations

from dataclasses import dataclass

from data_prep.prompts import PROMPTS
from rewards.answers import extract_choice
from rewards.parsing import last_answer, parse_response


@dataclass(frozen=True)
class RuleScores:
    """What the rules read in a response."""

    format_ok: bool  # exactly one think block, then one answer block (``rewards.parsing``)
    predicted: str | None  # the option key the answer names (``rewards.answers``), None when it names none
    correct: bool  # ``predicted`` is the ground truth
    think_words: int  # whitespace-separated words in the think block (0 when the format fails)
    response_chars: int
    answer: str | None = None  # the answer block's text as read (None when it does not count)

    def subscores(self) -> dict[str, float]:
        """The sub-scores every composite reports (verl logs each one)."""
        return {
            "format": float(self.format_ok),
            "acc": float(self.correct),
            "answer_parsed": float(self.predicted is not None),
            "think_words": float(self.think_words),
            "response_chars": float(self.response_chars),
        }


def score_rules(response: str, ground_truth: str, protocol: str, *, require_format: bool = True) -> RuleScores:
    """Read ``response`` for ``protocol``. With ``require_format`` (the papers' way) an answer counts only in a
    well-formed response; without it, the last ``<answer>`` block counts whatever surrounds it."""
    if protocol not in PROMPTS:
        raise ValueError(f"unknown protocol {protocol!r}; this project's protocols: {', '.join(PROMPTS)}")
    if ground_truth not in PROMPTS[protocol].answer_keys:
        keys = ", ".join(PROMPTS[protocol].answer_keys)
        raise ValueError(f"ground truth {ground_truth!r} is not a {protocol} answer; valid: {keys}")
    parsed = parse_response(response)
    answer = parsed.answer if parsed.format_ok else (None if require_format else last_answer(response))
    predicted = extract_choice(answer, protocol) if answer else None
    return RuleScores(
        format_ok=parsed.format_ok,
        predicted=predicted,
        correct=predicted is not None and predicted == ground_truth,
        think_words=len(parsed.think.split()) if parsed.think else 0,
        response_chars=len(response),
        answer=answer,
    )
