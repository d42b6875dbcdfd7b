"""Train a recipe with verl's own trainer: ``python -m recipes.train <recipe> [hydra overrides]``.

This is verl's ``main_ppo`` entry with the recipe composed from ``recipes/config`` instead of verl's folder:
the same device detection, the same ``validate_config``, the same TaskRunner on Ray. The project's estimator
and reward manager reach every Ray worker through the ``verl.plugins`` entry point (``recipes.verl_plugin``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from omegaconf import DictConfig

from recipes.compose import RecipeError, compose_recipe, list_recipes


def train(config: DictConfig) -> None:
    """Hand a composed config to verl exactly as ``verl.trainer.main_ppo.main`` does."""
    from verl.trainer.main_ppo import TaskRunnerV1, run_ppo
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config
    from verl.utils.device import auto_set_device

    import recipes.verl_plugin  # noqa: F401  (registrations in this driver process too)

    auto_set_device(config)
    validate_config(config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))
    if config.trainer.use_v1:
        run_ppo(config, task_runner_class=TaskRunnerV1)
    else:
        from verl.trainer.main_ppo_v0 import TaskRunner

        run_ppo(config, task_runner_class=TaskRunner)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.strip())
        print(f"\nrecipes: {', '.join(list_recipes())}")
        return 0 if args else 2
    from cpu_support.verl_cpu import CPUModeError, require_ready

    try:
        require_ready()  # on CPU only: refuse here, with the fix, rather than deep inside a Ray worker
        config = compose_recipe(args[0], args[1:])
    except (RecipeError, CPUModeError) as error:
        print(f"recipes.train: error: {error}", file=sys.stderr)
        return 2
    train(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
