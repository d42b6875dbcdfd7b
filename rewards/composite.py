"""The papers' composite rewards, as verl ``compute_score`` functions returning named sub-scores.

verl logs every key of the returned dict (``reward_extra_info``), so each component is plotted on its own.

- ``lad_reasoner``: format + accuracy (LAD-Reasoner Eq. 7; its KL term lives in the trainer, not the reward).
- ``lr_iad``: format + focal, focal = α·(1 − p)^γ·acc (LR-IAD Eqs. 3–6); ``p`` comes from the ``iad_group``
  reward manager (the share of the prompt's rollout group that answered correctly).
- ``fad_tq``: format + accuracy + accuracy·thinking-quality, in [0, 3] (FAD-TQ Sec. 2.3); the judge is called
  only where it can matter (a correct answer on the training split, by default).
- ``fad_tq_no_judge``: format + accuracy on pair3c, the FAD-TQ ablations' "GPG without the judge".

Weights come from ``reward.custom_reward_function.reward_kwargs`` (``weights={"format": 1, ...}``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Any, Final

from data_prep.prompts import PAIR3C, PAIR_BINARY, PROMPTS, SINGLE_AB
from rewards.answers import extract_choice
from rewards.focal import FOCAL_ALPHA, FOCAL_GAMMA, focal_reward
from rewards.parsing import last_answer, parse_response

LAD_REASONER: Final = "lad_reasoner"
LR_IAD: Final = "lr_iad"
FAD_TQ: Final = "fad_tq"
FAD_TQ_NO_JUDGE: Final = "fad_tq_no_judge"
COMPOSITES: Final = (LAD_REASONER, LR_IAD, FAD_TQ, FAD_TQ_NO_JUDGE)
DEFAULT_COMPOSITE: Final = MappingProxyType({PAIR_BINARY: LAD_REASONER, SINGLE_AB: LR_IAD, PAIR3C: FAD_TQ})
JUDGE_WHEN: Final = ("correct_train", "correct", "always", "never")

_WORD: Final = re.compile(r"\S+")
# Every composite returns all of these: verl stacks reward_extra_info key by key across a batch, so a key that
# one sample lacks would fail the step.
SUBSCORE_KEYS: Final = (
    "score",
    "format",
    "acc",
    "answer_parsed",
    "think_words",
    "response_chars",
    "focal",
    "focal_p",
    "tq",
    "conciseness",
    "relevance",
    "judge_called",
    "judge_ok",
    "judge_cached",
    "judge_failure_rate",
)


@dataclass(frozen=True)
class RewardWeights:
    """Weight of each component in ``score``; the papers use 1 for all."""

    format: float = 1.0
    accuracy: float = 1.0
    focal: float = 1.0
    tq: float = 1.0

    @classmethod
    def from_mapping(cls, values: Mapping[str, float] | None) -> RewardWeights:
        if not values:
            return cls()
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown reward weights {unknown}; valid: {sorted(known)}")
        return replace(cls(), **{key: float(value) for key, value in values.items()})


def composite_for(data_source: str, composite: str | None) -> str:
    """The composite to use: as configured, else the one of the paper that defined ``data_source``'s protocol."""
    if composite is None:
        if data_source not in DEFAULT_COMPOSITE:
            raise ValueError(
                f"data_source {data_source!r} is not one of this project's protocols ({', '.join(PROMPTS)}); "
                "pass composite= in reward_kwargs"
            )
        return DEFAULT_COMPOSITE[data_source]
    if composite not in COMPOSITES:
        raise ValueError(f"unknown composite {composite!r}; valid: {', '.join(COMPOSITES)}")
    return composite


def rule_scores(
    solution_str: str, ground_truth: str, protocol: str, *, require_format: bool = True
) -> dict[str, float]:
    """Format, accuracy and reasoning length of one response: the sub-scores every composite shares."""
    parsed = parse_response(solution_str)
    answer = parsed.answer if parsed.format_ok else (None if require_format else last_answer(solution_str))
    choice = extract_choice(answer, protocol) if answer is not None else None
    think = parsed.think or ""
    return {
        "format": 1.0 if parsed.format_ok else 0.0,
        "acc": 1.0 if choice is not None and choice == ground_truth else 0.0,
        "answer_parsed": 1.0 if choice is not None else 0.0,
        "think_words": float(len(_WORD.findall(think))),
        "response_chars": float(len(solution_str)),
    }


def complete(scores: dict[str, float]) -> dict[str, float]:
    """All of ``SUBSCORE_KEYS``, in that order, 0.0 where a composite has no such component."""
    return {key: float(scores.get(key, 0.0)) for key in SUBSCORE_KEYS}


def _focal_p(extra_info: Mapping[str, Any] | None, focal_p: float | None) -> float:
    if focal_p is None and extra_info:
        focal_p = extra_info.get("focal_p")
    if focal_p is None:
        raise ValueError(
            "the lr_iad composite needs p, the share of the rollout group that answered correctly: "
            "use reward.reward_manager.name=iad_group (it supplies extra_info['focal_p'])"
        )
    return float(focal_p)


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: Mapping[str, Any] | None = None,
    *,
    composite: str | None = None,
    weights: Mapping[str, float] | None = None,
    require_format: bool = True,
    focal_p: float | None = None,
    focal_alpha: float = FOCAL_ALPHA,
    focal_gamma: float = FOCAL_GAMMA,
    **_: Any,
) -> dict[str, float]:
    """Rule-based composites (everything but the judge); verl's ``custom_reward_function`` entry point."""
    composite = composite_for(data_source, composite)
    if composite == FAD_TQ:
        raise ValueError("the fad_tq composite calls the judge: use compute_score_async (rewards.thinking_quality)")
    w = RewardWeights.from_mapping(weights)
    scores = rule_scores(solution_str, ground_truth, data_source, require_format=require_format)
    if composite == LR_IAD:
        p = _focal_p(extra_info, focal_p)
        scores["focal_p"] = p
        scores["focal"] = focal_reward(scores["acc"] == 1.0, p, alpha=focal_alpha, gamma=focal_gamma)
        scores["score"] = w.format * scores["format"] + w.focal * scores["focal"]
    else:
        scores["score"] = w.format * scores["format"] + w.accuracy * scores["acc"]
    return complete(scores)
