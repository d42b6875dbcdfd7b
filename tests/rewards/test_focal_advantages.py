"""What LR-IAD's focal term does to advantages under verl's own estimators (issue 4, recipes' consequence).

With p = the group's share of correct answers, the focal weight w = α(1 − p)^γ is the same for every rollout
of a prompt. Rewards R_i = format_i + w·c_i then give, for groups whose format scores are equal:
- grpo (per-group std normalisation): A_i = (c_i − mean c) / std c — w cancels, focal changes nothing;
- grpo without std (Dr. GRPO, ``norm_adv_by_std_in_grpo=False``): A_i = w·(c_i − mean c) — hard prompts
  (low p) get larger advantages, which is what LR-IAD's focal reward is for;
- gpg: the same group-mean centring, times a batch-level factor — focal survives, as without std.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from verl.trainer.ppo.core_algos import get_adv_estimator_fn

from rewards.focal import focal_reward, group_correct_share

# Three prompts of four rollouts: easy (3/4 correct), hard (1/4 correct), medium (2/4 correct).
UIDS = np.array(["easy"] * 4 + ["hard"] * 4 + ["medium"] * 4, dtype=object)
CORRECT = [True, True, True, False, True, False, False, False, True, True, False, False]


def rewards(with_focal: bool) -> torch.Tensor:
    shares = group_correct_share(UIDS.tolist(), CORRECT)
    scores = [1.0 + (focal_reward(c, p) if with_focal else float(c)) for c, p in zip(CORRECT, shares, strict=True)]
    token_level = torch.zeros(len(scores), 3)
    token_level[:, -1] = torch.tensor(scores)
    return token_level


def advantages(estimator: str, token_level: torch.Tensor, **kwargs) -> torch.Tensor:
    fn = get_adv_estimator_fn(estimator)
    advantage, _ = fn(token_level_rewards=token_level, response_mask=torch.ones_like(token_level), index=UIDS, **kwargs)
    return advantage[:, -1]


def by_group(values: torch.Tensor) -> dict[str, torch.Tensor]:
    return {uid: values[torch.tensor(UIDS == uid)] for uid in ("easy", "hard", "medium")}


def test_group_constant_focal_cancels_under_grpo_std() -> None:
    plain = advantages("grpo", rewards(with_focal=False))
    focal = advantages("grpo", rewards(with_focal=True))
    torch.testing.assert_close(focal, plain, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(("estimator", "kwargs"), [("grpo", {"norm_adv_by_std_in_grpo": False}), ("gpg", {})])
def test_focal_scales_advantages_by_group_difficulty_without_std(estimator: str, kwargs: dict) -> None:
    plain = by_group(advantages(estimator, rewards(with_focal=False), **kwargs))
    focal = by_group(advantages(estimator, rewards(with_focal=True), **kwargs))
    shares = dict(zip(UIDS.tolist(), group_correct_share(UIDS.tolist(), CORRECT), strict=True))
    ratios = {}
    for uid in plain:
        weight = focal_reward(True, shares[uid])
        # each group's advantages are the plain ones times its focal weight (up to gpg's batch factor)
        ratio = focal[uid] / plain[uid]
        torch.testing.assert_close(ratio, torch.full_like(ratio, ratio[0].item()))
        ratios[uid] = ratio[0].item() / weight
    assert max(ratios.values()) == pytest.approx(min(ratios.values()), rel=1e-4)
    assert focal["hard"].abs().max() > focal["medium"].abs().max() > focal["easy"].abs().max()


def test_all_correct_group_gets_no_signal_under_any_estimator() -> None:
    token_level = torch.zeros(4, 2)
    token_level[:, -1] = 1.0 + focal_reward(True, 1.0)
    index = np.array(["g"] * 4, dtype=object)
    for estimator in ("grpo", "gpg"):
        fn = get_adv_estimator_fn(estimator)
        advantage, _ = fn(token_level_rewards=token_level, response_mask=torch.ones_like(token_level), index=index)
        assert torch.count_nonzero(advantage) == 0
