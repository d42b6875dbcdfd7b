"""The GPG paper's advantage (``gpg_paper``) against hand-computed numbers and verl 0.9.1's own estimators.

Every expected value below is worked out by hand in the comment above it: group means, (unbiased) stds,
α = B / (B − M) with B groups and M groups whose rewards are all equal.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf
from verl import DataProto
from verl.trainer.config import AlgoConfig
from verl.trainer.ppo.core_algos import get_adv_estimator_fn
from verl.trainer.ppo.ray_trainer import compute_advantage

from recipes.estimators import (
    EXAMPLE_BATCHES,
    alpha_comparison,
    alpha_table_markdown,
    compute_gpg_paper_advantage,
    gpg_paper_alpha,
    informative_group_share,
)

GROUPS_OF_FOUR = np.array(["p0"] * 4 + ["p1"] * 4 + ["p2"] * 4, dtype=object)
# 0/1 accuracy; p0 all correct (no signal), p1 one of four correct, p2 two of four correct
ONE_ALL_CORRECT = [1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0]
# format 0.5 + accuracy 1: every reward is non-zero; p0 all correct, p2 all wrong (both without signal)
FORMAT_TWO_FLAT = [1.5, 1.5, 1.5, 1.5, 1.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
# format 0.5 + accuracy 1, every group mixed
FORMAT_ALL_MIXED = [1.5, 0.5, 0.5, 1.5, 0.5, 1.5, 1.5, 1.5, 1.5, 0.5, 0.5, 0.5]


def sequence_advantages(
    estimator: str, scores: list[float], uids: np.ndarray, **kwargs: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """(advantages, returns) of one-token responses, through verl's registry."""
    token_level = torch.tensor(scores, dtype=torch.float32).unsqueeze(-1)
    advantages, returns = get_adv_estimator_fn(estimator)(
        token_level_rewards=token_level, response_mask=torch.ones_like(token_level), index=uids, **kwargs
    )
    return advantages.squeeze(-1), returns.squeeze(-1)


def assert_values(actual: torch.Tensor, expected: list[float]) -> None:
    torch.testing.assert_close(actual, torch.tensor(expected, dtype=torch.float32), atol=1e-5, rtol=1e-5)


def test_registered_in_verls_registry() -> None:
    assert get_adv_estimator_fn("gpg_paper") is compute_gpg_paper_advantage


def test_one_all_correct_group_gives_alpha_one_and_a_half() -> None:
    scores = torch.tensor(ONE_ALL_CORRECT)
    # B = 3 groups, M = 1 (p0): share 2/3, α = 3 / 2
    assert informative_group_share(scores, GROUPS_OF_FOUR) == pytest.approx(2 / 3)
    assert gpg_paper_alpha(scores, GROUPS_OF_FOUR) == pytest.approx(1.5)
    advantages, returns = sequence_advantages("gpg_paper", ONE_ALL_CORRECT, GROUPS_OF_FOUR)
    # p0: 0; p1 mean 0.25 → 1.5 · (0.75, −0.25, −0.25, −0.25); p2 mean 0.5 → 1.5 · (−0.5, 0.5, 0.5, −0.5)
    expected = [0, 0, 0, 0, 1.125, -0.375, -0.375, -0.375, -0.75, 0.75, 0.75, -0.75]
    assert_values(advantages, expected)
    assert torch.equal(returns, advantages)


def test_std_normalisation_follows_verls_algo_config_flag() -> None:
    advantages, _ = sequence_advantages(
        "gpg_paper", ONE_ALL_CORRECT, GROUPS_OF_FOUR, config=AlgoConfig(norm_adv_by_std_in_grpo=True)
    )
    # p1: std = sqrt((0.75² + 3 · 0.25²) / 3) = 0.5 → 1.5 · (1.5, −0.5, −0.5, −0.5)
    # p2: std = sqrt(4 · 0.5² / 3) = 0.57735 → 1.5 · ±0.5 / 0.57735 = ±1.2990381
    expected = [0, 0, 0, 0, 2.25, -0.75, -0.75, -0.75, -1.2990381, 1.2990381, 1.2990381, -1.2990381]
    assert_values(advantages, expected)


