"""``iad_group``: verl's naive reward manager plus a group stage, for rewards that depend on the whole group.

LR-IAD's focal reward needs ``p``, the share of a prompt's rollouts that answered correctly, but verl 0.9.1
scores each rollout on its own, as soon as it is generated, on a randomly chosen reward-loop worker. This manager
reports each rollout's correctness to a ledger keyed by the prompt's ``uid`` and waits until all ``n`` rollouts
of that prompt have reported (or a timeout passes, after which the share of those that did is used); then it
passes ``extra_info["focal_p"]`` to ``compute_score``. Inside Ray the ledger is one named actor that every
reward-loop worker shares; outside Ray it is an in-process object.

The other estimate of ``p`` LR-IAD's wording allows, the policy's probability of its own answer, is not
possible here: verl 0.9.1 builds the reward's batch from prompt and response ids only
(``experimental/agent_loop/agent_loop.py``, ``_compute_score``), without rollout log-probs.

Registered with verl's reward-loop registry (``reward.reward_manager.name=iad_group``) by importing this module,
which ``rewards.verl_reward`` (the custom reward function's module) does in every process that loads rewards.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from verl import DataProto
from verl.experimental.reward_loop.reward_manager import register
from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager

from rewards.options import DEFAULT_GROUP_TIMEOUT_S, RewardOptions
from rewards.rules import score_rules
from rewards.tool_use import scored_response

LEDGER_ACTOR_NAME: Final = "iad_reward_group_ledger"
logger = logging.getLogger(__name__)


@dataclass
class _Group:
    expected: int
    correct: list[bool] = field(default_factory=list)
    answered: int = 0
    complete: asyncio.Event = field(default_factory=asyncio.Event)
    created: float = field(default_factory=time.monotonic)


class GroupLedger:
    """Collects each group's correctness flags; ``report`` returns the group's share once all have reported."""

    def __init__(self, max_age_s: float = 4 * DEFAULT_GROUP_TIMEOUT_S) -> None:
        self.groups: dict[str, _Group] = {}
        self.max_age_s = max_age_s

    async def report(self, uid: str, correct: bool, expected: int, timeout_s: float) -> float:
        self._forget_old()
        group = self.groups.setdefault(uid, _Group(expected=max(1, expected)))
        group.correct.append(bool(correct))
        if len(group.correct) >= group.expected:
            group.complete.set()
        try:
            await asyncio.wait_for(group.complete.wait(), timeout_s)
        except TimeoutError:
            logger.warning(
                "group %s: %d of %d rollouts reported in %.0f s", uid, len(group.correct), expected, timeout_s
            )
        share = sum(group.correct) / len(group.correct)
        group.answered += 1
        if group.answered >= len(group.correct) and group.complete.is_set():
            self.groups.pop(uid, None)
        return share

    def _forget_old(self) -> None:
        now = time.monotonic()
        for uid in [uid for uid, group in self.groups.items() if now - group.created > self.max_age_s]:
            del self.groups[uid]

    def size(self) -> int:
        return len(self.groups)


def _ray_ledger():
    """The named ledger actor shared by every reward-loop worker of the Ray cluster, created on first use."""
    import ray

    # num_cpus=0: a bookkeeping actor must not take a CPU slot that a reward or rollout worker is waiting for
    actor = ray.remote(GroupLedger).options(
        name=LEDGER_ACTOR_NAME, get_if_exists=True, max_concurrency=10_000, num_cpus=0
    )
    return actor.remote()


def _group_size(config: Any, split: str | None) -> int:
    rollout = config.actor_rollout_ref.rollout
    return int(rollout.n if split == "train" else rollout.val_kwargs.n)


def _reward_kwargs(config: Any) -> Mapping[str, Any]:
    custom = config.reward.get("custom_reward_function") or {}
    return custom.get("reward_kwargs") or {}


@register("iad_group")
class GroupRewardManager(NaiveRewardManager):
    """The naive manager with ``extra_info["focal_p"]`` from the rollout's group (see the module docstring)."""

    def __init__(self, config, tokenizer, compute_score, reward_router_address=None, reward_model_tokenizer=None):
        super().__init__(config, tokenizer, compute_score, reward_router_address, reward_model_tokenizer)
        options = RewardOptions.from_kwargs(_reward_kwargs(config))
        self.group_timeout_s = options.group_timeout_s
        self.require_format = options.require_format
        self._local_ledger = GroupLedger()
        self._ray_ledger = None

    async def _share(self, uid: str, correct: bool, expected: int) -> float:
        import ray

        if not ray.is_initialized():
            return await self._local_ledger.report(uid, correct, expected, self.group_timeout_s)
        if self._ray_ledger is None:
            self._ray_ledger = _ray_ledger()
        return await self._ray_ledger.report.remote(uid, correct, expected, self.group_timeout_s)

    async def run_single(self, data: DataProto) -> dict:
        item = data[-1:][0]
        response_ids = item.batch["responses"]
        valid_length = item.batch["attention_mask"][-response_ids.shape[-1] :].sum()
        response = await self.loop.run_in_executor(
            None, lambda: self.tokenizer.decode(response_ids[:valid_length], skip_special_tokens=True)
        )
        data_source = item.non_tensor_batch["data_source"]
        ground_truth = item.non_tensor_batch["reward_model"]["ground_truth"]
        extra_info = dict(item.non_tensor_batch.get("extra_info", {}) or {})
        extra_info.update(item.non_tensor_batch.get("tool_extra_fields", None) or {})  # as verl's naive manager
        answered = scored_response(response, extra_info)
        correct = score_rules(answered, ground_truth, data_source, require_format=self.require_format).correct
        uid = item.non_tensor_batch.get("uid")
        if uid is None:  # not a GRPO-style group: the rollout is its own group
            extra_info["focal_p"] = 1.0 if correct else 0.0
        else:
            expected = _group_size(self.config, extra_info.get("split"))
            extra_info["focal_p"] = await self._share(str(uid), correct, expected)

        kwargs = dict(data_source=data_source, solution_str=response, ground_truth=ground_truth, extra_info=extra_info)
        if self.reward_router_address is not None:
            kwargs.update(reward_router_address=self.reward_router_address)
            kwargs.update(reward_model_tokenizer=self.reward_model_tokenizer)
        if self.is_async_reward_score:
            result = await self.compute_score(**kwargs)
        else:
            result = await self.loop.run_in_executor(None, lambda: self.compute_score(**kwargs))
        if not isinstance(result, dict):
            return {"reward_score": float(result), "reward_extra_info": {"acc": float(result)}}
        return {"reward_score": result["score"], "reward_extra_info": dict(result)}
