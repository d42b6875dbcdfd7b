"""An experiment matrix: named runs (a recipe plus overrides) submitted together and followed together.

    python -m recipes.matrix check  recipes/matrix/papers.yaml            # every run composes and validates
    python -m recipes.matrix submit recipes/matrix/papers.yaml [--only NAME ...] [--address URL]
    python -m recipes.matrix status recipes/matrix/papers.yaml [--address URL]

Each run's job id is ``<matrix>-<run>`` (``ray job submit --submission-id``), so ``status`` needs no local state.
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

from recipes.compose import RecipeError, compose_recipe
from recipes.preflight import PreflightError, check_registrations, check_verl_validation
from recipes.submit import submit_command


@dataclass(frozen=True)
class Run:
    name: str
    recipe: str
    overrides: tuple[str, ...] = field(default_factory=tuple)

    def all_overrides(self) -> list[str]:
        return [*self.overrides, f"trainer.experiment_name={self.name}"]


def load_matrix(path: Path) -> list[Run]:
    """The runs of a matrix file; a malformed entry is an error that names it."""
    document = yaml.safe_load(Path(path).read_text()) or {}
    runs = document.get("runs")
    if not isinstance(runs, dict) or not runs:
        raise ValueError(f"{path}: expected a mapping 'runs: {{name: {{recipe: ..., overrides: [...]}}}}'")
    result = []
    for name, spec in runs.items():
        if not isinstance(spec, dict) or "recipe" not in spec:
            raise ValueError(f"{path}: run {name!r} needs a 'recipe'")
        unknown = set(spec) - {"recipe", "overrides"}
        if unknown:
            raise ValueError(f"{path}: run {name!r} has unknown fields {sorted(unknown)}")
        result.append(Run(name, spec["recipe"], tuple(spec.get("overrides") or ())))
    return result


def submission_id(matrix: Path, run: Run) -> str:
    return f"{Path(matrix).stem}-{run.name}"


def check(runs: Sequence[Run]) -> list[tuple[str, str]]:
    """Compose and validate every run without data or GPUs; (name, problem) for each failure."""
    failures = []
    for run in runs:
        try:
            config = compose_recipe(run.recipe, run.all_overrides())
            check_registrations(config)
            check_verl_validation(config)
        except (RecipeError, PreflightError) as error:
            failures.append((run.name, str(error)))
    return failures


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
    for column in ("run", "recipe", "job", "status"):
        table.add_column(column)
    for run in runs:
        job = submission_id(args.matrix, run)
        table.add_row(run.name, run.recipe, job, statuses.get(job, "not submitted"))
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
