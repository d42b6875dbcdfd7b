"""What the CPU launchers share: their arguments and the environment a recipe's job runs in.

``launch.cpu_train`` (training) and ``launch.local_preflight`` (a preflight as a Ray job) take the same recipe,
data and model arguments and hand verl the same environment: where the data, the policy and the judge are, and an
offline Hub.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

JUDGE_ENV = ("IAD_JUDGE_URL", "IAD_JUDGE_MODEL", "IAD_JUDGE_IN_VERL", "IAD_JUDGE_MODEL_PATH", "IAD_JUDGE_GPUS")


def add_job_arguments(parser: argparse.ArgumentParser, model_help: str) -> None:
    """``--recipe``, ``--data-dir`` and ``--model``, as every launcher takes them."""
    parser.add_argument("--recipe", default="fad_tq_gpg")
    parser.add_argument("--data-dir", type=Path, required=True, help="IAD_DATA_DIR: holds <dataset>/train.parquet")
    parser.add_argument("--model", type=Path, required=True, help=model_help)


def parse_job_arguments(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse, then refuse paths that do not exist (``--data-dir``, ``--model``, ``--judge`` when given)."""
    args = parser.parse_args(argv)
    for name in ("data_dir", "model", "judge"):
        path = getattr(args, name, None)
        if path is not None and not path.exists():
            parser.error(f"--{name.replace('_', '-')} {path} does not exist")
    return args


def job_env(
    data_dir: Path, model: Path, out: Path, judge_url: str | None, judge_model: Path | None = None
) -> dict[str, str]:
    """The trainer's environment: paths, offline Hub, and where the judge is (none, verl's reward model, or a URL).

    ``judge_model``: the judge runs inside verl, as the recipe's reward model on its own pool of one (fake) GPU.
    ``judge_url``: an endpoint already serving. Neither: no judge (``IAD_JUDGE_IN_VERL=false``), unless the caller's
    environment says otherwise.
    """
    if judge_url is not None and judge_model is not None:
        raise ValueError("the judge is either verl's reward model (judge_model) or an endpoint (judge_url), not both")
    env = {key: value for key, value in os.environ.items() if key not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")}
    env |= {
        "IAD_DATA_DIR": str(data_dir.resolve()),
        "IAD_MODEL_PATH": str(model.resolve()),
        "TENSORBOARD_DIR": str((out / "tensorboard").resolve()),
        "HF_HUB_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    env.setdefault("HF_HOME", str((out / "hf_home").resolve()))
    if judge_model is not None:
        env = {key: value for key, value in env.items() if key not in JUDGE_ENV}
        env |= {"IAD_JUDGE_IN_VERL": "true", "IAD_JUDGE_MODEL_PATH": str(judge_model.resolve()), "IAD_JUDGE_GPUS": "1"}
    elif judge_url is not None:
        env |= {"IAD_JUDGE_URL": judge_url, "IAD_JUDGE_IN_VERL": "false"}
    else:
        env.setdefault("IAD_JUDGE_IN_VERL", "false")  # no judge given: none in verl either, unless asked for
    return env
