"""A real one-node Ray head on loopback: a job submitted with `ray job submit` runs to success."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from launch.ray_local import LocalRayCluster, ray_executable

pytestmark = pytest.mark.slow


def test_ray_job_submit_runs_a_job(ray_cluster: LocalRayCluster) -> None:
    result = subprocess.run(
        [
            ray_executable(),
            "job",
            "submit",
            "--address",
            ray_cluster.dashboard_url,
            "--",
            "python",
            "-c",
            "import ray; ray.init(); print('cpus', int(ray.cluster_resources()['CPU']))",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **ray_cluster.client_env},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"cpus {ray_cluster.num_cpus}" in result.stdout
    assert "succeeded" in result.stdout + result.stderr


def test_driver_connects_over_gcs_address(ray_cluster: LocalRayCluster) -> None:
    code = (
        "import ray\n"
        f"ray.init(address='{ray_cluster.address}')\n"
        "@ray.remote\n"
        "def square(x):\n"
        "    return x * x\n"
        "print(sum(ray.get([square.remote(i) for i in range(4)])))\n"
    )
    env = {**os.environ, **ray_cluster.client_env}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "14"


def test_clients_without_the_token_are_refused(ray_cluster: LocalRayCluster) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAY_AUTH")}
    command = [ray_executable(), "job", "submit", "--address", ray_cluster.dashboard_url, "--", "true"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode != 0
    assert "Missing authentication token" in result.stdout + result.stderr
