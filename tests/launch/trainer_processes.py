"""Find the processes of a CPU training run that this test started, to kill them the way a failure would."""

from __future__ import annotations

import psutil


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def trainer_process() -> psutil.Process | None:
    """The one ``recipes.train`` process among this process's descendants, if it is running."""
    trainers = [p for p in psutil.Process().children(recursive=True) if "recipes.train" in " ".join(_cmdline(p))]
    assert len(trainers) <= 1, f"expected at most one recipes.train among this test's processes, found {len(trainers)}"
    return trainers[0] if trainers else None
