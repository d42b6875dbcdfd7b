"""Compose a recipe: one YAML under ``recipes/config/`` on top of verl's own trainer config, plus overrides.

Hydra rejects unknown keys; this module turns its errors into one message that names the recipe and the key.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

RECIPES_DIR: Final = Path(__file__).resolve().parent / "config"
SFT_RECIPES_DIR: Final = RECIPES_DIR / "sft"  # on verl's sft_trainer_engine config instead of ppo_trainer
BASE: Final = "iad_base"


class RecipeError(ValueError):
    """A recipe that does not compose: unknown name, unknown key, or a value of the wrong type."""


def list_recipes(config_dir: Path = RECIPES_DIR) -> list[str]:
    """Recipe names: every YAML in ``config_dir`` except the shared base."""
    return sorted(path.stem for path in config_dir.glob("*.yaml") if path.stem != BASE)


def compose_recipe(recipe: str, overrides: Sequence[str] = (), config_dir: Path = RECIPES_DIR) -> DictConfig:
    """The full verl config of ``recipe`` with Hydra ``overrides`` applied, every interpolation resolved."""
    if recipe not in list_recipes(config_dir):
        raise RecipeError(f"unknown recipe {recipe!r}; recipes: {', '.join(list_recipes(config_dir))}")
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base=None):
            config = compose(config_name=recipe, overrides=list(overrides))
        OmegaConf.resolve(config)
    except (HydraException, OmegaConfBaseException) as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise RecipeError(f"recipe {recipe} with overrides {list(overrides)}: {detail}") from error
    return config
