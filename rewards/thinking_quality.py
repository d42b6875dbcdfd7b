"""FAD-TQ's thinking-quality term: when to ask the judge, where it is, and the sub-scores it gives.

verl passes ``reward_router_address`` when its own reward model runs (``reward.reward_model.enable=True``);
otherwise the judge is any OpenAI-compatible endpoint from ``judge_url`` in ``reward_kwargs`` or ``IAD_JUDGE_URL``.
The judge is called only when its score can change the reward (by default a correct answer on the training split:
tq is multiplied by accuracy) and never decides whether training goes on: a failed call gives tq = 0 with
``judge_ok = 0``, and the failure rate is logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from data_prep.prompts import SINGLE_AB, render_prompt
from rewards.judge import JudgeConfig, get_client
from rewards.options import RewardOptions
from rewards.parsing import parse_response


def judge_config(
    reward_router_address: str | None, judge_url: str | None, judge_options: Mapping[str, Any] | None
) -> JudgeConfig:
    """An explicit URL wins, then verl's reward-model router, then the environment (``IAD_JUDGE_URL``)."""
    options = dict(judge_options or {})
    if judge_url:
        return JudgeConfig(base_url=judge_url, **options)
    if reward_router_address:
        return JudgeConfig.from_router_address(reward_router_address, **options)
    return JudgeConfig(**options)


def should_judge(when: str, correct: bool, split: str | None) -> bool:
    """``when`` is one of ``rewards.options.JUDGE_WHEN`` (``RewardOptions`` rejects any other)."""
    if when == "never":
        return False
    if when == "always":
        return True
    return correct and (when == "correct" or split == "train")


def judge_question(extra_info: Mapping[str, Any], protocol: str) -> str:
    """The task as the policy saw it (without image placeholders' roles), so the judge can rate relevance."""
    references = extra_info.get("reference_images")
    n_references = len(references) if references is not None else (0 if protocol == SINGLE_AB else 1)
    return render_prompt(protocol, extra_info.get("category") or "object", n_references)


async def thinking_quality(
    protocol: str,
    response: str,
    correct: bool,
    extra_info: Mapping[str, Any],
    options: RewardOptions,
    reward_router_address: str | None,
) -> dict[str, float]:
    """The judge's sub-scores (``tq``, ``conciseness``, ``relevance`` and the call's bookkeeping), or {} uncalled."""
    if not should_judge(options.judge_when, correct, extra_info.get("split")):
        return {}
    parsed = parse_response(response)
    client = get_client(judge_config(reward_router_address, options.judge_url, options.judge_options))
    judged = await client.score(judge_question(extra_info, protocol), parsed.think or response, parsed.answer or "")
    return {
        "judge_called": 1.0,
        "judge_ok": 1.0 if judged.ok else 0.0,
        "judge_cached": 1.0 if judged.cached else 0.0,
        "tq": judged.tq,
        "conciseness": judged.conciseness,
        "relevance": judged.relevance,
        "judge_failure_rate": client.failure_rate,
    }
