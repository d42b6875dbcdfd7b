"""Seeded choices are reproducible and independent of input order."""

from __future__ import annotations

import pytest

from data_prep.sampling import choose_references, sample_without_replacement

POOL = [f"train/good/{i:03d}.png" for i in range(50)]


def test_same_key_and_seed_give_same_sample() -> None:
    assert sample_without_replacement(POOL, 5, "k", 0) == sample_without_replacement(POOL, 5, "k", 0)


def test_input_order_does_not_matter() -> None:
    assert sample_without_replacement(POOL, 5, "k", 0) == sample_without_replacement(POOL[::-1], 5, "k", 0)


def test_seed_and_key_change_the_sample() -> None:
    base = sample_without_replacement(POOL, 5, "k", 0)
    assert base != sample_without_replacement(POOL, 5, "k", 1)
    assert base != sample_without_replacement(POOL, 5, "other", 0)


def test_no_repeats_and_too_many_is_an_error() -> None:
    assert len(set(sample_without_replacement(POOL, 50, "k", 0))) == 50
    with pytest.raises(ValueError, match="cannot draw 51 from 50"):
        sample_without_replacement(POOL, 51, "k", 0)


def test_fixed_sampling_shares_references_across_queries() -> None:
    picks = {
        tuple(choose_references(POOL, 2, sampling="fixed", query_key=q, group_key="cat", seed=0)) for q in "abcdef"
    }
    assert len(picks) == 1


def test_random_sampling_varies_by_query() -> None:
    picks = {
        tuple(choose_references(POOL, 2, sampling="random", query_key=q, group_key="cat", seed=0)) for q in "abcdef"
    }
    assert len(picks) > 1
