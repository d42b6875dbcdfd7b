"""Loaded by ``import verl`` in every process (the ``verl.plugins`` entry point in pyproject.toml), Ray
workers included: registers this project's advantage estimator (``gpg_paper``) and reward manager
(``iad_group``) with verl's registries, so a recipe can name them wherever verl looks them up; the trainer
subclass behind verl's ``sync`` mode (``recipes.trainer``); fixes for verl bugs that hit every device
(``recipes.verl_fixes``); the inspection agent loop of ``--tools`` rows (``agent_tools.loop``), wherever verl's
tool agent loop is imported; and, on a machine without accelerators, verl's CPU mode (``cpu_support.verl_cpu``).

verl swallows a plugin's import error (it logs at debug level), so ``recipes.preflight`` checks the
registrations explicitly.
"""

import importlib

import recipes.controls  # noqa: F401  (registers the sign-flipped controls "flipped_grpo", "flipped_gpg_paper")
import recipes.estimators  # noqa: F401  (registers "gpg_paper")
import recipes.trainer
import recipes.verl_fixes
import rewards.group_manager  # noqa: F401  (registers "iad_group")
from cpu_support import verl_cpu
from cpu_support.after_import import when_imported

# the reward sub-scores as training metrics, in the processes that load verl's trainer
when_imported("verl.trainer.ppo.v1.trainer_sync", recipes.trainer.register)
# verl bugs that are not about CPU mode (recipes/verl_fixes.py)
when_imported("verl.utils.tensordict_utils", recipes.verl_fixes.patch_tensordict_utils)
# the inspection agent loop, in the processes that load verl's agent loops (agent-loop workers, the trainer)
when_imported("verl.experimental.agent_loop.tool_agent_loop", lambda _: importlib.import_module("agent_tools.loop"))
verl_cpu.activate()
