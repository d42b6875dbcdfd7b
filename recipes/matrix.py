"""An experiment matrix: named runs (a recipe plus overrides) submitted together and followed together.

    python -m recipes.matrix check  recipes/matrix/papers.yaml            # every run composes and validates
    python -m recipes.matrix submit recipes/matrix/papers.yaml [--only NAME ...] [--address URL]
    python -m recipes.matrix status recipes/matrix/papers.yaml [--address URL]

Each run's job id is ``<matrix>-<run>`` (``ray job submit --submission-id``), so ``status`` needs no local state.

A run is RL (``kind: rl``, the default: a recipe under ``recipes/config``), SFT (``kind: sft``: a recipe under
``recipes/config/sft``, trained with ``torchrun`` through ``recipes.sft``, not a Ray job) or an evaluation of an
untrained model (``kind: eval``). ``init_from: <run>`` starts a run from another run's merged model, expected
at ``<models_dir>/<run>`` (``python -m recipes.merge``); a run whose start model is not there yet is not
submitted, with the command that produces it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from recipes.compose import SFT_RECIPES_DIR, RecipeError, compose_recipe
from recipes.preflight import PreflightError, check_registrations, check_verl_validation
from recipes.submit import submit_command

KINDS = ("rl", "sft", "eval")
FIELDS = {"recipe", "overrides", "kind", "init_from", "model", "models_dir"}
MODEL_KEY = {"rl": "actor_rollout_ref.model.path", "sft": "model.path"}


@dataclass(frozen=True)
class Run:
    name: str
    recipe: str | None
    overrides: tuple[str, ...] = field(default_factory=tuple)
    kind: str = "rl"
    init_from: str | None = None
    model: str | None = None  # an explicit start model (eval rows: the model evaluated)
    models_dir: str = "models"

    @property
    def start_model(self) -> str | None:
        """The model this run starts from: another run's merged output, the explicit one, or the recipe's."""
        return str(Path(self.models_dir) / self.init_from) if self.init_from else self.model

    def all_overrides(self) -> list[str]:
        start = [f"{MODEL_KEY[self.kind]}={self.start_model}"] if self.start_model and self.kind in MODEL_KEY else []
        return [*self.overrides, *start, f"trainer.experiment_name={self.name}"]


def load_matrix(path: Path) -> list[Run]:
    """The runs of a matrix file; a malformed entry is an error that names it."""
    document = yaml.safe_load(Path(path).read_text()) or {}
    runs = document.get("runs")
    if not isinstance(runs, dict) or not runs:
        raise ValueError(f"{path}: expected a mapping 'runs: {{name: {{recipe: ..., overrides: [...]}}}}'")
    result = []
    for name, spec in runs.items():
        if not isinstance(spec, dict):
            raise ValueError(f"{path}: run {name!r} must be a mapping")
        unknown = set(spec) - FIELDS
        if unknown:
            raise ValueError(f"{path}: run {name!r} has unknown fields {sorted(unknown)}")
        kind = spec.get("kind", "rl")
        if kind not in KINDS:
            raise ValueError(f"{path}: run {name!r} has kind {kind!r}; kinds: {', '.join(KINDS)}")
        if kind != "eval" and "recipe" not in spec:
            raise ValueError(f"{path}: run {name!r} needs a 'recipe'")
        if kind == "eval" and not (spec.get("model") or spec.get("init_from")):
            raise ValueError(f"{path}: eval run {name!r} needs the 'model' it evaluates (or 'init_from')")
        result.append(
            Run(
                name,
                spec.get("recipe"),
                tuple(spec.get("overrides") or ()),
                kind=kind,
                init_from=spec.get("init_from"),
                model=spec.get("model"),
                models_dir=spec.get("models_dir", document.get("models_dir", "models")),
            )
        )
    names = {run.name: run for run in result}
    for run in result:
        if run.init_from is not None and (run.init_from not in names or names[run.init_from].kind == "eval"):
            raise ValueError(f"{path}: run {run.name!r} starts from {run.init_from!r}: not a training run here")
    return result


def submission_id(matrix: Path, run: Run) -> str:
    return f"{Path(matrix).stem}-{run.name}"


def check(runs: Sequence[Run]) -> list[tuple[str, str]]:
    """Compose and validate every run without data or GPUs; (name, problem) for each failure."""
    failures = []
    for run in runs:
        try:
            if run.kind == "rl":
                config = compose_recipe(run.recipe, run.all_overrides())
                check_registrations(config)
                check_verl_validation(config)
            elif run.kind == "sft":
                compose_recipe(run.recipe, run.all_overrides(), config_dir=SFT_RECIPES_DIR)
        except (RecipeError, PreflightError) as error:
            failures.append((run.name, str(error)))
    return failures


def how_to_run(run: Run) -> str:
    """The command for a run that is not a Ray job."""
    if run.kind == "sft":
        return f"SFT runs with torchrun: python -m recipes.sft {run.recipe} {' '.join(run.all_overrides())}"
    return f"evaluate with: python -m evaluation run --model {run.start_model} --test-file ..."


def not_ready(run: Run) -> str | None:
    """Why ``run`` cannot be submitted yet (its start model is missing), with the command that makes it."""
    if run.init_from and not Path(run.start_model).exists():
        return (
            f"its start model {run.start_model} does not exist yet: train {run.init_from!r} first, then "
            f"python -m recipes.merge <{run.init_from}'s trainer.default_local_dir> --out {run.start_model}"
        )
    return None


def job_statuses(address: str) -> dict[str, str]:
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(address)
    return {job.submission_id: str(job.status) for job in client.list_jobs() if job.submission_id}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("check", "submit", "status"))
    parser.add_argument("matrix", type=Path)
    parser.add_argument("--only", nargs="+", metavar="NAME", help="runs to submit (default: all)")
    parser.add_argument("--address", default=os.environ.get("RAY_ADDRESS", "http://127.0.0.1:8265"))
    parser.add_argument("--preflight-only", action="store_true")
    args = parser.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 160)
    runs = load_matrix(args.matrix)
    if args.only:
        unknown = sorted(set(args.only) - {run.name for run in runs})
        if unknown:
            parser.error(f"unknown runs {unknown}; runs: {', '.join(run.name for run in runs)}")
        runs = [run for run in runs if run.name in args.only]
    if args.command == "check":
        failures = check(runs)
        for name, problem in failures:
            console.print(f"[red]FAIL[/red] {name}: {problem}", highlight=False)
        console.print(f"{len(runs) - len(failures)} of {len(runs)} runs compose and validate")
        return 1 if failures else 0
    if args.command == "submit":
        codes = []
        for run in runs:
            if run.kind != "rl" or not_ready(run):
                console.print(f"[yellow]skip[/yellow] {run.name}: {not_ready(run) or how_to_run(run)}", highlight=False)
                continue
            command = submit_command(
                run.recipe,
                run.all_overrides(),
                address=args.address,
                preflight_only=args.preflight_only,
                wait=False,
                submission_id=submission_id(args.matrix, run),
            )
            codes.append(subprocess.run(command, check=False).returncode)
        return max(codes, default=0)
    statuses = job_statuses(args.address)
    table = Table(title=f"{args.matrix} on {args.address}")
    for column in ("run", "kind", "recipe", "starts from", "job", "status"):
        table.add_column(column)
    for run in runs:
        job = submission_id(args.matrix, run)
        status = statuses.get(job, "not submitted") if run.kind == "rl" else "-"
        table.add_row(run.name, run.kind, run.recipe or "-", run.start_model or "recipe's model", job, status)
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
