"""LR-IAD's focal reward and the two estimates of p."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rewards.focal import FOCAL_ALPHA, FOCAL_GAMMA, focal_reward, group_correct_share

probabilities = st.floats(min_value=0.0, max_value=1.0)
scales = st.floats(min_value=0.0, max_value=10.0)


def test_defaults_are_the_focal_loss_papers() -> None:
    assert (FOCAL_ALPHA, FOCAL_GAMMA) == (1.0, 2.0)


def test_correct_answer_earns_alpha_times_one_minus_p_to_the_gamma() -> None:
    assert focal_reward(True, 0.25, alpha=2.0, gamma=3.0) == pytest.approx(2.0 * 0.75**3)


def test_defaults_apply_when_not_given() -> None:
    assert focal_reward(True, 0.5) == pytest.approx(0.25)


def test_wrong_answer_earns_zero() -> None:
    assert focal_reward(False, 0.0, alpha=1.0, gamma=2.0) == 0.0


def test_certain_correct_answer_earns_zero() -> None:
    assert focal_reward(True, 1.0, alpha=1.0, gamma=2.0) == 0.0


def test_hardest_correct_answer_earns_alpha() -> None:
    assert focal_reward(True, 0.0, alpha=0.5, gamma=2.0) == 0.5


def test_gamma_zero_is_a_plain_scaled_accuracy() -> None:
    assert focal_reward(True, 1.0, alpha=0.5, gamma=0.0) == 0.5


@pytest.mark.parametrize("p", [-0.01, 1.01, math.nan, math.inf])
def test_probability_outside_zero_one_is_an_error(p: float) -> None:
    with pytest.raises(ValueError, match="0 <= p <= 1"):
        focal_reward(True, p, alpha=1.0, gamma=2.0)


@pytest.mark.parametrize("gamma", [-1.0, math.nan, math.inf])
def test_negative_or_non_finite_gamma_is_an_error(gamma: float) -> None:
    with pytest.raises(ValueError, match="gamma >= 0"):
        focal_reward(True, 0.5, alpha=1.0, gamma=gamma)


@pytest.mark.parametrize("alpha", [-1.0, math.nan, math.inf])
def test_negative_or_non_finite_alpha_is_an_error(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha >= 0"):
        focal_reward(True, 0.5, alpha=alpha, gamma=2.0)


def test_group_share_is_per_group() -> None:
    shares = group_correct_share(["u1", "u2", "u1", "u2", "u1", "u1"], [True, False, False, False, True, True])
    assert shares == [0.75, 0.0, 0.75, 0.0, 0.75, 0.75]


def test_group_share_of_nothing_is_empty() -> None:
    assert group_correct_share([], []) == []


def test_group_share_needs_one_flag_per_sample() -> None:
    with pytest.raises(ValueError, match="3 group ids but 2 correctness flags"):
        group_correct_share([0, 0, 1], [True, False])


@given(st.booleans(), probabilities, scales, scales)
def test_focal_reward_lies_in_zero_alpha(correct: bool, p: float, alpha: float, gamma: float) -> None:
    assert 0.0 <= focal_reward(correct, p, alpha=alpha, gamma=gamma) <= alpha


@given(probabilities, probabilities, scales, scales)
def test_harder_correct_answers_earn_no_less(p: float, q: float, alpha: float, gamma: float) -> None:
    harder, easier = sorted((p, q))
    assert focal_reward(True, harder, alpha=alpha, gamma=gamma) >= focal_reward(True, easier, alpha=alpha, gamma=gamma)


@given(st.lists(st.tuples(st.integers(0, 3), st.booleans()), max_size=40))
def test_group_share_is_the_groups_mean_correctness(samples: list[tuple[int, bool]]) -> None:
    ids, correct = [group for group, _ in samples], [ok for _, ok in samples]
    for group, share in zip(ids, group_correct_share(ids, correct), strict=True):
        members = [ok for other, ok in samples if other == group]
        assert share == pytest.approx(sum(members) / len(members))
