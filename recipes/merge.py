"""Turn a run's last (or a chosen) checkpoint into a Hugging Face model folder, with verl's own model merger.

    python -m recipes.merge checkpoints/iad_reasoner/fad_tq_gpg --out models/fad_tq_gpg
    python -m recipes.merge checkpoints/iad_reasoner/fad_tq_gpg/global_step_50 --out models/step50

The merger needs the ``actor`` folder of one ``global_step_*``; pointing it anywhere else is the most common
way this step fails, so the folder is found and checked here first, and every miss says what was expected.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

STEP = re.compile(r"global_step_(\d+)$")


class CheckpointError(ValueError):
    """No mergeable checkpoint where one was expected."""


def _holds_shards(step: Path) -> bool:
    return any(step.glob("model_world_size_*_rank_*.pt"))


def actor_folder(path: Path) -> Path:
    """The folder to merge: ``path`` itself, its ``actor``, or the latest ``global_step_*/actor`` (RL) or
    ``global_step_*`` (SFT, whose model shards sit in the step folder)."""
    if not path.exists():
        raise CheckpointError(f"{path} does not exist (trainer.default_local_dir of the run, or one global_step_N)")
    if path.name == "actor":
        candidate = path
    elif STEP.search(path.name):
        # RL checkpoints keep the policy in <step>/actor; verl's SFT trainer saves it in <step> itself
        candidate = path / "actor" if (path / "actor").exists() or not _holds_shards(path) else path
    else:
        steps = sorted((p for p in path.iterdir() if STEP.search(p.name)), key=lambda p: int(STEP.search(p.name)[1]))
        if not steps:
            raise CheckpointError(f"{path} has no global_step_N folders: was trainer.save_freq set for this run?")
        candidate = steps[-1] / "actor" if not _holds_shards(steps[-1]) else steps[-1]
    if not candidate.is_dir():
        raise CheckpointError(f"{candidate} is missing: a verl checkpoint step holds an 'actor' folder")
    if not (candidate / "huggingface").is_dir():
        raise CheckpointError(f"{candidate}/huggingface is missing: verl saves the model config and tokenizer there")
    return candidate


def merge_command(actor: Path, out: Path, backend: str = "fsdp") -> list[str]:
    return [
        sys.executable,
        "-m",
        "verl.model_merger",
        "merge",
        "--backend",
        backend,
        "--local_dir",
        str(actor),
        "--target_dir",
        str(out),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a run's checkpoint folder, one global_step_N, or its actor")
    parser.add_argument("--out", type=Path, required=True, help="folder for the Hugging Face model")
    parser.add_argument("--backend", choices=("fsdp", "megatron"), default="fsdp")
    args = parser.parse_args(argv)
    try:
        actor = actor_folder(args.checkpoint)
    except CheckpointError as error:
        print(f"recipes.merge: error: {error}", file=sys.stderr)
        return 2
    print(f"merging {actor} -> {args.out}", flush=True)
    return subprocess.run(merge_command(actor, args.out, args.backend), check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
