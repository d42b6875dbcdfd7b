"""A recipe's preflight as a real Ray job on this machine: judge and Ray head on loopback, then ``ray job submit``.

    python -m launch.local_preflight --recipe fad_tq_gpg --data-dir outputs/demo \
        --model outputs/demo/tiny_models/policy --judge outputs/demo/tiny_models/judge [hydra overrides]

This is what a laptop or a CPU login node can prove before a GPU job: the same submission path as a cluster
(``recipes.submit``), against a judge served by vLLM (its CPU build here), ending in the resource plan the GPU
run would ask for. Both servers stop when it ends, also on failure.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cpu_support import vllm_settings
from launch.ray_local import LocalRayCluster
from launch.vllm_server import VLLMServer
from recipes.submit import submit_command


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="fad_tq_gpg")
    parser.add_argument("--data-dir", type=Path, required=True, help="IAD_DATA_DIR: holds <dataset>/train.parquet")
    parser.add_argument("--model", type=Path, required=True, help="IAD_MODEL_PATH: the policy's folder")
    parser.add_argument("--judge", type=Path, help="a judge model folder to serve with vLLM (omit: no judge)")
    parser.add_argument("--gpus-per-node", type=int, default=8, help="what the GPU run would use (the plan)")
    parser.add_argument("--sample-rows", type=int, default=32)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for the recipe")
    args = parser.parse_args(argv)
    for name, path in (("--data-dir", args.data_dir), ("--model", args.model), ("--judge", args.judge)):
        if path is not None and not path.exists():
            parser.error(f"{name} {path} does not exist")

    logs = Path(tempfile.mkdtemp(prefix="iad-local-preflight-"))
    environ = {
        **os.environ,
        "IAD_DATA_DIR": str(args.data_dir.resolve()),
        "IAD_MODEL_PATH": str(args.model.resolve()),
        "IAD_GPUS_PER_NODE": str(args.gpus_per_node),
        "HF_HOME": os.environ.get("HF_HOME", str(logs / "hf_home")),
        "HF_HUB_OFFLINE": "1",
    }
    judge = None
    if args.judge is not None:
        judge = VLLMServer(
            args.judge, extra_args=vllm_settings.SERVER_ARGS, env=vllm_settings.ENV, log_path=logs / "judge.log"
        )
    with LocalRayCluster(
        num_cpus=os.cpu_count() or 2, temp_dir=Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    ) as ray:
        print(f"Ray head: {ray.dashboard_url} (logs {ray.log_path}; token in this process's environment)", flush=True)
        environ |= ray.client_env
        if judge is not None:
            print(f"starting the judge ({args.judge}) with vLLM ...", flush=True)
            judge.start()
            environ |= {"IAD_JUDGE_URL": judge.base_url, "IAD_JUDGE_IN_VERL": "false"}
            print(f"judge: {judge.base_url}", flush=True)
        try:
            command = submit_command(
                args.recipe,
                args.overrides,
                address=ray.dashboard_url,
                preflight_only=True,
                sample_rows=args.sample_rows,
                environ=environ,
            )
            return subprocess.run(command, env=environ, check=False).returncode
        finally:
            if judge is not None:
                judge.stop()


if __name__ == "__main__":
    sys.exit(main())