@pytest.mark.parametrize(
    ("config", "uses_std"),
    [
        (None, False),
        (AlgoConfig(norm_adv_by_std_in_grpo=False), False),
        (AlgoConfig(norm_adv_by_std_in_grpo=True), True),
        (AlgoConfig(), True),  # verl's default is True: recipes wanting F_norm = 1 must set it to False
        (OmegaConf.create({"norm_adv_by_std_in_grpo": True}), True),  # what the V1 trainer passes
        (OmegaConf.create({"gamma": 1.0}), False),
    ],
)
def test_config_forms(config: Any, uses_std: bool) -> None:
    advantages, _ = sequence_advantages("gpg_paper", ONE_ALL_CORRECT, GROUPS_OF_FOUR, config=config)
    # p1's first response: 1.5 · 0.75 without std, 1.5 · 0.75 / 0.5 with it
    assert advantages[4].item() == pytest.approx(2.25 if uses_std else 1.125, rel=1e-5)


def test_matches_verl_gpg_when_every_group_is_informative_and_every_reward_non_zero() -> None:
    ours, _ = sequence_advantages("gpg_paper", FORMAT_ALL_MIXED, GROUPS_OF_FOUR)
    verl_gpg, _ = sequence_advantages("gpg", FORMAT_ALL_MIXED, GROUPS_OF_FOUR)
    # both α = 1; means 1.0, 1.25, 0.75
    expected = [0.5, -0.5, -0.5, 0.5, -0.75, 0.25, 0.25, 0.25, 0.75, -0.25, -0.25, -0.25]
    assert_values(ours, expected)
    assert_values(verl_gpg, expected)


def test_format_reward_keeps_verls_alpha_at_one_while_the_papers_is_three() -> None:
    ours, _ = sequence_advantages("gpg_paper", FORMAT_TWO_FLAT, GROUPS_OF_FOUR)
    verl_gpg, _ = sequence_advantages("gpg", FORMAT_TWO_FLAT, GROUPS_OF_FOUR)
    # verl: 12 responses / 12 non-zero rewards = 1; paper: B = 3, M = 2 → α = 3. Only p1 (mean 0.75) has signal.
    assert_values(verl_gpg, [0, 0, 0, 0, 0.75, -0.25, -0.25, -0.25, 0, 0, 0, 0])
    assert_values(ours, [0, 0, 0, 0, 2.25, -0.75, -0.75, -0.75, 0, 0, 0, 0])


