"""Loaded by ``import verl`` in every process (the ``verl.plugins`` entry point in pyproject.toml), Ray
workers included: registers this project's advantage estimator (``gpg_paper``) and reward manager
(``iad_group``) with verl's registries, so a recipe can name them wherever verl looks them up.

verl swallows a plugin's import error (it logs at debug level), so ``recipes.preflight`` checks the
registrations explicitly.
"""

import recipes.estimators  # noqa: F401  (registers "gpg_paper")
import rewards.group_manager  # noqa: F401  (registers "iad_group")
