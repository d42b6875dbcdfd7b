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

from launch.job import add_job_arguments, job_env, parse_job_arguments
from launch.ray_local import LocalRayCluster
from launch.vllm_server import VLLMServer
from recipes.submit import submit_command


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_job_arguments(parser, model_help="IAD_MODEL_PATH: the policy's folder")
    parser.add_argument("--judge", type=Path, help="a judge model folder to serve with vLLM (omit: no judge)")
    parser.add_argument("--gpus-per-node", type=int, default=8, help="what the GPU run would use (the plan)")
    parser.add_argument("--sample-rows", type=int, default=32)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for the recipe")
    args = parse_job_arguments(parser, argv)

    logs = Path(tempfile.mkdtemp(prefix="iad-local-preflight-"))
    judge = VLLMServer.on_cpu(args.judge, logs / "judge.log") if args.judge is not None else None
    with LocalRayCluster(
        num_cpus=os.cpu_count() or 2, temp_dir=Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    ) as ray:
        print(f"Ray head: {ray.dashboard_url} (logs {ray.log_path}; token in this process's environment)", flush=True)
        if judge is not None:
            print(f"starting the judge ({args.judge}) with vLLM ...", flush=True)
            judge.start()
            print(f"judge: {judge.base_url}", flush=True)
        try:
            environ = job_env(args.data_dir, args.model, logs, judge.base_url if judge is not None else None)
            environ |= ray.client_env | {"IAD_GPUS_PER_NODE": str(args.gpus_per_node)}
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