def test_padding_tokens_get_zero() -> None:
    uids = np.array(["a", "a", "b", "b"], dtype=object)
    lengths = [3, 1, 2, 4]
    response_mask = torch.tensor([[int(t < n) for t in range(4)] for n in lengths])
    token_level = torch.zeros(4, 4)
    for row, (n, reward) in enumerate(zip(lengths, [1.0, 0.0, 1.0, 1.0], strict=True)):
        token_level[row, n - 1] = reward  # verl puts the outcome reward on the last response token
    advantages, returns = compute_gpg_paper_advantage(token_level, response_mask, uids)
    # a: mean 0.5 → ±0.5; b: all equal → 0; B = 2, M = 1 → α = 2
    expected = [[1, 1, 1, 0], [-1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert advantages.shape == token_level.shape and advantages.dtype == token_level.dtype
    assert_values(advantages, expected)
    assert torch.equal(returns, advantages)


def test_single_response_groups_use_verls_zero_baseline() -> None:
    uids = np.array(["a", "b", "b"], dtype=object)
    # a alone: baseline 0 (verl's convention) → advantage 0.7, informative; b: ±0.5; B = 2, M = 0 → α = 1
    ours, _ = sequence_advantages("gpg_paper", [0.7, 1.0, 0.0], uids)
    assert_values(ours, [0.7, 0.5, -0.5])
    verl_centred, _ = sequence_advantages("grpo", [0.7, 1.0, 0.0], uids, norm_adv_by_std_in_grpo=False)
    assert_values(verl_centred, [0.7, 0.5, -0.5])
    # a alone with reward 0 has no signal: B = 2, M = 1 → α = 2
    ours, _ = sequence_advantages("gpg_paper", [0.0, 1.0, 0.0], uids)
    assert_values(ours, [0.0, 1.0, -1.0])


def test_float_noise_is_not_signal() -> None:
    uids = np.array(["a", "a", "b", "b"], dtype=object)
    scores = [0.5, 0.5 + 1e-7, 1.0, 0.0]
    # a differs by ~1.2e-7 (float32) < ε: uninformative, exactly 0 even with std (verl's grpo gives it ±0.055);
    # b: std sqrt(0.5) → ±0.5 / 0.70711 = ±0.70711, α = 2
    ours, _ = sequence_advantages("gpg_paper", scores, uids, config=AlgoConfig(norm_adv_by_std_in_grpo=True))
    assert ours[:2].tolist() == [0.0, 0.0]
    assert_values(ours[2:], [1.4142136, -1.4142136])
    verl_grpo, _ = sequence_advantages("grpo", scores, uids)
    assert verl_grpo[0].item() == pytest.approx(-0.055, abs=1e-3)


def test_no_informative_group() -> None:
    scores = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    assert informative_group_share(torch.tensor(scores), GROUPS_OF_FOUR) == 0.0
    assert gpg_paper_alpha(torch.tensor(scores), GROUPS_OF_FOUR) == 1.0
    advantages, _ = sequence_advantages("gpg_paper", scores, GROUPS_OF_FOUR)
    assert advantages.tolist() == [0.0] * 12


def test_through_verls_compute_advantage() -> None:
    token_level = torch.zeros(12, 3)
    token_level[:, -1] = torch.tensor(FORMAT_TWO_FLAT)
    data = DataProto.from_dict(
        tensors={
            "token_level_rewards": token_level,
            "response_mask": torch.ones(12, 3, dtype=torch.int64),
            "reward_baselines": torch.zeros(12),  # passed on as a kwarg by verl; ignored
        },
        non_tensors={"uid": GROUPS_OF_FOUR},
    )
    data = compute_advantage(data, adv_estimator="gpg_paper", config=AlgoConfig(norm_adv_by_std_in_grpo=False))
    assert_values(data.batch["advantages"][:, 0], [0, 0, 0, 0, 2.25, -0.75, -0.75, -0.75, 0, 0, 0, 0])


def test_alpha_comparison_table() -> None:
    rows = alpha_comparison(EXAMPLE_BATCHES)
    # verl: responses / non-zero rewards (12/6, 12/7, 12/6, 12/12, 12/12, unobservable); paper: B / (B − M)
    assert [row["verl_gpg_alpha"] for row in rows] == pytest.approx([2.0, 12 / 7, 2.0, 1.0, 1.0, None])
    assert [row["paper_alpha"] for row in rows] == pytest.approx([1.0, 1.5, 3.0, 1.0, 3.0, 1.0])
    assert [row["informative_share"] for row in rows] == pytest.approx([1.0, 2 / 3, 1 / 3, 1.0, 1 / 3, 0.0])
    table = alpha_table_markdown(rows).splitlines()
    assert len(table) == 2 + len(EXAMPLE_BATCHES)
    assert table[-1].endswith("| n/a (all advantages 0) | 1.000 |")


def test_main_prints_the_table_when_verl_has_already_imported_the_module() -> None:
    # what verl's plugin hook does in every process: import recipes.estimators on ``import verl``
    env = {**os.environ, "VERL_USE_EXTERNAL_MODULES": "recipes.estimators"}
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-m", "recipes.estimators"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("| batch (groups of 4) |")
    assert len(result.stdout.splitlines()) == 2 + len(EXAMPLE_BATCHES)


# groups of 1..6 responses on a 0.25 grid (exact in float32), so equal rewards are exactly equal
reward_groups = st.lists(st.lists(st.integers(0, 6).map(lambda k: k * 0.25), min_size=1, max_size=6), min_size=1)


@settings(max_examples=200, deadline=None)
@given(groups=reward_groups.filter(lambda gs: len(gs) <= 8), use_std=st.booleans())
def test_informative_groups_sum_to_zero_and_flat_groups_are_exactly_zero(
    groups: list[list[float]], use_std: bool
) -> None:
    scores = [r for group in groups for r in group]
    uids = np.array([f"g{g}" for g, group in enumerate(groups) for _ in group], dtype=object)
    advantages, _ = sequence_advantages("gpg_paper", scores, uids, config=AlgoConfig(norm_adv_by_std_in_grpo=use_std))
    start = 0
    for group in groups:
        group_advantages = advantages[start : start + len(group)]
        start += len(group)
        if len(group) == 1:
            continue  # verl's zero baseline: the advantage is α · reward, nothing to sum to zero
        if max(group) == min(group):
            assert group_advantages.tolist() == [0.0] * len(group)
        else:
            assert abs(group_advantages.sum().item()) < 1e-4
