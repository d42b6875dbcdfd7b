"""The papers' composite rewards: one async function each, one registry line each.

- ``lad_reasoner``: format + accuracy (LAD-Reasoner Eq. 7; its KL term lives in the trainer, not the reward).
- ``lr_iad``: format + focal, focal = α·(1 − p)^γ·acc (LR-IAD Eqs. 3–6); ``p`` comes from the ``iad_group``
  reward manager (the share of the prompt's rollout group that answered correctly).
- ``fad_tq``: format + accuracy + accuracy·thinking-quality, in [0, 3] (FAD-TQ Sec. 2.3); the judge is called
  only where it can matter (a correct answer on the training split, by default).
- ``fad_tq_no_judge``: format + accuracy on pair3c, the FAD-TQ ablations' "GPG without the judge".
- ``mmad``: format + accuracy on MMAD's multiple-choice questions (the answer's option letter).
- ``grounded``: format + accuracy + accuracy x localization, the last the IoU-based score of the answer's
  ``bbox_2d`` boxes against the row's ground truth (``rewards.localization``), paid only with the right answer;
  ``fad_tq_grounded``: FAD-TQ's composite plus that term (the ``grounded_gpg`` recipe).
- ``agentic``: an inspection with tools (``agentic_gpg``): format + accuracy of the final turn, + accuracy x the
  last zoom's IoU with the defect, - a penalty per tool call past the budget (``rewards.tool_use``).

A composite receives the response's rule scores (``rewards.rules``) and returns the sub-scores it adds, ``score``
among them; ``rewards.verl_reward.compute_score`` (the one function verl calls) merges and completes them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from data_prep.prompts import MMAD, PAIR3C, PAIR_BINARY, PROMPTS, SINGLE_AB
from rewards.focal import focal_reward
from rewards.localization import localization_score
from rewards.options import RewardOptions
from rewards.rules import RuleScores
from rewards.thinking_quality import thinking_quality
from rewards.tool_use import calls_past_budget, crop_iou, final_answer_text, tool_counts


@dataclass(frozen=True)
class Rollout:
    """One response to score, with what any composite may need."""

    protocol: str
    response: str
    extra_info: Mapping[str, Any]
    rules: RuleScores
    options: RewardOptions
    reward_router_address: str | None = None  # verl's reward-model router, when the judge runs inside verl


Composite = Callable[[Rollout], Awaitable[dict[str, float]]]


async def format_plus_accuracy(rollout: Rollout) -> dict[str, float]:
    w, rules = rollout.options.weights, rollout.rules
    return {"score": w.format * rules.format_ok + w.accuracy * rules.correct}


async def format_plus_focal(rollout: Rollout) -> dict[str, float]:
    p = rollout.extra_info.get("focal_p")
    if p is None:
        raise ValueError(
            "the lr_iad composite needs p, the share of the rollout group that answered correctly: "
            "use reward.reward_manager.name=iad_group (it supplies extra_info['focal_p'])"
        )
    w, rules, options = rollout.options.weights, rollout.rules, rollout.options
    focal = focal_reward(rules.correct, float(p), alpha=options.focal_alpha, gamma=options.focal_gamma)
    return {"focal_p": float(p), "focal": focal, "score": w.format * rules.format_ok + w.focal * focal}


async def format_accuracy_thinking_quality(rollout: Rollout) -> dict[str, float]:
    judged = await thinking_quality(
        rollout.protocol,
        rollout.response,
        rollout.rules.correct,
        rollout.extra_info,
        rollout.options,
        rollout.reward_router_address,
    )
    w, rules = rollout.options.weights, rollout.rules
    score = w.format * rules.format_ok + w.accuracy * rules.correct + w.tq * rules.correct * judged.get("tq", 0.0)
    return judged | {"score": score}


def _truth_boxes(rollout: Rollout, rebuild: str) -> tuple[list, list]:
    info = rollout.extra_info
    if "boxes" not in info or "query_size" not in info:
        raise ValueError(
            f"this composite needs extra_info.boxes and extra_info.query_size: rebuild the data with {rebuild}"
        )
    return list(info["boxes"] or []), list(info["query_size"] or (0, 0))


def _localization(rollout: Rollout) -> float:
    boxes, size = _truth_boxes(rollout, "iad-data build --grounding")
    return localization_score(rollout.rules.answer, boxes, size)


async def format_accuracy_localization(rollout: Rollout) -> dict[str, float]:
    w, rules, loc = rollout.options.weights, rollout.rules, _localization(rollout)
    score = w.format * rules.format_ok + w.accuracy * rules.correct + w.localization * rules.correct * loc
    return {"loc": loc, "score": score}


async def thinking_quality_and_localization(rollout: Rollout) -> dict[str, float]:
    loc = _localization(rollout)
    scores = await format_accuracy_thinking_quality(rollout)
    bonus = rollout.options.weights.localization * rollout.rules.correct * loc
    return scores | {"loc": loc, "score": scores["score"] + bonus}


async def format_accuracy_tool_use(rollout: Rollout) -> dict[str, float]:
    info, w, rules = rollout.extra_info, rollout.options.weights, rollout.rules
    final_answer_text(info)  # only rollouts of the inspection agent loop have a final turn to score
    boxes, size = _truth_boxes(rollout, "iad-data build --tools")
    crop = crop_iou(info, boxes, size)
    penalty = w.tool_penalty * calls_past_budget(info, rollout.options.tool_budget)
    score = w.format * rules.format_ok + w.accuracy * rules.correct + w.crop * rules.correct * crop - penalty
    return tool_counts(info) | {"crop_iou": crop, "tool_penalty": penalty, "score": score}


COMPOSITES: Final[Mapping[str, Composite]] = MappingProxyType(
    {
        "lad_reasoner": format_plus_accuracy,
        "lr_iad": format_plus_focal,
        "fad_tq": format_accuracy_thinking_quality,
        "fad_tq_no_judge": format_plus_accuracy,
        "mmad": format_plus_accuracy,
        "grounded": format_accuracy_localization,
        "fad_tq_grounded": thinking_quality_and_localization,
        "agentic": format_accuracy_tool_use,
    }
)
# The composite of the paper that defined each protocol, for rows whose recipe names none.
DEFAULT_COMPOSITE: Final = MappingProxyType(
    {PAIR_BINARY: "lad_reasoner", SINGLE_AB: "lr_iad", PAIR3C: "fad_tq", MMAD: "mmad"}
)
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
    "loc",
    "crop_iou",
    "tool_calls",
    "tool_errors",
    "zoom_calls",
    "reference_calls",
    "tool_penalty",
    "conciseness",
    "relevance",
    "judge_called",
    "judge_ok",
    "judge_cached",
    "judge_failure_rate",
)


def composite_for(protocol: str, composite: str | None) -> Composite:
    """The composite to use: as configured, else the one of the paper that defined ``protocol``."""
    if composite is None:
        if protocol not in DEFAULT_COMPOSITE:
            raise ValueError(
                f"data_source {protocol!r} is not one of this project's protocols ({', '.join(PROMPTS)}); "
                "pass composite= in reward_kwargs"
            )
        composite = DEFAULT_COMPOSITE[protocol]
    if composite not in COMPOSITES:
        raise ValueError(f"unknown composite {composite!r}; valid: {', '.join(COMPOSITES)}")
    return COMPOSITES[composite]


def complete(scores: Mapping[str, float]) -> dict[str, float]:
    """All of ``SUBSCORE_KEYS``, in that order, 0.0 where a composite has no such component."""
    return {key: float(scores.get(key, 0.0)) for key in SUBSCORE_KEYS}
