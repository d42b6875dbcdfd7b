"""Seeded choices that do not depend on order, process or Python's hash salt.

Each choice draws from its own generator, keyed by what it is for (a query's path, a category), so adding a
category or reordering rows never changes the choices made for the others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Final

import numpy as np

REFERENCE_SAMPLING: Final = ("random", "fixed")


def rng_for(key: str, seed: int) -> np.random.Generator:
    """A generator that depends only on ``key`` and ``seed``."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def sample_without_replacement(items: Sequence[str], n: int, key: str, seed: int) -> list[str]:
    """``n`` items drawn from ``items`` (taken in sorted order, so the input order does not matter)."""
    pool = sorted(items)
    if n > len(pool):
        raise ValueError(f"cannot draw {n} from {len(pool)} items for {key}")
    picks = rng_for(key, seed).choice(len(pool), size=n, replace=False)
    return [pool[i] for i in picks]


def choose_references(
    pool: Sequence[str], k: int, *, sampling: str, query_key: str, group_key: str, seed: int
) -> list[str]:
    """``k`` normal references: per query (``random``) or one set per category (``fixed``)."""
    if sampling not in REFERENCE_SAMPLING:
        raise ValueError(f"reference sampling {sampling!r} is not one of {REFERENCE_SAMPLING}")
    key = f"references/{group_key}" if sampling == "fixed" else f"references/{query_key}"
    return sample_without_replacement(pool, k, key, seed)
