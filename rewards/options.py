"""What a recipe may set in ``reward.custom_reward_function.reward_kwargs``, checked before any sample is scored.

verl passes ``reward_kwargs`` to ``compute_score`` as keyword arguments, so a misspelt key would otherwise be
swallowed and change nothing; here every key must be a field of ``RewardOptions`` and every weight and judge
option a known one, and the error lists the valid names. ``recipes.preflight`` scores sample rows with the
recipe's options, so a typo fails there, before the cluster starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any, Final

from data_prep.prompts import TOOL_CALL_BUDGET
from rewards.focal import FOCAL_ALPHA, FOCAL_GAMMA
from rewards.judge import JudgeConfig

JUDGE_WHEN: Final = ("correct_train", "correct", "always", "never")
DEFAULT_GROUP_TIMEOUT_S: Final = 900.0


def _unknown(given: Mapping[str, Any], valid: set[str], what: str) -> None:
    unknown = sorted(set(given) - valid)
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; valid: {sorted(valid)}")


@dataclass(frozen=True)
class RewardWeights:
    """Weight of each component in ``score``; the papers use 1 for all."""

    format: float = 1.0
    accuracy: float = 1.0
    focal: float = 1.0
    tq: float = 1.0
    localization: float = 1.0
    crop: float = 1.0  # agentic: the last zoom's IoU with the defect (rewards.tool_use)
    tool_penalty: float = 0.5  # agentic: subtracted per tool call past tool_budget

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> RewardWeights:
        if not values:
            return cls()
        _unknown(values, {f.name for f in fields(cls)}, "reward weights")
        return replace(cls(), **{key: float(value) for key, value in values.items()})


@dataclass(frozen=True)
class RewardOptions:
    """``reward_kwargs``: which composite, its weights, and how the judge and the focal reward behave."""

    composite: str | None = None  # None: the composite of the paper that defined the row's protocol
    weights: RewardWeights = RewardWeights()
    require_format: bool = True  # an answer counts only in a well-formed response (``rewards.rules``)
    judge_when: str = "correct_train"  # fad_tq: when the judge is asked (see ``rewards.thinking_quality``)
    judge_url: str | None = None  # fad_tq: an OpenAI-compatible judge; else verl's reward model, else IAD_JUDGE_URL
    judge_options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # ``JudgeConfig`` fields
    focal_alpha: float = FOCAL_ALPHA  # lr_iad (``rewards.focal``)
    focal_gamma: float = FOCAL_GAMMA
    group_timeout_s: float = DEFAULT_GROUP_TIMEOUT_S  # iad_group manager: longest wait for a group's rollouts
    tool_budget: int = TOOL_CALL_BUDGET  # agentic: calls past this many are penalised (rewards.tool_use)

    def __post_init__(self) -> None:
        if self.judge_when not in JUDGE_WHEN:
            raise ValueError(f"judge_when={self.judge_when!r} is not one of {JUDGE_WHEN}")
        _unknown(self.judge_options, {f.name for f in fields(JudgeConfig)}, "judge_options")
        if self.group_timeout_s <= 0:
            raise ValueError(f"group_timeout_s must be > 0, got {self.group_timeout_s}")

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any] | None) -> RewardOptions:
        """The options from verl's ``reward_kwargs`` (plain dicts or OmegaConf nodes); unknown keys are errors."""
        values = dict(kwargs or {})
        _unknown(values, {f.name for f in fields(cls)}, "reward_kwargs")
        if "weights" in values:
            values["weights"] = RewardWeights.from_mapping(values["weights"])
        if values.get("judge_options") is not None:
            values["judge_options"] = MappingProxyType(dict(values["judge_options"]))
        else:
            values.pop("judge_options", None)
        return cls(**values)
