"""The sign-flipped controls: the recipe's own advantages, negated, registered where verl looks them up."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from verl.trainer.ppo.core_algos import get_adv_estimator_fn

import recipes.controls  # noqa: F401  (registers the controls)
import recipes.estimators  # noqa: F401  (registers gpg_paper)
from recipes.controls import FLIPPABLE, flipped_name


def _batch() -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    scores = torch.tensor([1.0, 0.0, 2.0, 1.0, 0.0, 0.0, 1.0, 2.0])
    mask = torch.ones(8, 3)
    rewards = torch.zeros(8, 3)
    rewards[:, -1] = scores
    return rewards, mask, np.array(["a"] * 4 + ["b"] * 4, dtype=object)


@pytest.mark.parametrize("estimator", FLIPPABLE)
@pytest.mark.parametrize("use_std", [True, False])
def test_flipped_estimator_negates_the_recipes_advantages(estimator: str, use_std: bool) -> None:
    rewards, mask, index = _batch()
    config = OmegaConf.create({"norm_adv_by_std_in_grpo": use_std})
    kwargs = {"norm_adv_by_std_in_grpo": use_std} if estimator == "grpo" else {"config": config}
    original, _ = get_adv_estimator_fn(estimator)(
        token_level_rewards=rewards, response_mask=mask, index=index, **kwargs
    )
    flipped, returns = get_adv_estimator_fn(flipped_name(estimator))(
        token_level_rewards=rewards, response_mask=mask, index=index, config=config
    )
    assert original.abs().sum() > 0
    torch.testing.assert_close(flipped, -original)
    torch.testing.assert_close(returns, -original)


def test_only_the_recipes_estimators_have_a_control() -> None:
    with pytest.raises(ValueError, match="valid: grpo, gpg_paper"):
        flipped_name("gae")
