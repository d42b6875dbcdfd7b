"""A one-node Ray head on loopback as a managed child process (tests, demos, a laptop's preflight).

``ray start --head --block`` runs in its own process group, so stopping it ends the GCS, raylet, dashboard and
the workers they spawned, and leaves other Ray clusters on the machine alone (``ray stop`` would not). Ports come
from the ephemeral range, outside Ray's default worker ports (10002-19999). The dashboard is on because
``ray job submit`` talks to its job server.

Ray's GCS listens on every interface whatever ``--node-ip-address`` says, so the head requires a token (Ray 2.60
token authentication, generated per cluster): clients pass ``client_env`` (``RAY_AUTH_MODE=token`` and
``RAY_AUTH_TOKEN``), as ``ray job submit``, ``ray status`` and ``ray.init`` read them from the environment.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from launch.process import LOOPBACK, ManagedServer, free_port


def ray_executable() -> str:
    """The ``ray`` CLI next to this interpreter (the project's venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "ray"
    return str(beside) if beside.exists() else (shutil.which("ray") or "ray")


class LocalRayCluster(ManagedServer):
    """A Ray head on 127.0.0.1 with its own temp dir; ready when the job server answers."""

    name = "Ray head"

    def __init__(
        self,
        *,
        num_cpus: int = 2,
        num_gpus: int = 0,
        port: int | None = None,
        dashboard_port: int | None = None,
        temp_dir: Path | str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.port = port or free_port()
        self.dashboard_port = dashboard_port or free_port()
        # Ray's unix-socket paths must stay under ~107 bytes, so the temp dir is short.
        self.temp_dir = Path(temp_dir) if temp_dir else Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
        self.token = secrets.token_hex(32)
        # Job entrypoints ("python ...") resolve against the head's PATH: put this interpreter's venv first.
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        head_env = {"RAY_USAGE_STATS_ENABLED": "0", "PATH": path, **self.client_env, **(env or {})}
        super().__init__(self.temp_dir / "ray-start.log", head_env)

    @property
    def client_env(self) -> dict[str, str]:
        """What a client needs in its environment to reach this cluster."""
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}

    @property
    def address(self) -> str:
        """GCS address for ``ray.init(address=...)`` and ``ray start --address``."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def dashboard_url(self) -> str:
        """Job server address for ``ray job submit --address`` (or ``RAY_ADDRESS``)."""
        return f"http://{LOOPBACK}:{self.dashboard_port}"

    def ready_url(self) -> str:
        return f"{self.dashboard_url}/api/version"

    def _ready_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def command(self) -> list[str]:
        return [
            ray_executable(),
            "start",
            "--head",
            "--block",
            f"--node-ip-address={LOOPBACK}",
            f"--port={self.port}",
            f"--dashboard-host={LOOPBACK}",
            f"--dashboard-port={self.dashboard_port}",
            f"--num-cpus={self.num_cpus}",
            f"--num-gpus={self.num_gpus}",
            f"--temp-dir={self.temp_dir}",
            "--disable-usage-stats",
        ]

    def stop(self, grace_s: float = 5.0) -> None:
        """Ray drains for up to 30 s on SIGTERM; tests do not need that, so the grace is short."""
        super().stop(grace_s)
