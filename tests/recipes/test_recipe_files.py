"""Recipe files list only what differs: no key restates the value it would have without the line.

A recipe key is checked against ``iad_base`` where the base sets it, else against verl's own default
(``ppo_trainer``); ``iad_base`` against verl's default; the CPU overlay against every recipe (a key it sets must
change at least one); the SFT recipe against verl's ``sft_trainer_engine``. Values read from the environment
(``${oc.env:...}``) are settings, not restatements: they are never equal to a plain value.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from recipes.compose import RECIPES_DIR, SFT_RECIPES_DIR, list_recipes

SHARED = RECIPES_DIR / "shared" / "iad_trainer.yaml"
SKIPPED_ROOTS = ("defaults", "hydra", "iad")  # Hydra's own keys, and this project's (not verl's)


def leaves(tree: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            yield from leaves(value, path)
        elif path.split(".")[0] not in SKIPPED_ROOTS and not (isinstance(value, str) and "${" in value):
            yield path, value


def raw(path: Path) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.load(path), resolve=False)


def verl_default(name: str) -> DictConfig:
    import verl

    with initialize_config_dir(os.path.join(os.path.dirname(verl.__file__), "trainer", "config"), version_base=None):
        return compose(name)


def value_at(tree: dict[str, Any] | DictConfig, path: str) -> Any:
    """The value at ``path``: as written for a raw file (an interpolation stays a string), as composed for verl's."""
    if isinstance(tree, DictConfig):
        return OmegaConf.select(tree, path, throw_on_missing=False, default="<unset>")
    for part in path.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return "<unset>"
        tree = tree[part]
    return tree


def restated(path: Path, parents: list[dict[str, Any] | DictConfig]) -> list[str]:
    """Keys of ``path`` whose value equals the first parent that sets them (for every parent list)."""
    found = []
    for key, value in leaves(raw(path)):
        before = next((v for v in (value_at(parent, key) for parent in parents) if v != "<unset>"), "<unset>")
        if before == value:
            found.append(f"{key}: {value!r}")
    return found


def base_stack() -> list[dict[str, Any] | DictConfig]:
    """What an RL recipe's lines sit on, nearest first: the base, the shared settings, verl's defaults."""
    return [raw(RECIPES_DIR / "iad_base.yaml"), raw(SHARED), verl_default("ppo_trainer")]


def test_the_base_restates_none_of_verls_defaults() -> None:
    assert restated(RECIPES_DIR / "iad_base.yaml", base_stack()[1:]) == []


@pytest.mark.parametrize("recipe", list_recipes())
def test_a_recipe_restates_neither_the_base_nor_verl(recipe: str) -> None:
    assert restated(RECIPES_DIR / f"{recipe}.yaml", base_stack()) == []


def test_the_cpu_overlay_changes_every_key_it_sets_in_some_recipe() -> None:
    per_recipe = [
        set(restated(RECIPES_DIR / "overlay" / "cpu.yaml", [raw(RECIPES_DIR / f"{recipe}.yaml"), *base_stack()]))
        for recipe in list_recipes()
    ]
    assert set.intersection(*per_recipe) == set()


@pytest.mark.parametrize("recipe", list_recipes(SFT_RECIPES_DIR))
def test_an_sft_recipe_restates_neither_the_shared_settings_nor_verl(recipe: str) -> None:
    parents = [raw(SHARED), verl_default("sft_trainer_engine")]
    assert restated(SFT_RECIPES_DIR / f"{recipe}.yaml", parents) == []


def test_rl_and_sft_recipes_share_their_common_settings() -> None:
    from recipes.compose import compose_recipe

    rl, sft = compose_recipe("fad_tq_gpg"), compose_recipe("lad_reasoner_sft", config_dir=SFT_RECIPES_DIR)
    for key in ("trainer.project_name", "trainer.logger", "trainer.nnodes", "trainer.n_gpus_per_node"):
        assert OmegaConf.select(rl, key) == OmegaConf.select(sft, key)
    assert rl.actor_rollout_ref.model.path == sft.model.path
