"""Check a recipe on a CPU login node, in about a minute, before any GPU is requested.

    python -m recipes.preflight fad_tq_gpg [hydra overrides] [--sample-rows 32]

Each step is what would otherwise fail only after a cluster job has started: the config composes and passes
verl's own validation and dataclasses (unknown keys, batch arithmetic); the project's estimator and reward
manager are registered; the data files exist and their rows load through verl's ``RLHFDataset`` with the
model's processor within ``data.max_prompt_length``; the reward scores sample responses as it should; the tools
build with verl's registry and their agent loop is registered; the judge answers (when it is an endpoint we can
reach now). It ends with the resource plan verl will ask Ray for.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from recipes.compose import RecipeError, compose_recipe, list_recipes
from rewards.tool_use import FINAL_TURN_KEY

# Converted to verl's dataclasses, whose __post_init__ checks run. Not reward.reward_manager: verl 0.9.1's
# RewardManagerConfig.__post_init__ calls a super().__post_init__() that does not exist, so it always fails
# (the registration step checks it instead); reward.reward_model only when enabled ('???' fields otherwise).
DATACLASS_NODES = ("algorithm", "actor_rollout_ref.actor", "actor_rollout_ref.rollout")


@dataclass(frozen=True)
class StepResult:
    name: str
    ok: bool
    detail: str
    seconds: float


class PreflightError(RuntimeError):
    """A step failed; the message names the step and what to change."""


def _node(config: DictConfig, dotted: str) -> Any:
    return OmegaConf.select(config, dotted)


def check_registrations(config: DictConfig) -> str:
    import verl  # noqa: F401  (loads the verl.plugins entry points, as every verl process does)
    from verl.experimental.reward_loop.reward_manager.registry import REWARD_MANAGER
    from verl.trainer.ppo.core_algos import ADV_ESTIMATOR_REGISTRY

    import recipes.verl_plugin  # noqa: F401  (verl hides plugin import errors: fail loudly here instead)

    estimator = config.algorithm.adv_estimator
    builtin = {"gae", "grpo"}
    if estimator not in ADV_ESTIMATOR_REGISTRY and estimator not in builtin:
        raise PreflightError(
            f"algorithm.adv_estimator={estimator} is not registered; known: {sorted(ADV_ESTIMATOR_REGISTRY)}"
        )
    manager = config.reward.reward_manager
    if manager.source == "register" and manager.name not in REWARD_MANAGER:
        raise PreflightError(
            f"reward.reward_manager.name={manager.name} is not registered; known: {sorted(REWARD_MANAGER)}"
        )
    trainer_mode = _node(config, "trainer.v1.trainer_mode")
    if config.trainer.use_v1 and trainer_mode is not None:
        import verl.trainer.ppo.v1.trainer_sync  # noqa: F401  (recipes.trainer replaces its sync trainer on import)
        from verl.trainer.ppo.v1.trainer_base import TRAINER_REGISTRY

        if trainer_mode not in TRAINER_REGISTRY:
            raise PreflightError(
                f"trainer.v1.trainer_mode={trainer_mode} is not registered; known: {sorted(TRAINER_REGISTRY)}"
            )
        trainer_mode = f"{trainer_mode} ({TRAINER_REGISTRY[trainer_mode].__name__})"
    return f"estimator {estimator}, reward manager {manager.name}, trainer {trainer_mode}"


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:400] or type(error).__name__


def check_verl_validation(config: DictConfig) -> str:
    import warnings

    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        use_critic = need_critic(config)
    try:  # verl raises assertions, ValueErrors and Hydra InstantiationExceptions from its checks
        validate_config(config, use_reference_policy=need_reference_policy(config), use_critic=use_critic)
    except Exception as error:
        raise PreflightError(f"verl's validate_config: {_one_line(error)}") from error
    nodes = DATACLASS_NODES + (("reward.reward_model",) if config.reward.reward_model.enable else ())
    for dotted in nodes:
        try:
            omega_conf_to_dataclass(_node(config, dotted))
        except Exception as error:
            raise PreflightError(f"{dotted} does not convert to verl's dataclass: {_one_line(error)}") from error
    reference = "with" if need_reference_policy(config) else "without"
    return f"validate_config and {len(nodes)} dataclass nodes pass; {reference} reference model"


def _data_files(config: DictConfig) -> dict[str, list[str]]:
    def as_list(value: Any) -> list[str]:
        return [value] if isinstance(value, str) else list(value)

    return {"train": as_list(config.data.train_files), "val": as_list(config.data.val_files)}


def check_data(config: DictConfig, sample_rows: int) -> str:
    from data_prep.validate import validate_parquet

    model = config.actor_rollout_ref.model.path
    if not Path(model).exists():
        raise PreflightError(f"actor_rollout_ref.model.path={model} is not a local folder (set IAD_MODEL_PATH)")
    summaries = []
    for split, paths in _data_files(config).items():
        for path in paths:
            if not Path(path).exists():
                raise PreflightError(f"data.{split}_files: {path} does not exist (IAD_DATA_DIR, iad-data build)")
            report = validate_parquet(
                path, model, int(config.data.max_prompt_length), progress=False, max_rows=sample_rows
            )
            if not report.ok:
                first = report.problems[0]
                raise PreflightError(
                    f"{path}: {len(report.problems)} of the first {sample_rows} rows fail in verl; row {first.row}: "
                    f"{first.reason} (iad-data validate {path} --processor {model} for all)"
                )
            stats = report.length_stats()
            summaries.append(f"{split} {report.n_rows} rows (prompt tokens ≤ {stats.get('max', 0)})")
    return "; ".join(summaries)


def _sample_row(config: DictConfig) -> dict[str, Any]:
    import pyarrow.parquet as pq

    table = pq.read_table(_data_files(config)["train"][0], columns=["data_source", "reward_model", "extra_info"])
    return table.slice(0, 1).to_pylist()[0]


def check_reward(config: DictConfig) -> str:
    from data_prep.prompts import PROMPTS
    from rewards.verl_reward import compute_score

    row = _sample_row(config)
    truth, protocol = row["reward_model"]["ground_truth"], row["data_source"]
    wrong = next(key for key in PROMPTS[protocol].answer_keys if key != truth)
    kwargs = dict(OmegaConf.to_container(config.reward.custom_reward_function.get("reward_kwargs") or {}))
    kwargs["judge_when"] = "never"  # the judge has its own step
    info = {**row["extra_info"], "focal_p": 0.5}
    responses = {
        "correct": f"<think>Compared with the reference, the query differs.</think><answer>{truth}</answer>",
        "wrong": f"<think>Compared with the reference, the query differs.</think><answer>{wrong}</answer>",
        "malformed": f"{truth}",
    }

    def scored(text: str) -> dict[str, Any]:
        # a --tools row is answered in the final turn of a multi-turn rollout (rewards.tool_use)
        return {**info, FINAL_TURN_KEY: text} if info.get("tools_kwargs") else info

    try:
        scores = {
            name: asyncio.run(compute_score(protocol, text, truth, scored(text), **kwargs))["score"]
            for name, text in responses.items()
        }
    except ValueError as error:  # an unknown reward option, composite or protocol: the message lists the valid ones
        raise PreflightError(f"reward.custom_reward_function: {error}") from error
    if not scores["correct"] > scores["wrong"] >= scores["malformed"]:
        raise PreflightError(f"reward does not rank correct > wrong >= malformed: {scores}")
    return ", ".join(f"{name} {value:.2f}" for name, value in scores.items())


def check_tools(config: DictConfig) -> str:
    """The tool config builds with verl's own registry, and the inspection agent loop is registered with verl."""
    path = _node(config, "actor_rollout_ref.rollout.multi_turn.tool_config_path")
    if not path:
        return "no tools"
    if not Path(path).is_file():
        raise PreflightError(f"multi_turn.tool_config_path: {path} does not exist (iad-data build --tools writes it)")
    import verl.experimental.agent_loop  # noqa: F401  (registers the agent loops, ours through recipes.verl_plugin)
    from verl.experimental.agent_loop.agent_loop import _agent_loop_registry
    from verl.tools.tool_registry import initialize_tools_from_config

    from data_prep.schema import INSPECTION_AGENT

    try:
        tools = initialize_tools_from_config(path)
    except Exception as error:  # verl's registry raises whatever the tool classes raise
        raise PreflightError(f"{path}: verl could not build the tools: {_one_line(error)}") from error
    if INSPECTION_AGENT not in _agent_loop_registry:
        raise PreflightError(f"agent loop {INSPECTION_AGENT} is not registered; known: {sorted(_agent_loop_registry)}")
    return f"{', '.join(tool.name for tool in tools)} from {path}; agent loop {INSPECTION_AGENT}"


