"""The GPG paper's advantage as a verl advantage estimator (``algorithm.adv_estimator=gpg_paper``).

GPG (Chu et al. 2025, "GPG: A Simple and Strong Reinforcement Learning Baseline for Model Reasoning") uses

    Â_i = α · (r_i − mean(r_group)) / F_norm,    α = B / (B − M),

with B the number of groups (prompts) in the batch and M the number of groups whose rewards are all equal. Those
groups have zero advantages, so they dilute a token-mean loss; α scales the gradient back up as if the batch held
only informative groups. F_norm is 1 in the paper's default (its scripts run ``--scale_rewards False``) or the
group's std.

**How verl's built-in ``gpg`` differs.** verl 0.9.1's ``compute_gpg_outcome_advantage`` sets
``alpha = batch / count_nonzero(scores)``: responses, not groups, and "non-zero reward", not "group with signal".
With a format reward almost every response scores > 0, so verl's α stays ≈ 1 however many groups are all-correct
or all-wrong; with a 0/1 reward it counts zero-reward responses of informative groups too (a mixed 50 % group
raises it). ``alpha_comparison`` shows both on hand-built batches (``python -m recipes.estimators``).

**Which recipe uses which.** FAD-TQ builds on GPG, so its recipes (and its "GPG without judge" ablation) select
``algorithm.adv_estimator=gpg_paper`` with ``actor.policy_loss.loss_mode=gpg`` (verl's plain −log π·Â loss) and
``loss_agg_mode=token-mean`` (the paper's code averages over all tokens of the batch, so α does its job).
FAD-TQ's Eq. standardises by the group std: keep verl's default ``algorithm.norm_adv_by_std_in_grpo=True``
there; set it to ``False`` for the GPG paper's F_norm = 1. verl's ``gpg`` stays available for comparison only;
LAD-Reasoner uses ``grpo``.

**Registration.** Importing this module registers ``gpg_paper`` in verl's ``ADV_ESTIMATOR_REGISTRY``; it must
be imported in the process that computes advantages (the trainer's Ray actor), e.g. with
the ``verl.plugins`` entry point ``recipes.verl_plugin`` (loaded by ``verl/__init__.py`` on every ``import verl``)
or ``VERL_USE_EXTERNAL_MODULES=recipes.estimators`` (read at the same place).

**Threshold resampling (β_th).** The paper's code keeps generating mini-batches until the informative groups
reach ``min_inverse_alpha`` (β_th; 0.5 in its scripts) × B, fills the batch with informative groups first and
divides the loss by min(1, informative / B) — ``informative_group_share`` is that quantity. verl 0.9.1 has no key
for a partial threshold. Its only refill mechanism is DAPO's dynamic sampling in the V1 trainer
(``trainer.use_v1=true``, the default): ``algorithm.filter_groups.enable=true`` with
``algorithm.filter_groups.metric=reward`` (the summed ``rm_scores``; or a ``reward_extra_info`` key such as
``acc``) and ``algorithm.filter_groups.max_inflight_gen_batches`` (``max_num_gen_batches`` is ignored by the V1
``ReplayBuffer``). It evicts *every* group whose metric has zero std and refills until ``data.train_batch_size``
informative groups are ready (``verl/trainer/ppo/v1/replay_buffer.py``: ``_dapo_filtered_keys``, ``sample``),
i.e. β_th = 1: then M = 0 and ``gpg_paper``'s α is 1. Anything between needs a custom sampler
(``trainer.v1.sampler.custom_sampler.{path,name}``, a ``ReplayBuffer`` subclass); none is implemented here.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from verl.trainer.ppo.core_algos import (
    compute_gpg_outcome_advantage,
    compute_grpo_outcome_advantage,
    register_adv_est,
)

__all__ = [
    "EXAMPLE_BATCHES",
    "RewardBatch",
    "alpha_comparison",
    "alpha_table_markdown",
    "compute_gpg_paper_advantage",
    "gpg_paper_alpha",
    "informative_group_share",
]


class _GroupStats(NamedTuple):
    group: torch.Tensor  # (bs,) dense group id of each response
    mean: torch.Tensor  # (groups,) baseline; 0 for single-response groups (verl's convention)
    std: torch.Tensor  # (groups,) unbiased std; 1 for single-response groups (verl's convention)
    informative: torch.Tensor  # (groups,) bool: the group's advantages are not all zero


def _group_stats(scores: torch.Tensor, index: np.ndarray | Sequence[Hashable], epsilon: float) -> _GroupStats:
    """Per-group baseline, std and "has signal", with verl's GRPO/GPG conventions.

    A group of ≥ 2 responses is informative when its rewards differ by more than ``epsilon`` (max − min), so float
    noise does not count as signal. verl gives a single-response group mean 0 and std 1 (its advantage is the
    reward itself); such a group is informative when that reward is non-zero.
    """
    ids: dict[Hashable, int] = {}
    group = torch.tensor([ids.setdefault(uid, len(ids)) for uid in index], dtype=torch.long)
    n_groups = len(ids)
    counts = torch.bincount(group, minlength=n_groups)
    zeros = torch.zeros(n_groups, dtype=scores.dtype)
    sums = zeros.index_add(0, group, scores)
    mean = sums / counts
    squares = zeros.index_add(0, group, (scores - mean[group]) ** 2)
    std = torch.sqrt(squares / (counts - 1).clamp(min=1))
    spread = zeros.scatter_reduce(0, group, scores, "amax", include_self=False) - zeros.scatter_reduce(
        0, group, scores, "amin", include_self=False
    )
    single = counts == 1
    mean = torch.where(single, 0.0, mean)
    std = torch.where(single, 1.0, std)
    informative = torch.where(single, sums.abs(), spread) > epsilon
    return _GroupStats(group, mean, std, informative)


def _alpha(informative: torch.Tensor) -> float:
    """B / (B − M); 1.0 when no group is informative (every advantage is 0 then, so α is moot)."""
    n_informative = int(informative.sum())
    return informative.numel() / n_informative if n_informative else 1.0


def informative_group_share(
    scores: torch.Tensor, index: np.ndarray | Sequence[Hashable], epsilon: float = 1e-6
) -> float:
    """(B − M) / B: the share of groups with a learning signal, which the paper compares with β_th."""
    informative = _group_stats(scores, index, epsilon).informative
    return float(informative.float().mean())


def gpg_paper_alpha(scores: torch.Tensor, index: np.ndarray | Sequence[Hashable], epsilon: float = 1e-6) -> float:
    """The paper's α = B / (B − M) for per-response ``scores`` grouped by ``index``; 1.0 if M = B."""
    return _alpha(_group_stats(scores, index, epsilon).informative)


