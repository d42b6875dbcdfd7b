"""Print what LR-IAD's focal term does to advantages under verl's estimators, as a Markdown table.

    python -m recipes.focal_table

Three prompts of four rollouts (3, 2 and 1 correct), reward = format (1) + correctness or + focal
(α = 1, γ = 2, p = the group's share of correct rollouts). The cell is a correct rollout's advantage.
``tests/rewards/test_focal_advantages.py`` asserts the same relations.
"""

from __future__ import annotations

import numpy as np
import torch

import recipes.estimators  # noqa: F401  (registers gpg_paper)
from rewards.focal import focal_reward, group_correct_share

GROUPS = {"easy (3/4 correct)": [1, 1, 1, 0], "medium (2/4)": [1, 1, 0, 0], "hard (1/4)": [1, 0, 0, 0]}
ESTIMATORS = {
    "grpo (std)": ("grpo", {"norm_adv_by_std_in_grpo": True}),
    "grpo, no std (Dr. GRPO)": ("grpo", {"norm_adv_by_std_in_grpo": False}),
    "gpg_paper, no std (GPG paper)": ("gpg_paper", {"config": {"norm_adv_by_std_in_grpo": False}}),
    "gpg_paper, std (fad_tq_gpg)": ("gpg_paper", {"config": {"norm_adv_by_std_in_grpo": True}}),
}


def correct_advantages(estimator: str, kwargs: dict, focal: bool) -> list[float]:
    from verl.trainer.ppo.core_algos import get_adv_estimator_fn

    uids = np.array([name for name, flags in GROUPS.items() for _ in flags], dtype=object)
    correct = [bool(flag) for flags in GROUPS.values() for flag in flags]
    shares = group_correct_share(uids.tolist(), correct)
    scores = [1.0 + (focal_reward(c, p) if focal else float(c)) for c, p in zip(correct, shares, strict=True)]
    rewards = torch.zeros(len(scores), 2)
    rewards[:, -1] = torch.tensor(scores)
    advantages, _ = get_adv_estimator_fn(estimator)(
        token_level_rewards=rewards, response_mask=torch.ones_like(rewards), index=uids, **kwargs
    )
    first_correct = [list(uids).index(name) for name in GROUPS]
    return [advantages[i, -1].item() for i in first_correct]


def markdown() -> str:
    lines = ["| estimator | reward | " + " | ".join(GROUPS) + " |", "| --- | --- |" + " ---: |" * len(GROUPS)]
    for label, (estimator, kwargs) in ESTIMATORS.items():
        for focal in (False, True):
            values = correct_advantages(estimator, kwargs, focal)
            reward = "format + focal" if focal else "format + accuracy"
            lines.append(f"| {label} | {reward} | " + " | ".join(f"{value:+.3f}" for value in values) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown())