def check_judge(config: DictConfig) -> str:
    from rewards.judge import JudgeClient
    from rewards.thinking_quality import judge_config

    kwargs = config.reward.custom_reward_function.get("reward_kwargs") or {}
    if kwargs.get("composite") != "fad_tq":
        return "no judge in this recipe"
    url = kwargs.get("judge_url") or os.environ.get("IAD_JUDGE_URL")
    if config.reward.reward_model.enable and not url:
        model = config.reward.reward_model.model_path
        return f"served by verl's reward model ({model}) at start-up; not reachable before"
    if not url:
        raise PreflightError("fad_tq needs a judge: reward.reward_model.enable=true, or IAD_JUDGE_URL / judge_url")
    options = dict(kwargs.get("judge_options") or {}) | {"max_retries": 0, "timeout_s": 30}

    async def ask() -> Any:
        client = JudgeClient(judge_config(None, url, options))
        try:
            return await client.score("Is there an anomaly?", "The query has one pin fewer.", "C")
        finally:
            await client.aclose()

    scores = asyncio.run(ask())
    if not scores.ok:
        raise PreflightError(f"judge at {url} did not answer: {scores.error}")
    return f"{url} answered (tq {scores.tq:.2f}, {scores.latency_s:.2f} s)"


def gpus_needed(config: DictConfig) -> dict[str, int]:
    """GPUs verl will ask Ray for, by pool: the trainer's, and the judge's when it has a pool of its own."""
    trainer, judge = config.trainer, config.reward.reward_model
    pools = {"trainer": trainer.nnodes * trainer.n_gpus_per_node}
    if judge.enable and judge.enable_resource_pool:
        pools["judge"] = judge.nnodes * judge.n_gpus_per_node
    return pools


