"""The one reward function verl calls: ``reward.custom_reward_function.path=pkg://rewards.verl_reward``,
``name=compute_score``, for every recipe and composite.

Importing this module also registers the ``iad_group`` reward manager, so it is registered in every process that
loads the reward function, Ray's reward-loop workers included.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rewards.composites import Rollout, complete, composite_for
from rewards.group_manager import GroupRewardManager
from rewards.options import RewardOptions
from rewards.rules import score_rules
from rewards.tool_use import scored_response

__all__ = ["GroupRewardManager", "compute_score"]


async def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str,
    extra_info: Mapping[str, Any] | None = None,
    *,
    reward_router_address: str | None = None,
    reward_model_tokenizer: Any = None,  # verl passes it with the router; the judge is asked by HTTP, not tokens
    **reward_kwargs: Any,
) -> dict[str, float]:
    """Every sub-score of ``solution_str`` (``rewards.composites.SUBSCORE_KEYS``), ``score`` the reward.

    ``reward_kwargs`` are the recipe's ``reward.custom_reward_function.reward_kwargs`` (``rewards.options``):
    an unknown key is an error that lists the valid ones.
    """
    options = RewardOptions.from_kwargs(reward_kwargs)
    composite = composite_for(data_source, options.composite)
    extra_info = extra_info or {}
    response = scored_response(solution_str, extra_info)
    rules = score_rules(response, ground_truth, data_source, require_format=options.require_format)
    rollout = Rollout(data_source, response, extra_info, rules, options, reward_router_address)
    return complete(rules.subscores() | await composite(rollout))