def compute_gpg_paper_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index: np.ndarray,
    epsilon: float = 1e-6,
    config: Any = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GPG advantages Â_i = α·(r_i − mean_group)[/ (std_group + ε)], broadcast over the response tokens.

    Called by verl's ``compute_advantage`` with ``token_level_rewards``/``response_mask`` (bs, response_length),
    ``index`` (the ``uid`` of each response's prompt) and ``config`` (``algorithm``); other kwargs
    (``reward_baselines``) are ignored. The std is used only when ``config.norm_adv_by_std_in_grpo`` is true (verl's
    ``AlgoConfig`` defaults it to true, so set it to false for the paper's F_norm = 1). Uninformative groups get
    exactly 0. Returns (advantages, returns), both equal, as verl's outcome estimators do.
    """
    use_std = bool(config.get("norm_adv_by_std_in_grpo", False)) if config is not None else False
    with torch.no_grad():
        scores = token_level_rewards.sum(dim=-1)
        stats = _group_stats(scores, index, epsilon)
        centred = scores - stats.mean[stats.group]
        if use_std:
            centred = centred / (stats.std[stats.group] + epsilon)
        advantages = torch.where(stats.informative[stats.group], _alpha(stats.informative) * centred, 0.0)
        advantages = advantages.unsqueeze(-1) * response_mask
    return advantages, advantages


# ``python -m recipes.estimators`` executes this file a second time, as ``__main__``, after verl's plugin hook has
# imported it as ``recipes.estimators``; verl refuses a second function under one name, so only the module registers.
if __name__ != "__main__":
    register_adv_est("gpg_paper")(compute_gpg_paper_advantage)


class RewardBatch(NamedTuple):
    """A hand-built batch: one scalar reward and one prompt uid per response."""

    name: str
    scores: tuple[float, ...]
    uids: tuple[str, ...]


def _grouped(name: str, *groups: tuple[float, ...]) -> RewardBatch:
    scores = tuple(r for group in groups for r in group)
    uids = tuple(f"p{g}" for g, group in enumerate(groups) for _ in group)
    return RewardBatch(name, scores, uids)


EXAMPLE_BATCHES: tuple[RewardBatch, ...] = (
    _grouped("0/1 accuracy, all groups mixed", (1, 0, 0, 1), (0, 1, 1, 1), (1, 0, 0, 0)),
    _grouped("0/1 accuracy, one group all correct", (1, 1, 1, 1), (1, 0, 0, 0), (0, 1, 1, 0)),
    _grouped("0/1 accuracy, one all correct, one all wrong", (1, 1, 1, 1), (0, 0, 0, 0), (1, 0, 1, 0)),
    _grouped(
        "format 0.5 + accuracy, all groups mixed", (1.5, 0.5, 0.5, 1.5), (0.5, 1.5, 1.5, 1.5), (1.5, 0.5, 0.5, 0.5)
    ),
    _grouped("format 0.5 + accuracy, one all correct, one all wrong", (1.5,) * 4, (1.5, 0.5, 0.5, 0.5), (0.5,) * 4),
    _grouped("0/1 accuracy, no group informative", (1, 1, 1, 1), (0, 0, 0, 0), (1, 1, 1, 1)),
)


def _sequence_advantages(fn: Any, scores: torch.Tensor, uids: np.ndarray, **kwargs: Any) -> torch.Tensor:
    token_level = scores.unsqueeze(-1)
    advantages, _ = fn(
        token_level_rewards=token_level, response_mask=torch.ones_like(token_level), index=uids, **kwargs
    )
    return advantages.squeeze(-1)


def alpha_comparison(batches: Sequence[RewardBatch]) -> list[dict[str, Any]]:
    """verl's ``gpg`` α, the paper's α and the informative share for each batch.

    verl's α is read off verl's own output: its ``gpg`` advantages divided by its ``grpo`` advantages without std
    (the same centring, α = 1), as a least-squares ratio; ``None`` when every centred reward is 0 (α has no effect).
    """
    rows = []
    for batch in batches:
        scores = torch.tensor(batch.scores, dtype=torch.float32)
        uids = np.array(batch.uids, dtype=object)
        gpg = _sequence_advantages(compute_gpg_outcome_advantage, scores, uids)
        centred = _sequence_advantages(compute_grpo_outcome_advantage, scores, uids, norm_adv_by_std_in_grpo=False)
        norm = float((centred * centred).sum())
        informative = _group_stats(scores, uids, 1e-6).informative
        rows.append(
            {
                "batch": batch.name,
                "responses": len(batch.scores),
                "nonzero_rewards": int(torch.count_nonzero(scores)),
                "groups": informative.numel(),
                "uninformative_groups": int((~informative).sum()),
                "informative_share": float(informative.float().mean()),
                "verl_gpg_alpha": float((gpg * centred).sum()) / norm if norm > 0 else None,
                "paper_alpha": _alpha(informative),
            }
        )
    return rows


def alpha_table_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The rows of ``alpha_comparison`` as a Markdown table (for the recipe README)."""
    lines = [
        "| batch (groups of 4) | non-zero rewards | B | M | informative share (B−M)/B | verl `gpg` α | paper α |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        verl_alpha = "n/a (all advantages 0)" if row["verl_gpg_alpha"] is None else f"{row['verl_gpg_alpha']:.3f}"
        lines.append(
            f"| {row['batch']} | {row['nonzero_rewards']}/{row['responses']} | {row['groups']} "
            f"| {row['uninformative_groups']} | {row['informative_share']:.3f} | {verl_alpha} "
            f"| {row['paper_alpha']:.3f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(alpha_table_markdown(alpha_comparison(EXAMPLE_BATCHES)))
