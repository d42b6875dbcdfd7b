"""LR-IAD's focal reward and the estimate of the probability ``p`` it needs.

LR-IAD (Sec. III-B2, Eq. 4): ``R_focal = α · (1 − p)^γ · f``, "inspired by the focal loss mechanism", with ``p``
"the predicted probability of the correct answer", so confident correct answers earn little and hard samples a
lot. The paper gives no values for α and γ (its only α is LoRA's) and leaves ``f`` a loosely defined "scaling
factor"; here ``f`` is the correctness indicator (the reward is 0 for a wrong answer), and the defaults are the
focal loss paper's (Lin et al., ICCV 2017, the paper's ref. [38]): γ = 2, its recommended focusing parameter, and
α = 1, the unweighted form, which keeps the reward in [0, 1] like the format reward it is summed with (Eq. 6).

``p`` is the share of the prompt's GRPO group that answered correctly (``group_correct_share``, no log-probs
needed). The other reading the paper allows, the policy's probability of its own answer tokens, would need the
rollout's log-probs in the reward's batch, which verl 0.9.1 does not pass (``rewards.group_manager``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Final

FOCAL_ALPHA: Final = 1.0
FOCAL_GAMMA: Final = 2.0


def focal_reward(correct: bool, p: float, *, alpha: float = FOCAL_ALPHA, gamma: float = FOCAL_GAMMA) -> float:
    """``alpha · (1 − p)^gamma`` for a correct answer, 0 for a wrong one; lies in [0, alpha]."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"focal reward needs a probability 0 <= p <= 1, got p={p!r}")
    if not 0.0 <= gamma < math.inf:
        raise ValueError(f"focal reward needs a finite focusing parameter gamma >= 0, got gamma={gamma!r}")
    if not 0.0 <= alpha < math.inf:
        raise ValueError(f"focal reward needs a finite scale alpha >= 0, got alpha={alpha!r}")
    return alpha * (1.0 - p) ** gamma if correct else 0.0


def group_correct_share(group_ids: Sequence[Hashable], correct: Sequence[bool]) -> list[float]:
    """For each sample, the share of its group (same uid: one prompt's rollouts) that answered correctly."""
    if len(group_ids) != len(correct):
        raise ValueError(f"{len(group_ids)} group ids but {len(correct)} correctness flags")
    sizes = Counter(group_ids)
    hits = Counter(group for group, ok in zip(group_ids, correct, strict=True) if ok)
    return [hits[group] / sizes[group] for group in group_ids]
