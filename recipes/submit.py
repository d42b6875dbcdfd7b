"""Submit a recipe to a Ray cluster with ``ray job submit``, its preflight first.

    python -m recipes.submit fad_tq_gpg [hydra overrides] [--address http://127.0.0.1:8265] [--preflight-only]

The job runs ``python -m recipes.preflight`` and, only if that passes, ``python -m recipes.train`` with the same
recipe and overrides. Its runtime environment ships this repository as the working directory (without the
virtualenv, checkpoints, data and outputs) and the ``IAD_*``/``HF_*`` variables, with paths made absolute.
Ray's token, when the cluster requires one (``RAY_AUTH_MODE=token``), is read from this environment by the
``ray`` CLI as usual.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from recipes.compose import RecipeError, compose_recipe

REPO: Final = Path(__file__).resolve().parents[1]
EXCLUDES: Final = [".venv", ".git", "outputs", "data", "checkpoints", "*.parquet", "*.safetensors", "__pycache__"]
FORWARDED_PREFIXES: Final = ("IAD_", "HF_", "VLLM_", "TOKENIZERS_")
PATH_VARIABLES: Final = ("IAD_DATA_DIR", "IAD_MODEL_PATH", "IAD_JUDGE_MODEL_PATH", "HF_HOME")


def forwarded_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables a job needs from the submitting shell; local paths that exist become absolute."""
    env = {key: value for key, value in environ.items() if key.startswith(FORWARDED_PREFIXES)}
    for key in PATH_VARIABLES:
        if key in env and Path(env[key]).exists():
            env[key] = str(Path(env[key]).resolve())
    return env


def entrypoint(recipe: str, overrides: Sequence[str], *, preflight_only: bool, sample_rows: int) -> str:
    preflight = ["python", "-m", "recipes.preflight", recipe, *overrides, "--sample-rows", str(sample_rows)]
    command = shlex.join(preflight)
    if not preflight_only:
        command += " && " + shlex.join(["python", "-m", "recipes.train", recipe, *overrides])
    return command


def runtime_env(environ: Mapping[str, str], working_dir: Path = REPO) -> dict:
    return {"working_dir": str(working_dir), "excludes": EXCLUDES, "env_vars": forwarded_env(environ)}


def submit_command(
    recipe: str,
    overrides: Sequence[str],
    *,
    address: str,
    preflight_only: bool = False,
    sample_rows: int = 32,
    wait: bool = True,
    submission_id: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[str]:
    """The ``ray job submit`` command line for one recipe run."""
    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    command = [ray, "job", "submit", "--address", address]
    command += ["--runtime-env-json", json.dumps(runtime_env(os.environ if environ is None else environ))]
    if submission_id:
        command += ["--submission-id", submission_id]
    if not wait:
        command.append("--no-wait")
    return [
        *command,
        "--",
        "bash",
        "-c",
        entrypoint(recipe, overrides, preflight_only=preflight_only, sample_rows=sample_rows),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for the recipe")
    parser.add_argument("--address", default=os.environ.get("RAY_ADDRESS", "http://127.0.0.1:8265"), help="job server")
    parser.add_argument("--preflight-only", action="store_true", help="submit the preflight alone")
    parser.add_argument("--sample-rows", type=int, default=32, help="rows per data file the preflight checks")
    parser.add_argument("--no-wait", action="store_true", help="return once submitted instead of streaming logs")
    parser.add_argument("--submission-id", help="a job id of your choosing")
    args = parser.parse_args(argv)
    try:  # a typo in the recipe or an override fails here, not after the job has been scheduled
        compose_recipe(args.recipe, args.overrides)
    except RecipeError as error:
        print(f"recipes.submit: error: {error}", file=sys.stderr)
        return 2
    command = submit_command(
        args.recipe,
        args.overrides,
        address=args.address,
        preflight_only=args.preflight_only,
        sample_rows=args.sample_rows,
        wait=not args.no_wait,
        submission_id=args.submission_id,
    )
    print("+", shlex.join(command[:4]), "... --", command[-1], flush=True)
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
