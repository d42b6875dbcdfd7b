"""ManagedServer's lifecycle: ready on HTTP 200, and nothing of the process group survives stop()."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from launch.process import ManagedServer, ServerStartError, free_port, live_group_members


class HttpServerWithChild(ManagedServer):
    """A shell that leaves a background child and runs a real HTTP server: a server with helpers, in small."""

    name = "test server"

    def __init__(self, log_path: Path, port: int) -> None:
        super().__init__(log_path)
        self.port = port

    def command(self) -> list[str]:
        return ["bash", "-c", f"sleep 300 & exec {sys.executable} -m http.server --bind 127.0.0.1 {self.port}"]

    def ready_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


def group_exists(pgid: int) -> bool:
    return bool(live_group_members(pgid))


def test_stop_ends_server_and_its_children(tmp_path: Path) -> None:
    server = HttpServerWithChild(tmp_path / "server.log", free_port()).start(timeout_s=60)
    pgid = server.process.pid
    assert server.running and group_exists(pgid)
    server.stop()
    assert not server.running
    assert not group_exists(pgid)


def test_context_manager_stops_on_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with HttpServerWithChild(tmp_path / "server.log", free_port()) as server:
            pgid = server.process.pid
            raise RuntimeError("boom")
    assert not group_exists(pgid)


def test_start_times_out_and_cleans_up(tmp_path: Path) -> None:
    class NeverReady(HttpServerWithChild):
        def ready_url(self) -> str:
            return f"http://127.0.0.1:{self.port}/missing-page-gives-404"

    server = NeverReady(tmp_path / "server.log", free_port())
    with pytest.raises(ServerStartError, match="not ready after"):
        server.start(timeout_s=3)
    assert server.process is None


def test_exit_during_start_reports_log_tail(tmp_path: Path) -> None:
    class Crashing(HttpServerWithChild):
        def command(self) -> list[str]:
            return ["bash", "-c", "echo 'no model weights here' >&2; exit 3"]

    with pytest.raises(ServerStartError, match="(?s)exited with code 3.*no model weights here"):
        Crashing(tmp_path / "server.log", free_port()).start(timeout_s=30)
