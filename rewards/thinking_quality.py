"""FAD-TQ's reward with its LLM judge: format + accuracy + accuracy·thinking-quality, as an async compute_score.

verl awaits an async ``compute_score`` and passes ``reward_router_address`` when its own reward model runs
(``reward.reward_model.enable=True``); otherwise the judge is any OpenAI-compatible endpoint from
``judge_url`` in ``reward_kwargs`` or ``IAD_JUDGE_URL``. The judge is called only when its score can change the
reward (by default a correct answer on the training split: tq is multiplied by accuracy) and never decides
whether training goes on: a failed call gives tq = 0 with ``judge_ok = 0``, and the failure rate is logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from data_prep.prompts import PROMPTS, SINGLE_AB, render_prompt
from rewards.composite import (
    FAD_TQ,
    JUDGE_WHEN,
    RewardWeights,
    complete,
    composite_for,
    compute_score,
    rule_scores,
)
from rewards.judge import JudgeConfig, get_client
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
    if when not in JUDGE_WHEN:
        raise ValueError(f"judge_when={when!r} is not one of {JUDGE_WHEN}")
    if when == "never":
        return False
    if when == "always":
        return True
    return correct and (when == "correct" or split == "train")


def _question(extra_info: Mapping[str, Any] | None, data_source: str) -> str:
    """The task as the policy saw it (without image placeholders' roles), so the judge can rate relevance."""
    info = extra_info or {}
    references = info.get("reference_images")
    n_references = len(references) if references is not None else (0 if data_source == SINGLE_AB else 1)
    return render_prompt(data_source, info.get("category") or "object", n_references)


async def compute_score_async(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: Mapping[str, Any] | None = None,
    *,
    composite: str | None = None,
    weights: Mapping[str, float] | None = None,
    require_format: bool = True,
    judge_when: str = "correct_train",
    judge_url: str | None = None,
    judge_options: Mapping[str, Any] | None = None,
    reward_router_address: str | None = None,
    reward_model_tokenizer: Any = None,
    **kwargs: Any,
) -> dict[str, float]:
    """Every composite; ``fad_tq`` asks the judge. The entry point for recipes that use the judge."""
    composite = composite_for(data_source, composite)
    if composite != FAD_TQ:
        return compute_score(
            data_source,
            solution_str,
            ground_truth,
            extra_info,
            composite=composite,
            weights=weights,
            require_format=require_format,
            **kwargs,
        )
    if data_source not in PROMPTS:
        raise ValueError(f"fad_tq scores this project's protocols ({', '.join(PROMPTS)}), got {data_source!r}")
    w = RewardWeights.from_mapping(weights)
    scores = rule_scores(solution_str, ground_truth, data_source, require_format=require_format)
    split = (extra_info or {}).get("split")
    if should_judge(judge_when, scores["acc"] == 1.0, split):
        parsed = parse_response(solution_str)
        client = get_client(judge_config(reward_router_address, judge_url, judge_options))
        judged = await client.score(
            _question(extra_info, data_source), parsed.think or solution_str, parsed.answer or ""
        )
        scores.update(
            {
                "judge_called": 1.0,
                "judge_ok": 1.0 if judged.ok else 0.0,
                "judge_cached": 1.0 if judged.cached else 0.0,
                "tq": judged.tq,
                "conciseness": judged.conciseness,
                "relevance": judged.relevance,
                "judge_failure_rate": client.failure_rate,
            }
        )
    tq = scores.get("tq", 0.0)
    scores["score"] = w.format * scores["format"] + w.accuracy * scores["acc"] + w.tq * scores["acc"] * tq
    return complete(scores)
