"""verl's synchronous V1 trainer, plus the reward's sub-scores as training metrics.

verl 0.9.1 logs ``reward_extra_info`` for validation only; during training the score is one number. Every
reward here returns named sub-scores (``rewards.composites.SUBSCORE_KEYS``: format, accuracy, thinking quality,
the judge's calls and failures, ...), and a run is only readable with them, so this trainer adds
``reward/<key>/mean`` and ``/std`` for each numeric sub-score and ``reward/judge_success_rate`` (judge answers that
parsed, over judge calls) to the metrics of every step.

It takes the place of verl's own ``sync`` trainer in verl's trainer registry rather than a mode of its own:
verl branches on ``trainer_mode == "sync"`` (replay buffer, refills, weight sync), so any other name would
change how the run trains. Both the registry entry and the protected ``_compute_metrics`` (the only place that
sees the step's batch before it is cleared from the TransferQueue) are verl internals;
``tests/cpu_support/test_verl_cpu_canary.py`` watches their sources.

It also sets how often verl's replay buffer looks for finished rollouts (``iad.replay_poll_s``): verl 0.9.1 hard-codes
2 s, so a step's generation takes a whole number of 2 s polls (4.02, 6.03 or 8.1 s where the tiny policy's rollouts
took less); the CPU overlay polls every 0.1 s, and on GPUs, where generation takes minutes, verl's 2 s stays.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from numbers import Real
from types import ModuleType
from typing import Any

TRAINER_MODE = "sync"  # verl's own mode name: verl's code paths for synchronous training key on it
WATCHED = (
    "verl.trainer.ppo.v1.trainer_base.PPOTrainer._compute_metrics",
    "verl.trainer.ppo.v1.trainer_base.get_trainer_cls",
    "verl.trainer.ppo.v1.trainer_base.PPOTrainer._build_replay_buffer",
    "verl.trainer.ppo.v1.replay_buffer.ReplayBuffer._wait_for_next_poll",  # sleeps poll_interval
)


def reward_component_metrics(extra_infos: Iterable[Mapping[str, Any] | None]) -> dict[str, float]:
    """Mean and spread of each numeric sub-score over the rollouts, and the judge's success rate where it was called.

    The spread (population std) says whether a sub-score tells rollouts apart: a judge that gives every response
    the same thinking quality has ``reward/tq/std`` 0 and adds nothing to any advantage.
    """
    values: dict[str, list[float]] = {}
    for info in extra_infos:
        for key, value in (info or {}).items():
            if isinstance(value, Real):  # bool and numpy scalars included
                values.setdefault(key, []).append(float(value))
    metrics: dict[str, float] = {}
    for key in sorted(values):
        mean = math.fsum(values[key]) / len(values[key])
        metrics[f"reward/{key}/mean"] = mean
        metrics[f"reward/{key}/std"] = math.sqrt(math.fsum((v - mean) ** 2 for v in values[key]) / len(values[key]))
    sums = {key: math.fsum(series) for key, series in values.items()}
    if sums.get("judge_called", 0.0) > 0:
        metrics["reward/judge_success_rate"] = sums.get("judge_ok", 0.0) / sums["judge_called"]
    return metrics


def register(trainer_sync: ModuleType) -> None:
    """Put the subclass behind verl's ``sync`` mode (called right after ``trainer_sync`` is imported)."""
    import numpy as np
    import transfer_queue as tq
    from verl.trainer.ppo.v1.trainer_base import TRAINER_REGISTRY

    if getattr(TRAINER_REGISTRY.get(TRAINER_MODE), "_iad_reward_metrics", False):
        return

    class IADPPOTrainerSync(trainer_sync.PPOTrainerSync):
        _iad_reward_metrics = True

        def _compute_metrics(self, batch, metrics, timing_raw, global_steps, epoch):  # noqa: ANN001, ANN202
            data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=["extra_fields"])
            keep = np.array([not tag.get("is_padding", False) for tag in batch.tags], dtype=bool)
            extra_fields = [field for field, kept in zip(data.pop("extra_fields").tolist(), keep, strict=True) if kept]
            infos = [field.get("reward_extra_info") if isinstance(field, dict) else None for field in extra_fields]
            metrics.update(reward_component_metrics(infos))
            return super()._compute_metrics(batch, metrics, timing_raw, global_steps, epoch)

        def _build_replay_buffer(self):  # noqa: ANN202
            buffer = super()._build_replay_buffer()
            buffer.poll_interval = float(self.config.iad.get("replay_poll_s", buffer.poll_interval))
            return buffer

    IADPPOTrainerSync.__module__, IADPPOTrainerSync.__qualname__ = __name__, "IADPPOTrainerSync"
    globals()["IADPPOTrainerSync"] = IADPPOTrainerSync
    # verl's register_trainer refuses to re-register a name; the subclass keeps every behaviour of the original
    TRAINER_REGISTRY[TRAINER_MODE] = IADPPOTrainerSync