def check_resources(config: DictConfig) -> str:
    """Pools that fit the GPUs Ray is started with (verl waits forever for resources that never come)."""
    pools = gpus_needed(config)
    needed = sum(pools.values())
    offered = (config.get("ray_kwargs") or {}).get("ray_init", {}).get("num_gpus")
    detail = " + ".join(f"{name} {count}" for name, count in pools.items())
    judge = config.reward.reward_model
    model = str(judge.model_path or "")
    if judge.enable and model.startswith(("/", ".")) and not Path(model).exists():
        raise PreflightError(f"the judge's model_path {model} does not exist (IAD_JUDGE_MODEL_PATH)")
    if offered is not None and needed > offered:
        raise PreflightError(
            f"the pools need {needed} GPUs ({detail}) but Ray is started with "
            f"ray_kwargs.ray_init.num_gpus={offered}: verl would wait for them forever; raise num_gpus or shrink "
            "a pool (trainer.n_gpus_per_node, reward.reward_model.n_gpus_per_node)"
        )
    return f"{needed} GPU(s): {detail}" + (f", Ray offers {offered}" if offered is not None else "")


def resource_plan(config: DictConfig) -> Table:
    """What verl will ask Ray for, and the batch arithmetic of one step."""
    trainer, data, actor = config.trainer, config.data, config.actor_rollout_ref.actor
    rollout = config.actor_rollout_ref.rollout
    gpus = trainer.nnodes * trainer.n_gpus_per_node
    responses = data.train_batch_size * rollout.n
    table = Table(title="resource plan", show_header=False)
    table.add_row("actor + rollout (+ ref)", f"{trainer.nnodes} node(s) x {trainer.n_gpus_per_node} GPU = {gpus}")
    judge = config.reward.reward_model
    if judge.enable:
        pool = "own pool" if judge.enable_resource_pool else "shares the actor's GPUs"
        table.add_row(
            "judge (reward model)", f"{judge.nnodes} x {judge.n_gpus_per_node} GPU, {pool}: {judge.model_path}"
        )
    kwargs = config.reward.custom_reward_function.get("reward_kwargs") or {}
    if not judge.enable and kwargs.get("composite") == "fad_tq":
        table.add_row("judge", f"external endpoint: {kwargs.get('judge_url') or os.environ.get('IAD_JUDGE_URL')}")
    table.add_row("step", f"{data.train_batch_size} prompts x {rollout.n} rollouts = {responses} responses")
    table.add_row(
        "updates per step",
        f"{data.train_batch_size // actor.ppo_mini_batch_size} (mini-batch {actor.ppo_mini_batch_size} prompts)",
    )
    table.add_row("responses per GPU per step", f"{responses / gpus:g}")
    steps = trainer.total_training_steps or f"{trainer.total_epochs} epoch(s)"
    table.add_row("length", str(steps))
    table.add_row("estimator / loss", f"{config.algorithm.adv_estimator} / {actor.policy_loss.loss_mode}")
    return table


def run_preflight(recipe: str, overrides: Sequence[str], *, sample_rows: int, console: Console) -> list[StepResult]:
    """Run every step, stop at the first failure, and print a line per step."""
    results: list[StepResult] = []
    config: DictConfig | None = None

    def compose_step() -> str:
        nonlocal config
        config = compose_recipe(recipe, overrides)
        return f"{recipe} composes ({len(overrides)} overrides)"

    steps: list[tuple[str, Callable[[], str]]] = [
        ("compose", compose_step),
        ("registrations", lambda: check_registrations(config)),
        ("verl validation", lambda: check_verl_validation(config)),
        ("data", lambda: check_data(config, sample_rows)),
        ("reward", lambda: check_reward(config)),
        ("tools", lambda: check_tools(config)),
        ("judge", lambda: check_judge(config)),
        ("resources", lambda: check_resources(config)),
    ]
    for name, step in steps:
        started = time.perf_counter()
        try:
            detail, ok = step(), True
        except (PreflightError, RecipeError) as error:
            detail, ok = str(error), False
        results.append(StepResult(name, ok, detail, time.perf_counter() - started))
        mark = "[green]ok[/green]  " if ok else "[red]FAIL[/red]"
        console.print(f"{mark} {name:16} {escape(detail)}  [dim]({results[-1].seconds:.1f} s)[/dim]", highlight=False)
        if not ok:
            return results
    console.print(resource_plan(config))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], epilog=f"recipes: {', '.join(list_recipes())}"
    )
    parser.add_argument("recipe", help="a recipe name (a YAML under recipes/config)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. trainer.n_gpus_per_node=4")
    parser.add_argument("--sample-rows", type=int, default=32, help="rows per data file to run through verl")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    console = Console(width=None if sys.stdout.isatty() else 160)
    results = run_preflight(args.recipe, args.overrides, sample_rows=args.sample_rows, console=console)
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
