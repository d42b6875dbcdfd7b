"""Supervised fine-tuning with verl's own SFT trainer: ``python -m recipes.sft <recipe> [hydra overrides]``.

The recipe (a YAML under ``recipes/config/sft/``, on verl's ``sft_trainer_engine`` config) is composed here
first, so an unknown key or recipe fails in a second with the recipe's name, then handed to
``torchrun -m verl.trainer.sft_trainer`` with one process per GPU of ``trainer.n_gpus_per_node``. On a machine
without accelerators add ``+overlay=cpu``: verl's CPU mode (``cpu_support.verl_cpu``) runs the same trainer.
Convert the result for RL or evaluation with ``python -m recipes.merge <trainer.default_local_dir> --out ...``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

from recipes.compose import SFT_RECIPES_DIR, RecipeError, compose_recipe, list_recipes


def sft_command(recipe: str, overrides: Sequence[str], nproc: int) -> list[str]:
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", f"--nproc_per_node={nproc}",
        "-m", "verl.trainer.sft_trainer", "--config-path", str(SFT_RECIPES_DIR), "--config-name", recipe,
        *overrides,
    ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.strip())
        print(f"\nrecipes: {', '.join(list_recipes(SFT_RECIPES_DIR))}")
        return 0 if args else 2
    from cpu_support.verl_cpu import CPUModeError, require_ready

    try:
        require_ready()
        config = compose_recipe(args[0], args[1:], config_dir=SFT_RECIPES_DIR)
    except (RecipeError, CPUModeError) as error:
        print(f"recipes.sft: error: {error}", file=sys.stderr)
        return 2
    if config.trainer.nnodes != 1:
        print("recipes.sft: error: multi-node SFT runs through your launcher (torchrun per node)", file=sys.stderr)
        return 2
    return subprocess.run(sft_command(args[0], args[1:], int(config.trainer.n_gpus_per_node)), check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
