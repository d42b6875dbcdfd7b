"""Negative controls for "training learns": advantage estimators with their sign flipped.

``algorithm.adv_estimator=flipped_grpo`` (or ``flipped_gpg_paper``) computes the recipe's own advantages and
negates them, so every update pushes the policy away from the responses that scored above their group. A pipeline
whose rewards really reach the update gets *worse* under it; one where they never arrive (a dropped reward, a
zero gradient) looks the same either way. ``benchmarks.learning`` runs it next to the real recipe, and the slow
test in ``tests/recipes/test_learning.py`` relies on it to show that its check can fail. Never for training.

Registered in every verl process by ``recipes.verl_plugin``, like ``gpg_paper``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import numpy as np
import torch
from verl.trainer.ppo.core_algos import get_adv_estimator_fn, register_adv_est

FLIPPED_PREFIX: Final = "flipped_"
# The estimators this project's recipes use (grpo: lad_reasoner_grpo, lr_iad_focal; gpg_paper: fad_tq_gpg).
FLIPPABLE: Final = ("grpo", "gpg_paper")


def flipped_name(estimator: str) -> str:
    """``algorithm.adv_estimator`` for the sign-flipped control of ``estimator``."""
    if estimator not in FLIPPABLE:
        raise ValueError(f"no sign-flipped control for estimator {estimator!r}; valid: {', '.join(FLIPPABLE)}")
    return FLIPPED_PREFIX + estimator


def _flipped(estimator: str) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    def compute_flipped_advantage(
        token_level_rewards: torch.Tensor,
        response_mask: torch.Tensor,
        index: np.ndarray,
        config: Any = None,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The negated advantages (and returns) of the registered ``estimator``, with the same arguments."""
        if estimator == "grpo":  # verl's trainer passes this flag to grpo directly, not through the registry
            kwargs["norm_adv_by_std_in_grpo"] = config.get("norm_adv_by_std_in_grpo", True) if config else True
        advantages, returns = get_adv_estimator_fn(estimator)(
            token_level_rewards=token_level_rewards, response_mask=response_mask, index=index, config=config, **kwargs
        )
        return -advantages, -returns

    compute_flipped_advantage.__name__ = f"compute_{FLIPPED_PREFIX}{estimator}_advantage"
    return compute_flipped_advantage


FLIPPED_ESTIMATORS: Final = {flipped_name(estimator): _flipped(estimator) for estimator in FLIPPABLE}

for _name, _function in FLIPPED_ESTIMATORS.items():
    register_adv_est(_name)(_function)
