"""The group ledger behind ``iad_group``: shares per uid, bounded waits, and no state left behind."""

from __future__ import annotations

import asyncio
import time

from rewards.group_manager import GroupLedger


def test_share_is_reported_once_the_group_is_complete() -> None:
    async def run() -> list[float]:
        ledger = GroupLedger()
        flags = [True, False, True, True]
        shares = await asyncio.gather(*(ledger.report("u", flag, expected=4, timeout_s=5) for flag in flags))
        assert ledger.size() == 0  # every rollout has read its share: the group is forgotten
        return shares

    assert asyncio.run(run()) == [0.75] * 4


def test_incomplete_group_falls_back_to_those_that_reported_after_the_timeout() -> None:
    async def run() -> list[float]:
        ledger = GroupLedger()
        return await asyncio.gather(*(ledger.report("u", flag, expected=4, timeout_s=0.2) for flag in (True, False)))

    started = time.monotonic()
    assert asyncio.run(run()) == [0.5, 0.5]
    assert time.monotonic() - started < 2


def test_groups_do_not_mix() -> None:
    async def run() -> tuple[float, float]:
        ledger = GroupLedger()
        a, b = await asyncio.gather(
            ledger.report("a", True, expected=1, timeout_s=1), ledger.report("b", False, expected=1, timeout_s=1)
        )
        return a, b

    assert asyncio.run(run()) == (1.0, 0.0)
