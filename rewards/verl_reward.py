"""verl's entry point for every recipe: ``reward.custom_reward_function.path=pkg://rewards.verl_reward`` with
``name=compute_score``.

``compute_score`` is async and scores every composite (the judge only for ``fad_tq``). Importing this module also
registers the ``iad_group`` reward manager, so it is registered in every process that loads the reward function,
Ray's reward-loop workers included.
"""

from rewards.group_manager import GroupRewardManager
from rewards.thinking_quality import compute_score_async as compute_score

__all__ = ["GroupRewardManager", "compute_score"]
